//! The customer's home (`/customer/{slug}/{id}`): the vendor's welcome text (sanitized
//! Markdown), the command to log in to the registry, and the customer's licenses with their
//! validity and, in plain words, what each grants; a notice for a license that has expired
//! or expires within 30 days, saying what its expiry policy keeps.

use askama::Template;
use axum::{
    extract::{Path, State},
    response::Response,
};
use time::{Duration, OffsetDateTime};
use wharf_db::licenses::{self, LicenseRecord};
use wharf_entitlements::{ExpiryPolicy, GrantSpec, TagSelectorSpec};

use super::{super::branding::BrandView, CustomerScope};
use crate::{
    Portal,
    error::PageError,
    pages::{account::when, page},
    shell::Shell,
    visitor::Visitor,
};

/// A license as the home lists it.
struct LicenseView {
    name: String,
    validity: String,
    state: &'static str,
    grants: Vec<String>,
    /// An expiry notice, when it has expired or expires within 30 days.
    notice: Option<String>,
    notice_expired: bool,
}

#[derive(Template)]
#[template(path = "customer/home.html")]
struct HomePage {
    shell: Shell,
    brand: BrandView,
    customer_name: String,
    vendor_name: String,
    welcome: String,
    login_command: String,
    licenses: Vec<LicenseView>,
    artifacts: String,
    tokens: String,
}

/// `GET /customer/{slug}/{customer_id}`.
pub(crate) async fn home_get(
    State(portal): State<Portal>,
    Path((slug, customer_id)): Path<(String, String)>,
    visitor: Visitor,
) -> Result<Response, PageError> {
    let scope = CustomerScope::enter(&portal, visitor, &slug, &customer_id).await?;
    let now = OffsetDateTime::now_utc();
    let records =
        licenses::list_for_customer(&portal.app.pool, scope.org_id(), scope.customer_id()).await?;
    let m = &scope.membership;
    page(&HomePage {
        shell: scope.shell(m.customer_name.clone(), "").await?,
        brand: scope.brand(),
        customer_name: m.customer_name.clone(),
        vendor_name: m.organization_name.clone(),
        welcome: scope.branding.welcome_html(),
        login_command: login_command(&scope.registry_host(&portal), scope.login_name()),
        licenses: records.iter().map(|l| license_view(l, now)).collect(),
        artifacts: scope.path("/artifacts"),
        tokens: scope.path("/tokens"),
    })
}

/// `docker login` reading the token from `$WHARF_TOKEN`.
pub fn login_command(host: &str, login: &str) -> String {
    format!("echo \"$WHARF_TOKEN\" | docker login {host} -u {} --password-stdin", shell_word(login))
}

/// `word` quoted for a POSIX shell when it needs it (single quotes; `'` as `'\''`).
pub fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word.bytes().all(|b| b.is_ascii_alphanumeric() || b"@%+=:,./_-".contains(&b));
    if plain { word.to_owned() } else { format!("'{}'", word.replace('\'', r"'\''")) }
}

fn date(at: OffsetDateTime) -> String {
    when(at).get(..10).unwrap_or_default().to_owned()
}

fn license_view(license: &LicenseRecord, now: OffsetDateTime) -> LicenseView {
    let validity = match license.expires_at {
        Some(end) => format!("from {} until {}", date(license.starts_at), date(end)),
        None => format!("from {}, no end date", date(license.starts_at)),
    };
    let expired = license.expires_at.is_some_and(|end| end <= now);
    let state = if license.suspended {
        "suspended"
    } else if license.starts_at > now {
        "not started"
    } else if expired {
        "expired"
    } else {
        "active"
    };
    let keeps = |end: OffsetDateTime| match license.on_expiry {
        ExpiryPolicy::KeepReleased => {
            format!(
                "you keep the versions released before {}; newer ones are not included",
                date(end)
            )
        }
        ExpiryPolicy::Revoke => "you can no longer pull anything it grants".to_owned(),
    };
    let notice = license.expires_at.and_then(|end| {
        if end <= now {
            Some(format!("This license expired on {}: {}.", date(end), keeps(end)))
        } else if end - now <= Duration::days(30) {
            let days = (end - now).whole_days();
            let in_days = match days {
                0 => "today".to_owned(),
                1 => "tomorrow".to_owned(),
                n => format!("in {n} days"),
            };
            Some(format!("This license expires {in_days} ({}). Then {}.", date(end), keeps(end)))
        } else {
            None
        }
    });
    LicenseView {
        name: license.name.clone(),
        validity,
        state,
        grants: license.grants.iter().map(|g| describe_grant(&g.to_spec())).collect(),
        notice,
        notice_expired: expired,
    }
}

/// What a grant allows, in plain words: `acme/app: versions 1.x (semver >=1.0.0 <2.0.0),
/// released before 2027-01-01`.
pub fn describe_grant(grant: &GrantSpec) -> String {
    let repository = match grant.repository.strip_suffix("/*") {
        Some(prefix) => format!("every repository under {prefix}/"),
        None => grant.repository.clone(),
    };
    let tags = match &grant.tags {
        TagSelectorSpec::All => "every version".to_owned(),
        TagSelectorSpec::Exact { values } => format!("the tags {}", values.join(", ")),
        TagSelectorSpec::Glob { pattern } => format!("tags matching {pattern}"),
        TagSelectorSpec::Semver { range, include_prereleases, .. } => {
            let pre = if *include_prereleases { ", pre-releases included" } else { "" };
            format!("versions in the range {range} (semver{pre})")
        }
    };
    let mut text = format!("{repository}: {tags}");
    if let Some(after) = grant.published_after {
        text.push_str(&format!(", released from {}", date(after)));
    }
    if let Some(before) = grant.published_before {
        text.push_str(&format!(", released before {}", date(before)));
    }
    text
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn grants_read_in_plain_words() {
        let grant = GrantSpec {
            repository: "acme/app".into(),
            tags: TagSelectorSpec::Semver {
                range: ">=1.0.0 <2.0.0".into(),
                allow_v_prefix: false,
                include_prereleases: false,
            },
            published_after: None,
            published_before: Some(datetime!(2027-01-01 0:00 UTC)),
        };
        assert_eq!(
            describe_grant(&grant),
            "acme/app: versions in the range >=1.0.0 <2.0.0 (semver), released before 2027-01-01"
        );
        let all = GrantSpec {
            repository: "acme/charts/*".into(),
            tags: TagSelectorSpec::All,
            published_after: None,
            published_before: None,
        };
        assert_eq!(describe_grant(&all), "every repository under acme/charts/: every version");
    }

    #[test]
    fn shell_words_are_quoted_when_needed() {
        assert_eq!(shell_word("ann@example.com"), "ann@example.com");
        assert_eq!(shell_word("o'neil@x.com"), r"'o'\''neil@x.com'");
        assert_eq!(shell_word("a$b"), "'a$b'");
    }
}
