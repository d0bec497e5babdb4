//! The customer's own pull history (`/customer/{slug}/{id}/downloads`), when the vendor
//! allows it (a branding setting; otherwise the page does not exist): what was pulled, when,
//! with which token and which client, newest first, the latest [`LIMIT`].

use askama::Template;
use axum::{
    extract::{Path, State},
    response::Response,
};
use wharf_db::customer_portal;

use super::{super::branding::BrandView, CustomerScope};
use crate::{
    Portal,
    error::PageError,
    pages::{account::when, page},
    shell::Shell,
    visitor::Visitor,
};

/// How many pulls the page lists.
pub const LIMIT: i64 = 100;

/// A pull.
struct PullRow {
    at: String,
    artifact: String,
    digest: String,
    token: String,
    client: String,
}

#[derive(Template)]
#[template(path = "customer/downloads.html")]
struct DownloadsPage {
    shell: Shell,
    brand: BrandView,
    rows: Vec<PullRow>,
    limit: i64,
}

/// What was pulled, as a person would name it: `repository:tag`, also when the client asked
/// for the digest (docker does, after a `HEAD` of the tag), by the tags pointing at it then;
/// `repository@digest` when none did.
fn artifact(repository: &str, reference: &str, tags: &[String]) -> String {
    if !reference.starts_with("sha256:") {
        return format!("{repository}:{reference}");
    }
    match tags {
        [] => format!("{repository}@{reference}"),
        tags => format!("{repository}:{}", tags.join(", ")),
    }
}

/// `GET /customer/{slug}/{customer_id}/downloads`.
pub(crate) async fn downloads_get(
    State(portal): State<Portal>,
    Path((slug, customer_id)): Path<(String, String)>,
    visitor: Visitor,
) -> Result<Response, PageError> {
    let scope = CustomerScope::enter(&portal, visitor, &slug, &customer_id).await?;
    if !scope.branding.row.show_pull_history {
        return Err(PageError::NotFound);
    }
    let pulls = customer_portal::customer_pulls(
        &portal.app.pool,
        scope.org_id(),
        scope.customer_id(),
        LIMIT,
    )
    .await?;
    let rows = pulls
        .into_iter()
        .map(|p| PullRow {
            at: when(p.at),
            artifact: artifact(&p.repository, &p.reference, &p.tags),
            digest: p.digest.get(..19).unwrap_or(&p.digest).to_owned(),
            token: match (p.token_name, p.token_prefix) {
                (Some(name), Some(prefix)) => format!("{name} ({prefix}…)"),
                (Some(name), None) => name,
                (None, Some(prefix)) => format!("{prefix}…"),
                (None, None) => "unknown".into(),
            },
            client: p.client_kind,
        })
        .collect();
    page(&DownloadsPage {
        shell: scope.shell("Downloads", "/downloads").await?,
        brand: scope.brand(),
        rows,
        limit: LIMIT,
    })
}

#[cfg(test)]
mod tests {
    use super::artifact;

    #[test]
    fn a_pull_by_digest_is_named_by_its_tags() {
        assert_eq!(artifact("acme/app", "1.2.0", &["1.2.0".into()]), "acme/app:1.2.0");
        let digest = "sha256:11412e7953d726ac5219e0b624b6dc3d28343bb80172040e31127086a61fa9c4";
        assert_eq!(
            artifact("acme/app", digest, &["1.2.0".into(), "latest".into()]),
            "acme/app:1.2.0, latest"
        );
        assert_eq!(artifact("acme/app", digest, &[]), format!("acme/app@{digest}"));
    }
}
