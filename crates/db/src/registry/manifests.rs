//! Manifests, stored exactly as pushed, and their graph: config and layer blobs
//! (`manifest_blobs`), index children (`manifest_children`) and `subject` (for referrers).
//!
//! Owns the `manifests`, `manifest_blobs` and `manifest_children` tables, and the one
//! transaction of a manifest push ([`put`]): check the references, insert the manifest and
//! its graph, move the tag. Tag rows and history belong to [`super::tags`]; a push moves them
//! only inside that transaction, which is one statement (the `wharf_put_manifest` function).

use std::sync::Arc;

use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    DbError, PgPool,
    held::HeldConnections,
    invalidation::{RepositoryNotifier, send_repository_changes},
};

/// A blob an image manifest references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobReference {
    /// `config` or `layer`.
    pub kind: BlobKind,
    /// The blob's digest.
    pub digest: String,
    /// The descriptor's media type.
    pub media_type: String,
    /// The descriptor's size.
    pub size: i64,
    /// Non-distributable or with `urls`: need not exist in the repository.
    pub external: bool,
}

/// What a referenced blob is to its manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobKind {
    /// The image config.
    Config,
    /// A layer.
    Layer,
}

impl BlobKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Config => "config",
            Self::Layer => "layer",
        }
    }
}

/// A child of an index, with its platform when the index gives one.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChildReference {
    /// The child manifest's digest.
    pub digest: String,
    /// The descriptor's media type.
    pub media_type: String,
    /// The descriptor's size.
    pub size: i64,
    /// `platform.os`.
    pub os: Option<String>,
    /// `platform.architecture`.
    pub architecture: Option<String>,
    /// `platform.variant`.
    pub variant: Option<String>,
}

/// A validated manifest to store.
#[derive(Debug, Clone)]
pub struct NewManifest<'a> {
    /// Digest of `bytes`.
    pub digest: &'a str,
    /// The effective media type (served as `Content-Type`).
    pub media_type: &'a str,
    /// What the referrers API reports for it.
    pub artifact_type: Option<&'a str>,
    /// The bytes exactly as pushed.
    pub bytes: &'a [u8],
    /// The digest of its `subject`, if any (need not exist).
    pub subject: Option<&'a str>,
    /// Top-level annotations as a JSON object.
    pub annotations: serde_json::Value,
    /// Config and layers, in order (image manifests).
    pub blobs: Vec<BlobReference>,
    /// Children, in order (indexes).
    pub children: Vec<ChildReference>,
}

/// How a push ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutOutcome {
    /// Stored (or already there) and the tag, if any, points at it.
    Stored {
        /// The digest the tag pointed at before, when the push moved it.
        moved_from: Option<String>,
    },
    /// Nothing changed: these referenced blobs (not linked to the repository) or child
    /// manifests (not in the repository) are missing.
    MissingReferences(Vec<String>),
    /// Nothing changed: the repository's tags are immutable and the tag points at this other
    /// digest.
    TagImmutable {
        /// The digest the tag keeps.
        current: String,
    },
}

/// Stores a manifest and moves `tag` to it, in one transaction.
///
/// Checks that every non-external blob is linked to the repository and every child manifest
/// exists in it (never the subject), locking what it found so a concurrent delete cannot slip
/// in before the commit. Pushing a manifest that exists already keeps the stored row. Moving
/// a tag closes its open history entry and opens a new one; re-pushing a tag to the digest it
/// already has changes nothing.
///
/// The whole push is one statement, a call of the `wharf_put_manifest` function (migration
/// `manifest_push`), so it costs one round trip and one commit. When it only added (a new
/// manifest, a new tag), the `repository:<name>` notification is sent after that commit, by
/// a notify-only statement of its own, instead of from inside the push's transaction: a
/// notifying transaction holds Postgres's notification lock until its commit is flushed,
/// which made concurrent pushes commit one at a time (migration
/// `manifest_push_notify_after_commit`). A tag move still notifies inside the transaction.
/// Here the notification is sent before returning; [`put_by_name`] (the registry's path)
/// hands it to a [`RepositoryNotifier`] instead.
pub async fn put(
    pool: &PgPool,
    repository_id: Uuid,
    manifest: &NewManifest<'_>,
    tag: Option<&str>,
) -> Result<PutOutcome, DbError> {
    let mut conn = pool.acquire().await?;
    let outcome = push(&mut conn, Some(repository_id), None, manifest, tag).await?;
    drop(conn);
    if let Some(Pushed { outcome: PutOutcome::Stored { .. }, notify_after_commit: true }) = outcome
    {
        notify_repository_changed(pool, repository_id).await;
    }
    Ok(outcome.ok_or(DbError::Sqlx(sqlx::Error::RowNotFound))?.outcome)
}

/// Like [`put`], into repository `name` of `organization_id`, looked up in the same
/// statement: the registry's push path, which so needs no lookup of its own. `None`, changing
/// nothing, when the organization has no such repository (not created yet, or another
/// organization's). The statement runs on one of `connections` (no test round trip when the
/// connection is handed back, see [`HeldConnections`]), and a push that only added queues
/// its notification on `notifier` and returns without waiting for it: the client's push
/// costs one statement and one round trip.
pub async fn put_by_name(
    connections: &Arc<HeldConnections>,
    notifier: &Arc<RepositoryNotifier>,
    organization_id: Uuid,
    name: &str,
    manifest: &NewManifest<'_>,
    tag: Option<&str>,
) -> Result<Option<PutOutcome>, DbError> {
    let mut conn = connections.acquire().await?;
    let outcome = push(&mut conn, None, Some((organization_id, name)), manifest, tag).await?;
    conn.release();
    Ok(outcome.map(|pushed| {
        if let Pushed { outcome: PutOutcome::Stored { .. }, notify_after_commit: true } = pushed {
            notifier.changed(name);
        }
        pushed.outcome
    }))
}

/// What the push function answered: the outcome, and whether the caller must notify.
struct Pushed {
    outcome: PutOutcome,
    notify_after_commit: bool,
}

async fn push(
    conn: &mut sqlx::PgConnection,
    repository_id: Option<Uuid>,
    by_name: Option<(Uuid, &str)>,
    manifest: &NewManifest<'_>,
    tag: Option<&str>,
) -> Result<Option<Pushed>, DbError> {
    let blobs = &manifest.blobs;
    let kinds: Vec<&str> = blobs.iter().map(|b| b.kind.as_str()).collect();
    let digests: Vec<&str> = blobs.iter().map(|b| b.digest.as_str()).collect();
    let media_types: Vec<&str> = blobs.iter().map(|b| b.media_type.as_str()).collect();
    let sizes: Vec<i64> = blobs.iter().map(|b| b.size).collect();
    let external: Vec<bool> = blobs.iter().map(|b| b.external).collect();
    let children = &manifest.children;
    let child_digests: Vec<&str> = children.iter().map(|c| c.digest.as_str()).collect();
    let child_media_types: Vec<&str> = children.iter().map(|c| c.media_type.as_str()).collect();
    let child_sizes: Vec<i64> = children.iter().map(|c| c.size).collect();
    let os: Vec<Option<&str>> = children.iter().map(|c| c.os.as_deref()).collect();
    let arch: Vec<Option<&str>> = children.iter().map(|c| c.architecture.as_deref()).collect();
    let variant: Vec<Option<&str>> = children.iter().map(|c| c.variant.as_deref()).collect();
    let row = sqlx::query!(
        r#"select status as "status!", missing, moved_from, notify_after_commit
           from wharf_put_manifest($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
                                   $15, $16, $17, $18, $19, $20, $21)"#,
        repository_id,
        by_name.map(|(organization, _)| organization),
        by_name.map(|(_, name)| name),
        manifest.digest,
        manifest.media_type,
        manifest.artifact_type,
        manifest.bytes,
        manifest.subject,
        manifest.annotations,
        &kinds as &[&str],
        &digests as &[&str],
        &media_types as &[&str],
        &sizes,
        &external,
        &child_digests as &[&str],
        &child_media_types as &[&str],
        &child_sizes,
        &os as &[Option<&str>],
        &arch as &[Option<&str>],
        &variant as &[Option<&str>],
        tag,
    )
    .fetch_one(conn)
    .await?;
    let outcome = match row.status.as_str() {
        "stored" => PutOutcome::Stored { moved_from: row.moved_from },
        "immutable" => PutOutcome::TagImmutable { current: row.moved_from.unwrap_or_default() },
        "missing" => {
            let mut missing = row.missing.unwrap_or_default();
            missing.dedup();
            PutOutcome::MissingReferences(missing)
        }
        _ => return Ok(None),
    };
    Ok(Some(Pushed { outcome, notify_after_commit: row.notify_after_commit == Some(true) }))
}

/// Sends `repository:<name>` for repository `id`, after a push by id that committed without
/// notifying (see [`RepositoryNotifier`] for what a lost one costs).
async fn notify_repository_changed(pool: &PgPool, id: Uuid) {
    let name = sqlx::query_scalar!("select name from repositories where id = $1", id)
        .fetch_optional(pool)
        .await;
    match name {
        Ok(Some(name)) => send_repository_changes(pool, &[name]).await,
        Ok(None) => {}
        Err(err) => tracing::warn!(
            repository = %id,
            "a pushed manifest was stored but its notification was not sent: {err}"
        ),
    }
}

/// A stored manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredManifest {
    /// Its digest.
    pub digest: String,
    /// Its media type.
    pub media_type: String,
    /// Its size.
    pub size: i64,
    /// The bytes as pushed (empty when not asked for).
    pub bytes: Vec<u8>,
    /// When it was pushed.
    pub pushed_at: OffsetDateTime,
}

/// How to address a manifest.
#[derive(Debug, Clone, Copy)]
pub enum ManifestRef<'a> {
    /// By tag.
    Tag(&'a str),
    /// By digest.
    Digest(&'a str),
}

/// Finds a manifest by tag or digest, with its bytes when `with_bytes` (HEAD needs none).
pub async fn find(
    pool: &PgPool,
    repository_id: Uuid,
    reference: ManifestRef<'_>,
    with_bytes: bool,
) -> Result<Option<StoredManifest>, DbError> {
    let (tag, digest) = match reference {
        ManifestRef::Tag(t) => (Some(t), None),
        ManifestRef::Digest(d) => (None, Some(d)),
    };
    Ok(sqlx::query_as!(
        StoredManifest,
        r#"select m.digest, m.media_type, m.size,
                  case when $4 then m.bytes else ''::bytea end as "bytes!",
                  m.pushed_at
           from manifests m
           where m.repository_id = $1
             and m.digest = coalesce($3,
                 (select t.digest from tags t where t.repository_id = $1 and t.name = $2))"#,
        repository_id,
        tag,
        digest,
        with_bytes,
    )
    .fetch_optional(pool)
    .await?)
}

/// Like [`find`], addressed by repository name: the pull path's single indexed read.
pub async fn find_by_name(
    pool: &PgPool,
    repository: &str,
    reference: ManifestRef<'_>,
    with_bytes: bool,
) -> Result<Option<StoredManifest>, DbError> {
    let (tag, digest) = match reference {
        ManifestRef::Tag(t) => (Some(t), None),
        ManifestRef::Digest(d) => (None, Some(d)),
    };
    Ok(sqlx::query_as!(
        StoredManifest,
        r#"select m.digest, m.media_type, m.size,
                  case when $4 then m.bytes else ''::bytea end as "bytes!",
                  m.pushed_at
           from repositories r join manifests m on m.repository_id = r.id
           where r.name = $1
             and m.digest = coalesce($3,
                 (select t.digest from tags t where t.repository_id = r.id and t.name = $2))"#,
        repository,
        tag,
        digest,
        with_bytes,
    )
    .fetch_optional(pool)
    .await?)
}

/// Deletes a manifest by digest, with the tags pointing at it (their history is closed, not
/// deleted) and its graph rows. Returns whether it existed.
pub async fn delete(pool: &PgPool, repository_id: Uuid, digest: &str) -> Result<bool, DbError> {
    let mut tx = pool.begin().await?;
    sqlx::query!(
        "update tag_history set valid_until = greatest(valid_from, clock_timestamp())
         where repository_id = $1 and digest = $2 and valid_until is null",
        repository_id,
        digest
    )
    .execute(&mut *tx)
    .await?;
    let done = sqlx::query!(
        "delete from manifests where repository_id = $1 and digest = $2",
        repository_id,
        digest
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(done.rows_affected() == 1)
}

/// A manifest whose `subject` is some digest, as the referrers API lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referrer {
    /// Its digest.
    pub digest: String,
    /// Its media type.
    pub media_type: String,
    /// Its size.
    pub size: i64,
    /// Its artifact type.
    pub artifact_type: Option<String>,
    /// Its top-level annotations (a JSON object).
    pub annotations: serde_json::Value,
}

/// The manifests of a repository whose subject is `subject`, by digest.
pub async fn referrers(
    pool: &PgPool,
    repository_id: Uuid,
    subject: &str,
) -> Result<Vec<Referrer>, DbError> {
    Ok(sqlx::query_as!(
        Referrer,
        r#"select digest, media_type, size, artifact_type, annotations
           from manifests where repository_id = $1 and subject_digest = $2
           order by digest collate "C""#,
        repository_id,
        subject
    )
    .fetch_all(pool)
    .await?)
}

/// A manifest with what the vendor portal shows of it: its own fields, its config and
/// layers, and for an index its children with their platforms.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestView {
    /// Its digest.
    pub digest: String,
    /// Its media type.
    pub media_type: String,
    /// Its artifact type (`artifactType`, else the config's media type).
    pub artifact_type: Option<String>,
    /// Bytes of the manifest itself.
    pub size: i64,
    /// The manifest it refers to (signature, SBOM), if any.
    pub subject_digest: Option<String>,
    /// Its top-level annotations (a JSON object).
    pub annotations: serde_json::Value,
    /// When it was first pushed.
    pub pushed_at: OffsetDateTime,
    /// The tags pointing at it, by name.
    pub tags: Vec<String>,
    /// Its children, in order (an index).
    pub children: Vec<ChildView>,
    /// The config and layers of it and of each child, in order.
    pub blobs: Vec<BlobView>,
}

/// A child of an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildView {
    /// Its digest.
    pub digest: String,
    /// Its media type.
    pub media_type: String,
    /// Its size.
    pub size: i64,
    /// `os/arch[/variant]`, when the index names a platform.
    pub platform: Option<String>,
}

/// A config or layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobView {
    /// The manifest it belongs to.
    pub manifest_digest: String,
    /// `config` or `layer`.
    pub kind: String,
    /// Its digest.
    pub digest: String,
    /// Its media type.
    pub media_type: String,
    /// Its size.
    pub size: i64,
    /// A non-distributable layer (fetched from elsewhere).
    pub external: bool,
}

/// Manifest `digest` of repository `repository_id` as the vendor portal shows it (three
/// reads: the manifest with its tags, its children, the blobs of it and its children).
pub async fn view(
    pool: &PgPool,
    repository_id: Uuid,
    digest: &str,
) -> Result<Option<ManifestView>, DbError> {
    let Some(row) = sqlx::query!(
        r#"select m.digest, m.media_type, m.artifact_type, m.size, m.subject_digest,
                  m.annotations, m.pushed_at,
                  array(select t.name from tags t
                        where t.repository_id = m.repository_id and t.digest = m.digest
                        order by t.name collate "C") as "tags!"
           from manifests m where m.repository_id = $1 and m.digest = $2"#,
        repository_id,
        digest
    )
    .fetch_optional(pool)
    .await?
    else {
        return Ok(None);
    };
    let children = sqlx::query_as!(
        ChildView,
        r#"select child_digest as digest, media_type, size,
                  case when platform_os is null then null
                       else concat_ws('/', platform_os, platform_arch, platform_variant) end
                      as platform
           from manifest_children where repository_id = $1 and index_digest = $2
           order by position"#,
        repository_id,
        digest
    )
    .fetch_all(pool)
    .await?;
    let mut owners: Vec<&str> = vec![digest];
    owners.extend(children.iter().map(|c| c.digest.as_str()));
    let blobs = sqlx::query_as!(
        BlobView,
        r#"select b.manifest_digest, b.kind, b.digest, b.media_type, b.size, b.external
           from unnest($2::text[]) with ordinality as o(d, n)
           join manifest_blobs b on b.repository_id = $1 and b.manifest_digest = o.d
           order by o.n, b.position"#,
        repository_id,
        &owners as &[&str]
    )
    .fetch_all(pool)
    .await?;
    Ok(Some(ManifestView {
        digest: row.digest,
        media_type: row.media_type,
        artifact_type: row.artifact_type,
        size: row.size,
        subject_digest: row.subject_digest,
        annotations: row.annotations,
        pushed_at: row.pushed_at,
        tags: row.tags,
        children,
        blobs,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::repositories::find_or_create;
    use crate::registry::testing::{digest, organization};
    use crate::registry::{blobs, tags};

    fn image<'a>(d: &'a str, bytes: &'a [u8], config: &str, layer: &str) -> NewManifest<'a> {
        NewManifest {
            digest: d,
            media_type: "application/vnd.oci.image.manifest.v1+json",
            artifact_type: Some("application/vnd.oci.image.config.v1+json"),
            bytes,
            subject: None,
            annotations: serde_json::json!({}),
            blobs: vec![
                BlobReference {
                    kind: BlobKind::Config,
                    digest: config.into(),
                    media_type: "application/vnd.oci.image.config.v1+json".into(),
                    size: 2,
                    external: false,
                },
                BlobReference {
                    kind: BlobKind::Layer,
                    digest: layer.into(),
                    media_type: "application/vnd.oci.image.layer.v1.tar".into(),
                    size: 3,
                    external: false,
                },
            ],
            children: vec![],
        }
    }

    async fn count(pool: &PgPool, table: &str) -> i64 {
        sqlx::query_scalar(&format!("select count(*) from {table}")).fetch_one(pool).await.unwrap()
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn missing_blobs_change_nothing(pool: PgPool) {
        let org = organization(&pool, "acme").await;
        let repo = find_or_create(&pool, org, "acme", "acme/app").await.unwrap().unwrap().id;
        let mut conn = pool.acquire().await.unwrap();
        blobs::record(&mut conn, repo, &digest('c'), 2).await.unwrap();
        let m = digest('1');
        let out = put(&pool, repo, &image(&m, b"{}", &digest('c'), &digest('l')), Some("v1"))
            .await
            .unwrap();
        assert_eq!(out, PutOutcome::MissingReferences(vec![digest('l')]));
        for table in ["manifests", "manifest_blobs", "tags", "tag_history"] {
            assert_eq!(count(&pool, table).await, 0, "{table}");
        }
    }

    /// Every push that changes the repository notifies `repository:<name>` once, whether from
    /// inside its transaction (a tag move) or right after it (additions); one that changes
    /// nothing sends nothing.
    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn pushes_notify_once_and_only_when_something_changed(pool: PgPool) {
        use sqlx::postgres::PgListener;
        let org = organization(&pool, "acme").await;
        let repo = find_or_create(&pool, org, "acme", "acme/app").await.unwrap().unwrap().id;
        let mut conn = pool.acquire().await.unwrap();
        for c in ['c', 'l'] {
            blobs::record(&mut conn, repo, &digest(c), 2).await.unwrap();
        }
        drop(conn);
        let mut listener = PgListener::connect_with(&pool).await.unwrap();
        listener.listen("wharf_invalidate").await.unwrap();
        let notifier = RepositoryNotifier::new(pool.clone());
        let held = HeldConnections::new(pool.clone(), 2);
        let (m1, m2) = (digest('1'), digest('2'));
        let one = image(&m1, b"{\"one\":1}", &digest('c'), &digest('l'));
        let two = image(&m2, b"{\"two\":2}", &digest('c'), &digest('l'));
        let stored = PutOutcome::Stored { moved_from: None };
        let moved = PutOutcome::Stored { moved_from: Some(m1.clone()) };
        let steps: [(&str, &NewManifest<'_>, Option<&str>, &PutOutcome, bool); 6] = [
            ("a new manifest by digest", &one, None, &stored, true),
            ("the same again", &one, None, &stored, false),
            ("a new tag on it", &one, Some("v1"), &stored, true),
            ("the same tag again", &one, Some("v1"), &stored, false),
            ("a new manifest moving the tag", &two, Some("v1"), &moved, true),
            ("by name, a new tag", &two, Some("v2"), &stored, true),
        ];
        for (what, manifest, tag, outcome, notifies) in steps {
            let got = if what.starts_with("by name") {
                put_by_name(&held, &notifier, org, "acme/app", manifest, tag)
                    .await
                    .unwrap()
                    .unwrap()
            } else {
                put(&pool, repo, manifest, tag).await.unwrap()
            };
            assert_eq!(&got, outcome, "{what}");
            // The step's notification first, whenever it comes (by name, it is sent by the
            // notifier's task after the push returned); then a marker: whatever else arrives
            // before it is the step's too.
            let mut payloads = Vec::new();
            if notifies {
                payloads.push(listener.recv().await.unwrap().payload().to_owned());
            }
            sqlx::query("select pg_notify('wharf_invalidate', 'marker')")
                .execute(&pool)
                .await
                .unwrap();
            loop {
                let payload = listener.recv().await.unwrap().payload().to_owned();
                if payload == "marker" {
                    break;
                }
                payloads.push(payload);
            }
            let want: &[&str] = if notifies { &["repository:acme/app"] } else { &[] };
            assert_eq!(payloads, want, "{what}");
        }
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn push_moves_tags_and_keeps_history(pool: PgPool) {
        let org = organization(&pool, "acme").await;
        let repo = find_or_create(&pool, org, "acme", "acme/app").await.unwrap().unwrap().id;
        let mut conn = pool.acquire().await.unwrap();
        for c in ['c', 'l'] {
            blobs::record(&mut conn, repo, &digest(c), 2).await.unwrap();
        }
        let (m1, m2) = (digest('1'), digest('2'));
        let one = image(&m1, b"{\"one\":1}", &digest('c'), &digest('l'));
        let two = image(&m2, b"{\"two\":2}", &digest('c'), &digest('l'));
        assert_eq!(
            put(&pool, repo, &one, Some("v1")).await.unwrap(),
            PutOutcome::Stored { moved_from: None }
        );
        assert_eq!(
            put(&pool, repo, &one, Some("v1")).await.unwrap(),
            PutOutcome::Stored { moved_from: None }
        );
        assert_eq!(
            put(&pool, repo, &one, Some("latest")).await.unwrap(),
            PutOutcome::Stored { moved_from: None }
        );
        assert_eq!(
            put(&pool, repo, &two, Some("latest")).await.unwrap(),
            PutOutcome::Stored { moved_from: Some(m1.clone()) },
            "the tag moved"
        );
        assert_eq!(count(&pool, "manifest_blobs").await, 4);

        let got = find(&pool, repo, ManifestRef::Tag("latest"), true).await.unwrap().unwrap();
        assert_eq!((got.digest.as_str(), got.bytes.as_slice()), (m2.as_str(), &b"{\"two\":2}"[..]));
        let by_name = find_by_name(&pool, "acme/app", ManifestRef::Tag("latest"), true);
        assert_eq!(by_name.await.unwrap(), Some(got.clone()));
        assert_eq!(
            find_by_name(&pool, "acme/x", ManifestRef::Tag("latest"), true).await.unwrap(),
            None
        );
        let head = find(&pool, repo, ManifestRef::Digest(&m1), false).await.unwrap().unwrap();
        assert!(head.bytes.is_empty());
        assert_eq!(head.size, 9);
        assert_eq!(find(&pool, repo, ManifestRef::Tag("nope"), true).await.unwrap(), None);

        let history = tags::history(&pool, repo, "latest").await.unwrap();
        assert_eq!(history.len(), 2);
        assert_eq!(history[0].digest, m1);
        assert!(history[0].valid_until.is_some());
        assert_eq!(history[1].digest, m2);
        assert!(history[1].valid_until.is_none());
        assert_eq!(tags::history(&pool, repo, "v1").await.unwrap().len(), 1);

        // Deleting m1 removes tag v1, closes its history, keeps the history rows.
        assert!(delete(&pool, repo, &m1).await.unwrap());
        assert!(!delete(&pool, repo, &m1).await.unwrap());
        assert_eq!(tags::list(&pool, repo).await.unwrap(), ["latest"]);
        let v1 = tags::history(&pool, repo, "v1").await.unwrap();
        assert_eq!(v1.len(), 1);
        assert!(v1[0].valid_until.is_some());
        assert_eq!(count(&pool, "manifest_blobs").await, 2);
    }

    /// A push of a tag that does not exist inserts it without closing any history (the
    /// function relies on every removal having closed it): after a tag delete, and after a
    /// delete of the manifest it pointed at, the same tag pushed again opens a new period
    /// beside the closed one.
    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn tags_removed_and_pushed_again_open_a_new_period(pool: PgPool) {
        let org = organization(&pool, "acme").await;
        let repo = find_or_create(&pool, org, "acme", "acme/app").await.unwrap().unwrap().id;
        let mut conn = pool.acquire().await.unwrap();
        for c in ['c', 'l'] {
            blobs::record(&mut conn, repo, &digest(c), 2).await.unwrap();
        }
        let (m1, m2) = (digest('1'), digest('2'));
        let one = image(&m1, b"{\"one\":1}", &digest('c'), &digest('l'));
        let two = image(&m2, b"{\"two\":2}", &digest('c'), &digest('l'));
        let stored = PutOutcome::Stored { moved_from: None };
        assert_eq!(put(&pool, repo, &one, Some("v1")).await.unwrap(), stored);
        assert!(tags::delete(&pool, repo, "v1").await.unwrap());
        assert_eq!(put(&pool, repo, &two, Some("v1")).await.unwrap(), stored, "after a tag delete");
        assert!(delete(&pool, repo, &m2).await.unwrap());
        assert_eq!(
            put(&pool, repo, &one, Some("v1")).await.unwrap(),
            stored,
            "after its manifest's delete"
        );
        let history = tags::history(&pool, repo, "v1").await.unwrap();
        let periods: Vec<(&str, bool)> =
            history.iter().map(|p| (p.digest.as_str(), p.valid_until.is_none())).collect();
        assert_eq!(periods, [(m1.as_str(), false), (m2.as_str(), false), (m1.as_str(), true)]);
        assert_eq!(count(&pool, "manifest_blobs").await, 2, "m1's graph, stored once");
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn pushes_by_name_stay_in_their_organization(pool: PgPool) {
        let org = organization(&pool, "acme").await;
        let rival = organization(&pool, "rival").await;
        let repo = find_or_create(&pool, org, "acme", "acme/app").await.unwrap().unwrap().id;
        let mut conn = pool.acquire().await.unwrap();
        for c in ['c', 'l'] {
            blobs::record(&mut conn, repo, &digest(c), 2).await.unwrap();
        }
        let m = digest('1');
        let one = image(&m, b"{}", &digest('c'), &digest('l'));
        let notifier = RepositoryNotifier::new(pool.clone());
        let held = HeldConnections::new(pool.clone(), 2);
        assert_eq!(
            put_by_name(&held, &notifier, org, "acme/none", &one, Some("v1")).await.unwrap(),
            None
        );
        assert_eq!(
            put_by_name(&held, &notifier, rival, "acme/app", &one, Some("v1")).await.unwrap(),
            None
        );
        assert_eq!(count(&pool, "manifests").await, 0);
        let mut missing = image(&m, b"{}", &digest('x'), &digest('x'));
        missing.blobs.push(missing.blobs[0].clone());
        assert_eq!(
            put_by_name(&held, &notifier, org, "acme/app", &missing, Some("v1")).await.unwrap(),
            Some(PutOutcome::MissingReferences(vec![digest('x')])),
            "each missing digest once"
        );
        assert_eq!(
            put_by_name(&held, &notifier, org, "acme/app", &one, Some("v1")).await.unwrap(),
            Some(PutOutcome::Stored { moved_from: None })
        );
        let got = find(&pool, repo, ManifestRef::Tag("v1"), true).await.unwrap().unwrap();
        assert_eq!((got.digest.as_str(), got.size), (m.as_str(), 2));
        assert!(put(&pool, Uuid::now_v7(), &one, None).await.is_err(), "no such repository");
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn concurrent_pushes_of_one_tag_keep_one_open_period(pool: PgPool) {
        let org = organization(&pool, "acme").await;
        let repo = find_or_create(&pool, org, "acme", "acme/app").await.unwrap().unwrap().id;
        let digests: Vec<String> = ['1', '2', '3', '4'].into_iter().map(digest).collect();
        let manifests: Vec<NewManifest<'_>> = digests
            .iter()
            .map(|d| NewManifest {
                digest: d,
                media_type: "application/vnd.oci.image.index.v1+json",
                artifact_type: None,
                bytes: d.as_bytes(),
                subject: None,
                annotations: serde_json::json!({}),
                blobs: vec![],
                children: vec![],
            })
            .collect();
        let (a, b, c, d) = tokio::join!(
            put(&pool, repo, &manifests[0], Some("latest")),
            put(&pool, repo, &manifests[1], Some("latest")),
            put(&pool, repo, &manifests[2], Some("latest")),
            put(&pool, repo, &manifests[3], Some("latest")),
        );
        for r in [a, b, c, d] {
            assert!(matches!(r.unwrap(), PutOutcome::Stored { .. }));
        }
        let history = tags::history(&pool, repo, "latest").await.unwrap();
        assert_eq!(history.len(), 4);
        assert_eq!(history.iter().filter(|p| p.valid_until.is_none()).count(), 1);
        let current = find(&pool, repo, ManifestRef::Tag("latest"), false).await.unwrap().unwrap();
        assert_eq!(
            history.iter().find(|p| p.valid_until.is_none()).unwrap().digest,
            current.digest
        );
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn indexes_need_their_children_and_subjects_are_free(pool: PgPool) {
        let org = organization(&pool, "acme").await;
        let repo = find_or_create(&pool, org, "acme", "acme/app").await.unwrap().unwrap().id;
        let child = digest('1');
        let idx = digest('9');
        let index = NewManifest {
            digest: &idx,
            media_type: "application/vnd.oci.image.index.v1+json",
            artifact_type: None,
            bytes: b"{}",
            subject: None,
            annotations: serde_json::json!({}),
            blobs: vec![],
            children: vec![ChildReference {
                digest: child.clone(),
                media_type: "application/vnd.oci.image.manifest.v1+json".into(),
                size: 2,
                os: Some("linux".into()),
                architecture: Some("arm64".into()),
                variant: Some("v8".into()),
            }],
        };
        assert_eq!(
            put(&pool, repo, &index, None).await.unwrap(),
            PutOutcome::MissingReferences(vec![child.clone()])
        );
        let mut artifact = image(&child, b"{}", &digest('c'), &digest('l'));
        artifact.blobs.iter_mut().for_each(|b| b.external = true);
        artifact.subject =
            Some("sha256:0000000000000000000000000000000000000000000000000000000000000000");
        artifact.annotations = serde_json::json!({"a": "b"});
        assert_eq!(
            put(&pool, repo, &artifact, None).await.unwrap(),
            PutOutcome::Stored { moved_from: None }
        );
        assert_eq!(
            put(&pool, repo, &index, Some("multi")).await.unwrap(),
            PutOutcome::Stored { moved_from: None }
        );
        let refs = referrers(&pool, repo, artifact.subject.unwrap()).await.unwrap();
        assert_eq!(refs.len(), 1);
        assert_eq!(refs[0].annotations, serde_json::json!({"a": "b"}));
        let os: Option<String> = sqlx::query_scalar("select platform_os from manifest_children")
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(os.as_deref(), Some("linux"));
    }
}
