//! What a customer can pull now: for each of its vendor's repositories, the entitled tags.
//!
//! Answers from the same cached [`EntitlementView`] the registry answers `/v2` from (the
//! catalog, then each listed repository's [`EntitledSet`](wharf_entitlements::EntitledSet)),
//! so the portal, the API and `docker pull` can never disagree, and a warm view costs one
//! indexed read (the vendor's repository names). Reads only.

use time::OffsetDateTime;
use wharf_db::{PgPool, customers::Customer, registry::repositories};

use crate::credentials::entitlement_view::{EntitlementView, Subject, Unavailable};

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
    view: &EntitlementView,
    customer: &Customer,
    now: OffsetDateTime,
) -> Result<Vec<EntitledRepository>, Unavailable> {
    if customer.disabled {
        return Ok(Vec::new());
    }
    let org_id = customer.organization_id;
    let subject = Subject::Customer { org_id, customer_id: customer.id };
    let names = repositories::list_names(pool, org_id).await.map_err(|err| {
        tracing::error!("listing repositories failed: {err}");
        Unavailable
    })?;
    let listed = view.catalog(subject, &names, now).await?;
    let mut entitled = Vec::with_capacity(listed.len());
    for name in names.into_iter().filter(|name| listed.contains(name)) {
        let set = view.set_for(subject, &name, now).await?;
        let mut tags: Vec<String> = set.visible_tags().map(str::to_owned).collect();
        if tags.is_empty() {
            continue;
        }
        tags.sort_unstable();
        entitled.push(EntitledRepository { name, tags });
    }
    Ok(entitled)
}
