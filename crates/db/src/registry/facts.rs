//! The facts entitlement decisions need about one repository, read in one snapshot.
//!
//! Owns the read that feeds `wharf-entitlements`: current tags with push times, recent tag
//! history, the manifest graph (children, config and layers, subjects) and the public flag.
//! The server caches the result per repository and reloads it when a notification says the
//! repository changed (see the `licenses` migration).

use std::collections::HashMap;

use time::OffsetDateTime;
use uuid::Uuid;
use wharf_entitlements::{
    Digest, ManifestContent, ManifestFact, RepositoryFacts, TagFact, TagHistoryFact,
};

use crate::{DbError, PgPool};

/// A repository's facts with the organization that owns it.
#[derive(Debug, Clone)]
pub struct LoadedFacts {
    /// The repository's id.
    pub repository_id: Uuid,
    /// The vendor organization that owns it.
    pub organization_id: Uuid,
    /// The facts, indexed.
    pub facts: RepositoryFacts,
}

/// Reads the facts of repository `name`, with the tag history that ended after
/// `history_since` (older history cannot matter to a re-tag grace window). `None` when the
/// repository does not exist. All reads see one snapshot.
pub async fn load(
    pool: &PgPool,
    name: &str,
    history_since: OffsetDateTime,
) -> Result<Option<LoadedFacts>, DbError> {
    let mut tx = pool.begin().await?;
    sqlx::query!("set transaction isolation level repeatable read, read only")
        .execute(&mut *tx)
        .await?;
    let Some(repo) =
        sqlx::query!("select id, organization_id, public from repositories where name = $1", name)
            .fetch_optional(&mut *tx)
            .await?
    else {
        return Ok(None);
    };
    let tags =
        sqlx::query!("select name, digest, pushed_at from tags where repository_id = $1", repo.id)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .map(|t| TagFact {
                name: t.name,
                digest: Digest::from(t.digest),
                pushed_at: t.pushed_at,
            })
            .collect();
    let history = sqlx::query!(
        r#"select tag, digest, valid_from, valid_until as "valid_until!"
           from tag_history
           where repository_id = $1 and valid_until is not null and valid_until > $2"#,
        repo.id,
        history_since,
    )
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|h| TagHistoryFact {
        tag: h.tag,
        digest: Digest::from(h.digest),
        from: h.valid_from,
        until: h.valid_until,
    })
    .collect();
    let mut children: HashMap<String, Vec<Digest>> = HashMap::new();
    for c in sqlx::query!(
        "select index_digest, child_digest from manifest_children
         where repository_id = $1 order by index_digest, position",
        repo.id
    )
    .fetch_all(&mut *tx)
    .await?
    {
        children.entry(c.index_digest).or_default().push(Digest::from(c.child_digest));
    }
    let mut configs: HashMap<String, Digest> = HashMap::new();
    let mut layers: HashMap<String, Vec<Digest>> = HashMap::new();
    for b in sqlx::query!(
        "select manifest_digest, kind, digest from manifest_blobs
         where repository_id = $1 order by manifest_digest, position",
        repo.id
    )
    .fetch_all(&mut *tx)
    .await?
    {
        if b.kind == "config" {
            configs.insert(b.manifest_digest, Digest::from(b.digest));
        } else {
            layers.entry(b.manifest_digest).or_default().push(Digest::from(b.digest));
        }
    }
    let manifests = sqlx::query!(
        "select digest, pushed_at, subject_digest, artifact_type from manifests
         where repository_id = $1",
        repo.id
    )
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|m| {
        // An image manifest always has a config; anything else is an index (possibly empty).
        let content = match configs.remove(&m.digest) {
            Some(config) => ManifestContent::Image {
                config,
                layers: layers.remove(&m.digest).unwrap_or_default(),
            },
            None => {
                ManifestContent::Index { children: children.remove(&m.digest).unwrap_or_default() }
            }
        };
        ManifestFact {
            digest: Digest::from(m.digest),
            pushed_at: m.pushed_at,
            content,
            subject: m.subject_digest.map(Digest::from),
            artifact_type: m.artifact_type,
        }
    })
    .collect();
    tx.commit().await?;
    Ok(Some(LoadedFacts {
        repository_id: repo.id,
        organization_id: repo.organization_id,
        facts: RepositoryFacts::new(name, repo.public, tags, history, manifests),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::manifests::{
        BlobKind, BlobReference, ChildReference, NewManifest, PutOutcome, put,
    };
    use crate::registry::repositories::{find_or_create, set_public};
    use crate::registry::testing::{digest, organization};
    use crate::registry::{blobs, manifests};

    fn blob(kind: BlobKind, digest: String) -> BlobReference {
        BlobReference { kind, digest, media_type: "x".into(), size: 2, external: false }
    }

    fn manifest<'a>(d: &'a str, blobs: Vec<BlobReference>, children: &[&str]) -> NewManifest<'a> {
        NewManifest {
            digest: d,
            media_type: "application/vnd.oci.image.manifest.v1+json",
            artifact_type: None,
            bytes: b"{}",
            subject: None,
            annotations: serde_json::json!({}),
            blobs,
            children: children
                .iter()
                .map(|c| ChildReference {
                    digest: (*c).to_owned(),
                    media_type: "x".into(),
                    size: 2,
                    os: None,
                    architecture: None,
                    variant: None,
                })
                .collect(),
        }
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn facts_hold_tags_recent_history_and_the_graph(pool: PgPool) {
        let org = organization(&pool, "acme").await;
        assert!(load(&pool, "acme/app", OffsetDateTime::UNIX_EPOCH).await.unwrap().is_none());
        let repo = find_or_create(&pool, org, "acme", "acme/app").await.unwrap().unwrap().id;
        let mut conn = pool.acquire().await.unwrap();
        for c in ['c', 'l', 'm'] {
            blobs::record(&mut conn, repo, &digest(c), 2).await.unwrap();
        }
        let (image, index, sbom, old) = (digest('1'), digest('9'), digest('5'), digest('0'));
        let layers =
            || vec![blob(BlobKind::Config, digest('c')), blob(BlobKind::Layer, digest('l'))];
        for (m, tag) in [
            (manifest(&old, layers(), &[]), Some("1.0.0")),
            (manifest(&image, layers(), &[]), None),
            (manifest(&index, vec![], &[&image]), Some("1.0.0")),
        ] {
            assert!(matches!(put(&pool, repo, &m, tag).await.unwrap(), PutOutcome::Stored { .. }));
        }
        let mut referrer = manifest(&sbom, vec![blob(BlobKind::Config, digest('m'))], &[]);
        referrer.subject = Some(&image);
        referrer.artifact_type = Some("application/spdx+json");
        assert_eq!(
            put(&pool, repo, &referrer, None).await.unwrap(),
            PutOutcome::Stored { moved_from: None }
        );

        let loaded = load(&pool, "acme/app", OffsetDateTime::UNIX_EPOCH).await.unwrap().unwrap();
        assert_eq!((loaded.repository_id, loaded.organization_id), (repo, org));
        let facts = &loaded.facts;
        assert!(!facts.is_public());
        let tags: Vec<(&str, &str)> =
            facts.tags().iter().map(|t| (t.name.as_str(), t.digest.as_str())).collect();
        assert_eq!(tags, vec![("1.0.0", index.as_str())]);
        assert_eq!(facts.history().len(), 1, "the closed period of 1.0.0 -> old");
        assert_eq!(facts.history()[0].digest.as_str(), old);
        assert_eq!(facts.manifest(&index).unwrap().children(), &[Digest::from(image.as_str())]);
        let blobs: Vec<&str> =
            facts.manifest(&image).unwrap().blobs().map(Digest::as_str).collect();
        assert_eq!(blobs, vec![digest('c'), digest('l')]);
        assert_eq!(facts.referrers_of(&image), &[Digest::from(sbom.as_str())]);
        assert_eq!(
            facts.manifest(&sbom).unwrap().artifact_type.as_deref(),
            Some("application/spdx+json")
        );

        // History that ended before the horizon is left out; the public flag is read.
        let later = OffsetDateTime::now_utc() + time::Duration::minutes(1);
        assert!(set_public(&pool, repo, true).await.unwrap());
        let loaded = load(&pool, "acme/app", later).await.unwrap().unwrap();
        assert!(loaded.facts.history().is_empty());
        assert!(loaded.facts.is_public());
        assert!(manifests::delete(&pool, repo, &sbom).await.unwrap());
        let loaded = load(&pool, "acme/app", later).await.unwrap().unwrap();
        assert!(loaded.facts.referrers_of(&image).is_empty());
    }
}
