//! "Why can't I pull X?" (`/customer/{slug}/{id}/why?reference=acme/app:2.1.0`): whether
//! the customer may pull a reference (a tag or a digest) and which license and grant allow
//! it, or — only for a repository the customer can already see — why not, from the same
//! cached entitlement view (its [`Decision`]s) the registry decides with.
//!
//! A repository the customer cannot see (another vendor's, an unlicensed one, one that does
//! not exist) gets one answer, the same for all: it reveals nothing of the vendor's other
//! artifacts or of other customers.

use askama::Template;
use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::Response,
};
use serde::Deserialize;
use time::OffsetDateTime;
use uuid::Uuid;
use wharf_app::credentials::entitlement_view::Subject;
use wharf_db::licenses::{self, LicenseRecord};
use wharf_entitlements::{AllowReason, Decision, DenyReason, GrantRef, LicenseId};

use super::{super::branding::BrandView, CustomerScope, home::describe_grant};
use crate::{
    Portal,
    error::PageError,
    pages::{account::when, page_with},
    shell::{Field, Shell},
    visitor::Visitor,
};

/// `?reference=`.
#[derive(Debug, Deserialize, Default)]
pub(crate) struct WhyQuery {
    #[serde(default)]
    reference: String,
}

/// The answer.
struct Answer {
    allowed: bool,
    text: String,
}

#[derive(Template)]
#[template(path = "customer/why.html")]
struct WhyPage {
    shell: Shell,
    brand: BrandView,
    action: String,
    reference: Field,
    answer: Option<Answer>,
}

/// What is asked about: a repository and a tag or a digest.
#[derive(Debug, PartialEq, Eq)]
pub enum Reference<'a> {
    /// `repository:tag`.
    Tag(&'a str, &'a str),
    /// `repository@sha256:…`.
    Digest(&'a str, &'a str),
}

/// Reads `acme/app:1.0.0`, `acme/app@sha256:…` (an optional registry host in front is
/// dropped when the first segment has a dot or a colon); `None` when it is neither.
pub fn parse_reference(text: &str) -> Option<Reference<'_>> {
    let text = text.trim();
    let text = match text.split_once('/') {
        Some((first, rest)) if first.contains('.') || first.contains(':') => rest,
        _ => text,
    };
    if let Some((repository, digest)) = text.split_once('@') {
        return (!repository.is_empty() && digest.starts_with("sha256:"))
            .then_some(Reference::Digest(repository, digest));
    }
    let slash = text.rfind('/').map_or(0, |i| i + 1);
    let colon = text[slash..].find(':')? + slash;
    let (repository, tag) = (&text[..colon], &text[colon + 1..]);
    (!repository.is_empty() && !tag.is_empty()).then_some(Reference::Tag(repository, tag))
}

/// `GET /customer/{slug}/{customer_id}/why`.
pub(crate) async fn why_get(
    State(portal): State<Portal>,
    Path((slug, customer_id)): Path<(String, String)>,
    Query(query): Query<WhyQuery>,
    visitor: Visitor,
) -> Result<Response, PageError> {
    let scope = CustomerScope::enter(&portal, visitor, &slug, &customer_id).await?;
    let mut reference = Field::with(query.reference.trim());
    let mut status = StatusCode::OK;
    let answer = if query.reference.trim().is_empty() {
        None
    } else {
        match parse_reference(&query.reference) {
            None => {
                reference.fail("Write a reference like acme/app:1.0.0 or acme/app@sha256:….");
                status = StatusCode::UNPROCESSABLE_ENTITY;
                None
            }
            Some(parsed) => Some(explain(&portal, &scope, parsed).await?),
        }
    };
    let page = WhyPage {
        shell: scope.shell("Why can't I pull it?", "/why").await?,
        brand: scope.brand(),
        action: scope.path("/why"),
        reference,
        answer,
    };
    page_with(status, &page)
}

async fn explain(
    portal: &Portal,
    scope: &CustomerScope,
    reference: Reference<'_>,
) -> Result<Answer, PageError> {
    let (repository, what) = match reference {
        Reference::Tag(r, t) => (r, format!("{r}:{t}")),
        Reference::Digest(r, d) => (r, format!("{r}@{d}")),
    };
    let unseen = Answer {
        allowed: false,
        text: format!(
            "You cannot pull {what}: there is no repository {repository} that you can see. \
             Check the name against the Artifacts page."
        ),
    };
    let own = repository
        .strip_prefix(scope.membership.organization_slug.as_str())
        .is_some_and(|rest| rest.starts_with('/'));
    let customer = wharf_db::customers::get(&portal.app.pool, scope.org_id(), scope.customer_id())
        .await?
        .ok_or(PageError::NotFound)?;
    if !own || customer.disabled {
        return Ok(unseen);
    }
    let subject = Subject::Customer { org_id: scope.org_id(), customer_id: scope.customer_id() };
    let now = OffsetDateTime::now_utc();
    let set = portal
        .app
        .credentials
        .entitlements()
        .set_for(subject, repository, now)
        .await
        .map_err(|_| PageError::Unavailable)?;
    if !set.is_listed() {
        return Ok(unseen);
    }
    let decision = match reference {
        Reference::Tag(_, tag) => set.manifest_by_tag(tag),
        Reference::Digest(_, digest) => set.manifest_by_digest(digest),
    };
    let records =
        licenses::list_for_customer(&portal.app.pool, scope.org_id(), scope.customer_id()).await?;
    Ok(answer(&what, &decision, &records))
}

fn license_of(records: &[LicenseRecord], id: LicenseId) -> Option<&LicenseRecord> {
    let id = Uuid::from_u128(id.0);
    records.iter().find(|r| r.id == id)
}

fn grant_text(records: &[LicenseRecord], grant: &GrantRef) -> String {
    match license_of(records, grant.license) {
        Some(license) => {
            let what = license
                .grants
                .get(grant.grant)
                .map(|g| describe_grant(&g.to_spec()))
                .unwrap_or_default();
            let kept = if grant.kept_release { ", kept after it expired" } else { "" };
            format!("your license “{}” ({what}){kept}", license.name)
        }
        None => "one of your licenses".to_owned(),
    }
}

fn license_name(records: &[LicenseRecord], id: LicenseId) -> String {
    license_of(records, id)
        .map_or_else(|| "your license".into(), |l| format!("your license “{}”", l.name))
}

/// The answer for `what` from `decision`, in plain words.
fn answer(what: &str, decision: &Decision, records: &[LicenseRecord]) -> Answer {
    let text = match decision {
        Decision::Allowed(reason) => {
            let why = match reason {
                AllowReason::Public => "the repository is public".to_owned(),
                AllowReason::Granted { grant }
                | AllowReason::Tagged { grant, .. }
                | AllowReason::RecentlyTagged { grant, .. } => grant_text(records, grant),
                AllowReason::IndexChild { .. } => "it is part of a multi-platform image you may pull".into(),
                AllowReason::Referrer { .. } => "it refers to (signs or describes) a version you may pull".into(),
                AllowReason::ReferencedBy { .. } | AllowReason::Vendor => "your licenses".into(),
            };
            return Answer { allowed: true, text: format!("Yes, you can pull {what}: {why} allows it.") };
        }
        Decision::Denied(reason) => match reason {
            DenyReason::NoGrantForRepository => "none of your licenses covers this repository".to_owned(),
            DenyReason::TagNotSelected => {
                "your licenses cover this repository, but not this version; see what they grant on your home page".to_owned()
            }
            DenyReason::PublishedOutsideWindow => {
                "it was released outside the dates your license covers".to_owned()
            }
            DenyReason::LicenseSuspended { license } => {
                format!("{} is suspended; ask your vendor", license_name(records, *license))
            }
            DenyReason::LicenseNotStarted { license } => {
                let starts = license_of(records, *license).map(|l| when(l.starts_at)).unwrap_or_default();
                format!("{} has not started yet (it starts {starts})", license_name(records, *license))
            }
            DenyReason::LicenseExpired { license } => {
                format!("{} has expired", license_name(records, *license))
            }
            DenyReason::PushedAfterExpiry { license } => {
                let end = license_of(records, *license)
                    .and_then(|l| l.expires_at)
                    .map(when)
                    .unwrap_or_default();
                format!(
                    "it was released after {} expired ({end}); you keep only the versions released before",
                    license_name(records, *license)
                )
            }
            DenyReason::UnknownTag => "this repository has no such tag".to_owned(),
            DenyReason::ManifestNotEntitled | DenyReason::BlobNotEntitled => {
                "no version you may pull has this digest".to_owned()
            }
        },
    };
    Answer { allowed: false, text: format!("You cannot pull {what}: {text}.") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_read_with_or_without_a_host() {
        assert_eq!(parse_reference("acme/app:1.0.0"), Some(Reference::Tag("acme/app", "1.0.0")));
        assert_eq!(
            parse_reference("wharf.example.com:5000/acme/app:2.1.0"),
            Some(Reference::Tag("acme/app", "2.1.0"))
        );
        assert_eq!(
            parse_reference("acme/app@sha256:abc"),
            Some(Reference::Digest("acme/app", "sha256:abc"))
        );
        assert_eq!(parse_reference("acme/app"), None);
        assert_eq!(parse_reference(":1.0"), None);
        assert_eq!(parse_reference("acme/app@md5:x"), None);
    }
}
