//! What a customer can pull now: for each of its vendor's repositories, the entitled tags.
//!
//! Owns assembling the facts for that question; every decision is `wharf-entitlements`'
//! ([`Decider::visible_tags`], the same rule as the registry's `tags/list`). Only
//! repositories some grant covers (or public ones) are loaded. Reads only.

use time::{Duration, OffsetDateTime};
use wharf_db::{
    DbError, PgPool,
    customers::Customer,
    licenses,
    registry::{facts, repositories},
};
use wharf_entitlements::{Decider, License};

/// A repository with the tags a customer may pull from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntitledRepository {
    /// Full name, `<org-slug>/<path>`.
    pub name: String,
    /// The entitled tags, sorted.
    pub tags: Vec<String>,
}

/// The repositories of `customer`'s vendor from which it can pull at least one tag at `now`,
/// by name, with those tags. A disabled customer can pull nothing.
pub async fn entitled_repositories(
    pool: &PgPool,
    customer: &Customer,
    now: OffsetDateTime,
) -> Result<Vec<EntitledRepository>, DbError> {
    if customer.disabled {
        return Ok(Vec::new());
    }
    let org_id = customer.organization_id;
    let licenses = licenses::entitlements_of(pool, org_id, customer.id).await?;
    // Tags only: the re-tag grace window is about digests, so it does not matter here.
    let decider = Decider::new(&licenses, now, Duration::ZERO);
    let mut entitled = Vec::new();
    for repository in repositories::list(pool, org_id).await? {
        let covered = repository.public
            || licenses
                .iter()
                .flat_map(License::grants)
                .any(|grant| grant.covers_repository(&repository.name));
        if !covered {
            continue;
        }
        let Some(loaded) = facts::load(pool, &repository.name, now).await? else { continue };
        if loaded.organization_id != org_id {
            continue;
        }
        let mut tags: Vec<String> =
            decider.visible_tags(&loaded.facts).into_iter().map(str::to_owned).collect();
        if tags.is_empty() {
            continue;
        }
        tags.sort_unstable();
        entitled.push(EntitledRepository { name: repository.name, tags });
    }
    Ok(entitled)
}
