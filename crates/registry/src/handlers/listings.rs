//! Listings: `tags/list`, `_catalog` and the referrers index.
//!
//! Every listing is filtered through [`Access`](crate::access::Access) before it is paged or
//! built, so pages and indexes never reveal what the caller may not see. Referrers of an
//! unknown digest (or repository) are an empty index, never 404.

use std::collections::BTreeMap;

use axum::response::Response;
use http::{StatusCode, header};
use wharf_db::registry::{manifests, repositories, tags};

use super::{Ctx, bytes_response, header_value, json_response, unavailable};
use crate::access::Operation;
use crate::digest::Digest;
use crate::error::{ErrorCode, OciError};
use crate::headers::OCI_FILTERS_APPLIED;
use crate::name::{RepositoryName, Tag};
use crate::paging::{PageQuery, catalog_body, paginate, tags_body};
use crate::referrers::{
    ARTIFACT_TYPE_FILTER, REFERRERS_CONTENT_TYPE, Referrer, artifact_type_filter, build_referrers,
};
use crate::route::Route;

/// `GET /v2/<name>/tags/list[?n=&last=]`.
pub(super) async fn tags(cx: &Ctx<'_>, name: &RepositoryName) -> Result<Response, OciError> {
    let access = cx.authorize(Some(name), &[Operation::Pull]).await?;
    let query = PageQuery::from_query(cx.query)?;
    // A repository the caller may not see answers exactly like one that does not exist.
    let unknown = || OciError::new(ErrorCode::NameUnknown);
    if !access.can_see_repository(name) {
        return Err(unknown());
    }
    let repo = cx.repository(name).await?.ok_or_else(unknown)?;
    let all = tags::list(cx.pool(), repo.id).await.map_err(unavailable)?;
    let visible: Vec<String> = all
        .into_iter()
        .filter(|t| Tag::parse(t).is_ok_and(|tag| access.can_see_tag(&tag)))
        .collect();
    let path = Route::Tags { name: name.clone() }.path();
    let page = paginate(&visible, &query, cx.config().max_page_size, &path);
    Ok(paged(tags_body(name, page.items), page.link))
}

/// `GET /v2/_catalog[?n=&last=]`: the repositories of the caller's organization.
pub(super) async fn catalog(cx: &Ctx<'_>) -> Result<Response, OciError> {
    let access = cx.authorize(None, &[Operation::Pull]).await?;
    let query = PageQuery::from_query(cx.query)?;
    let all = match access.organization_id {
        Some(org) => repositories::list_names(cx.pool(), org).await.map_err(unavailable)?,
        None => Vec::new(),
    };
    let visible: Vec<String> = all
        .into_iter()
        .filter(|n| RepositoryName::parse(n).is_ok_and(|name| access.can_see_repository(&name)))
        .collect();
    let page = paginate(&visible, &query, cx.config().max_page_size, &Route::Catalog.path());
    Ok(paged(catalog_body(page.items), page.link))
}

fn paged(body: Vec<u8>, link: Option<String>) -> Response {
    let mut response = json_response(StatusCode::OK, body, false);
    if let Some(link) = link {
        response.headers_mut().insert(header::LINK, header_value(&link));
    }
    response
}

/// `GET /v2/<name>/referrers/<digest>[?artifactType=]`.
pub(super) async fn referrers(
    cx: &Ctx<'_>,
    name: &RepositoryName,
    subject: &Digest,
) -> Result<Response, OciError> {
    let access = cx.authorize(Some(name), &[Operation::Pull]).await?;
    // A hidden subject has no referrers, like an unknown one: listing them would reveal it.
    let repo = match access.can_see_manifest(subject) {
        true => cx.repository(name).await?,
        false => None,
    };
    let rows = match repo {
        Some(repo) => {
            manifests::referrers(cx.pool(), repo.id, subject.as_str()).await.map_err(unavailable)?
        }
        None => Vec::new(),
    };
    let visible: Vec<Referrer> = rows
        .into_iter()
        .filter_map(|row| {
            let digest = Digest::parse(&row.digest).ok()?;
            access.can_see_manifest(&digest).then(|| Referrer {
                media_type: row.media_type,
                digest,
                size: u64::try_from(row.size).unwrap_or(0),
                artifact_type: row.artifact_type,
                annotations: annotations(row.annotations),
            })
        })
        .collect();
    let filter = artifact_type_filter(cx.query);
    let built = build_referrers(&visible, filter.as_deref());
    let mut response = bytes_response(StatusCode::OK, REFERRERS_CONTENT_TYPE, built.body, false);
    if built.filter_applied {
        response
            .headers_mut()
            .insert(OCI_FILTERS_APPLIED, http::HeaderValue::from_static(ARTIFACT_TYPE_FILTER));
    }
    Ok(response)
}

fn annotations(value: serde_json::Value) -> BTreeMap<String, String> {
    match value {
        serde_json::Value::Object(map) => map
            .into_iter()
            .filter_map(|(k, v)| match v {
                serde_json::Value::String(s) => Some((k, s)),
                _ => None,
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}
