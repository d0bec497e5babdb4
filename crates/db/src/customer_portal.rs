//! What the customer portal reads beyond the entitlement view: the details of a vendor's tags
//! (kind, platforms, size, push time, annotations) in one query for many repositories, which
//! of a customer's tokens are service tokens, and a customer's own pull history.
//!
//! Owns the SQL only. Which tags a customer may see is never decided here: the caller passes
//! the repositories the entitlement view lists, and keeps only the tags it allows.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::{DbError, PgPool};

/// A tag of a repository with what a customer needs to choose and pull it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagDetail {
    /// The repository.
    pub repository: String,
    /// The tag.
    pub tag: String,
    /// The manifest it points at.
    pub digest: String,
    /// The manifest's media type (an image manifest or an index).
    pub media_type: String,
    /// `artifactType`, else the config's media type.
    pub artifact_type: Option<String>,
    /// What pulling it downloads, in bytes: the manifest, an index's child manifests, and
    /// their configs and layers, each distinct blob once (non-distributable layers hosted
    /// elsewhere are not counted), as `/api/v1/repositories/{name}/tags` counts it.
    pub size: i64,
    /// When the tag was set to this digest.
    pub pushed_at: OffsetDateTime,
    /// An index's platforms (`os/arch[/variant]`), in order.
    pub platforms: Vec<String>,
    /// `org.opencontainers.image.title`, if the manifest carries it.
    pub title: Option<String>,
    /// `org.opencontainers.image.description`, if the manifest carries it.
    pub description: Option<String>,
}

/// The tags `(repositories[i], tags[i])` of organization `org_id` (one page of what a
/// customer may pull), by repository then tag, in one query (a page asks once, never per
/// repository or per tag); pairs that do not exist are left out.
pub async fn tag_details(
    pool: &PgPool,
    org_id: Uuid,
    repositories: &[String],
    tags: &[String],
) -> Result<Vec<TagDetail>, DbError> {
    Ok(sqlx::query_as!(
        TagDetail,
        r#"select r.name as repository, t.name as tag, t.digest, m.media_type, m.artifact_type,
                  (m.size
                   + coalesce((select sum(c.size) from manifest_children c
                               where c.repository_id = m.repository_id
                                 and c.index_digest = m.digest), 0)
                   + coalesce((select sum(d.size) from (
                                   select distinct b.digest, b.size from manifest_blobs b
                                   where b.repository_id = m.repository_id and not b.external
                                     and (b.manifest_digest = m.digest
                                          or b.manifest_digest in (
                                              select c.child_digest from manifest_children c
                                              where c.repository_id = m.repository_id
                                                and c.index_digest = m.digest))) d), 0)
                  )::bigint as "size!",
                  t.pushed_at,
                  coalesce((select array_agg(concat_ws('/', c.platform_os, c.platform_arch,
                                                       c.platform_variant) order by c.position)
                            from manifest_children c
                            where c.repository_id = m.repository_id and c.index_digest = m.digest
                              and c.platform_os is not null), '{}') as "platforms!",
                  m.annotations ->> 'org.opencontainers.image.title' as title,
                  m.annotations ->> 'org.opencontainers.image.description' as description
           from unnest($2::text[], $3::text[]) as wanted (repository, tag)
           join repositories r on r.name = wanted.repository and r.organization_id = $1
           join tags t on t.repository_id = r.id and t.name = wanted.tag
           join manifests m on m.repository_id = t.repository_id and m.digest = t.digest
           order by r.name collate "C", t.name collate "C""#,
        org_id,
        repositories,
        tags,
    )
    .fetch_all(pool)
    .await?)
}

/// A manifest that refers to another (a signature, an SBOM, an attestation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referrer {
    /// The repository.
    pub repository: String,
    /// The manifest it refers to.
    pub subject: String,
    /// Its digest.
    pub digest: String,
    /// Its `artifactType` (else its config's media type).
    pub artifact_type: Option<String>,
}

/// The referrers of the manifests `(repositories[i], subjects[i])` of organization
/// `org_id`, in one query. Whether the caller may see each is the entitlement view's to say.
pub async fn referrers(
    pool: &PgPool,
    org_id: Uuid,
    repositories: &[String],
    subjects: &[String],
) -> Result<Vec<Referrer>, DbError> {
    Ok(sqlx::query_as!(
        Referrer,
        r#"select r.name as repository, m.subject_digest as "subject!", m.digest, m.artifact_type
           from unnest($2::text[], $3::text[]) as wanted (repository, subject)
           join repositories r on r.name = wanted.repository and r.organization_id = $1
           join manifests m on m.repository_id = r.id and m.subject_digest = wanted.subject
           order by r.name, m.subject_digest, m.digest"#,
        org_id,
        repositories,
        subjects,
    )
    .fetch_all(pool)
    .await?)
}

/// Marks token `token_id` of customer `customer_id` as a service token (owned by the
/// customer, kept when its creator leaves).
pub async fn mark_service_token(
    pool: &PgPool,
    customer_id: Uuid,
    token_id: Uuid,
) -> Result<(), DbError> {
    sqlx::query!(
        "insert into customer_service_tokens (token_id, customer_id) values ($1, $2)
         on conflict do nothing",
        token_id,
        customer_id,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// The service tokens of customer `customer_id`.
pub async fn service_tokens(pool: &PgPool, customer_id: Uuid) -> Result<Vec<Uuid>, DbError> {
    Ok(sqlx::query_scalar!(
        "select token_id from customer_service_tokens where customer_id = $1",
        customer_id,
    )
    .fetch_all(pool)
    .await?)
}

/// A pull of the customer's, as its Downloads page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerPull {
    /// When.
    pub at: OffsetDateTime,
    /// The repository.
    pub repository: String,
    /// The reference as requested.
    pub reference: String,
    /// The digest it resolved to.
    pub digest: String,
    /// The tag requested, or the tags pointing at the digest when it was pulled by digest
    /// (docker asks for a tag with `HEAD`, then `GET`s the digest).
    pub tags: Vec<String>,
    /// The token's name then.
    pub token_name: Option<String>,
    /// The token's prefix.
    pub token_prefix: Option<String>,
    /// The client's kind (docker, containerd, podman, helm, oras, other).
    pub client_kind: String,
}

/// The latest `limit` pulls of customer `customer_id` of organization `org_id` (an index's
/// child manifests are counted with the index, not apart), newest first.
pub async fn customer_pulls(
    pool: &PgPool,
    org_id: Uuid,
    customer_id: Uuid,
    limit: i64,
) -> Result<Vec<CustomerPull>, DbError> {
    Ok(sqlx::query_as!(
        CustomerPull,
        "select at, repository, reference, digest, tags, token_name, token_prefix, client_kind
         from pull_events
         where organization_id = $1 and customer_id = $2 and parent_id is null
         order by at desc limit $3",
        org_id,
        customer_id,
        limit,
    )
    .fetch_all(pool)
    .await?)
}

/// What [`set_user_role`] and [`remove_user`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TeamChange {
    /// Done; for a removal, the personal tokens of the user that were revoked with it.
    Done {
        /// The user's role before.
        before: String,
        /// Tokens revoked.
        revoked: Vec<Uuid>,
    },
    /// The user is not a user of this customer (of this organization).
    NotFound,
    /// The user is the customer's last admin: it must keep one.
    LastAdmin,
}

/// Locks customer `customer_id` of `org_id` for a change of its users and reads `user_id`'s
/// role and whether another admin exists; `None` when the user is not a user of it.
async fn lock_team(
    tx: &mut sqlx::PgConnection,
    org_id: Uuid,
    customer_id: Uuid,
    user_id: Uuid,
) -> Result<Option<(String, bool)>, DbError> {
    let locked = sqlx::query_scalar!(
        "select id from customers where organization_id = $1 and id = $2 for update",
        org_id,
        customer_id,
    )
    .fetch_optional(&mut *tx)
    .await?;
    if locked.is_none() {
        return Ok(None);
    }
    let row = sqlx::query!(
        r#"select role,
                  exists (select 1 from customer_users o
                          where o.customer_id = $1 and o.role = 'admin' and o.user_id <> $2)
                      as "other_admin!"
           from customer_users where customer_id = $1 and user_id = $2"#,
        customer_id,
        user_id,
    )
    .fetch_optional(&mut *tx)
    .await?;
    Ok(row.map(|r| (r.role, r.other_admin)))
}

/// Gives `user_id` the role `role` (`admin` or `member`) in customer `customer_id` of
/// `org_id`; the last admin cannot become a member.
pub async fn set_user_role(
    pool: &PgPool,
    org_id: Uuid,
    customer_id: Uuid,
    user_id: Uuid,
    role: &str,
) -> Result<TeamChange, DbError> {
    let mut tx = pool.begin().await?;
    let Some((before, other_admin)) = lock_team(&mut tx, org_id, customer_id, user_id).await?
    else {
        return Ok(TeamChange::NotFound);
    };
    if before == "admin" && role != "admin" && !other_admin {
        return Ok(TeamChange::LastAdmin);
    }
    sqlx::query!(
        "update customer_users set role = $3 where customer_id = $1 and user_id = $2",
        customer_id,
        user_id,
        role,
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(TeamChange::Done { before, revoked: Vec::new() })
}

/// Removes `user_id` from customer `customer_id` of `org_id` and revokes the personal
/// tokens they created for it (service tokens stay); the last admin cannot be removed.
pub async fn remove_user(
    pool: &PgPool,
    org_id: Uuid,
    customer_id: Uuid,
    user_id: Uuid,
) -> Result<TeamChange, DbError> {
    let mut tx = pool.begin().await?;
    let Some((before, other_admin)) = lock_team(&mut tx, org_id, customer_id, user_id).await?
    else {
        return Ok(TeamChange::NotFound);
    };
    if before == "admin" && !other_admin {
        return Ok(TeamChange::LastAdmin);
    }
    sqlx::query!(
        "delete from customer_users where customer_id = $1 and user_id = $2",
        customer_id,
        user_id,
    )
    .execute(&mut *tx)
    .await?;
    let revoked = sqlx::query_scalar!(
        "update access_tokens set revoked_at = now()
         where organization_id = $1 and customer_id = $2 and created_by = $3
           and revoked_at is null
           and id not in (select token_id from customer_service_tokens where customer_id = $2)
         returning id",
        org_id,
        customer_id,
        user_id,
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(TeamChange::Done { before, revoked })
}
