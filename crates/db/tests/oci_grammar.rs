//! One table of names, slugs, tags and digests, run through both `wharf-oci`'s validators
//! and the database's CHECK constraints (by inserting into the real tables, one transaction
//! per row, rolled back), asserting that each says what the table says.
//!
//! Where the two deliberately differ (the SQL is looser: repository names are only checked
//! for length, digests not at all) the row says so in its `why`; a row without a `why` asserts
//! that Rust and SQL agree. Nothing here may be valid to Rust and refused by SQL: that would
//! make a request the registry accepted fail in the database.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sqlx::PgPool;
use uuid::Uuid;
use wharf_oci::{
    digest::{Algorithm, Digest},
    name::{RepositoryName, is_valid_org_slug},
    tag::{Tag, check_tag},
};

/// What is being checked, and so which validator and which table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `organizations.slug`: a name component, at most 63 characters.
    OrgSlug,
    /// `repositories.name`: `<org-slug>/<path>`; SQL checks only `length between 3 and 255`.
    RepositoryName,
    /// `tags.name`: `^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`.
    Tag,
    /// `blobs.digest`: no CHECK; the registry validates digests before they get here.
    Digest,
    /// `upload_sessions.hash_algorithm`: `in ('sha256', 'sha512')`.
    HashAlgorithm,
}

/// One row: the input, whether Rust accepts it, whether SQL accepts it, and why they differ.
#[derive(Debug)]
struct Row {
    kind: Kind,
    input: String,
    rust: bool,
    sql: bool,
    /// Required exactly when `rust != sql`.
    why: Option<&'static str>,
}

const NAMES_BY_LENGTH: &str = "SQL checks repository names by length only (3 to 255 characters)";
const DIGESTS_UNCHECKED: &str = "blobs.digest has no CHECK: the registry parses digests first";

fn agree(kind: Kind, input: impl Into<String>, valid: bool) -> Row {
    Row { kind, input: input.into(), rust: valid, sql: valid, why: None }
}

fn looser(kind: Kind, input: impl Into<String>, why: &'static str) -> Row {
    Row { kind, input: input.into(), rust: false, sql: true, why: Some(why) }
}

fn table() -> Vec<Row> {
    use Kind::*;
    let hex64 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    let hex128 = "ab".repeat(64);
    let mut rows = vec![
        // Organization slugs: one component, at most 63 characters.
        agree(OrgSlug, "acme", true),
        agree(OrgSlug, "a", true),
        agree(OrgSlug, "0x1", true),
        agree(OrgSlug, "acme-inc", true),
        agree(OrgSlug, "acme---inc", true),
        agree(OrgSlug, "acme.io", true),
        agree(OrgSlug, "acme_inc", true),
        agree(OrgSlug, "a__b", true),
        agree(OrgSlug, "a".repeat(63), true),
        agree(OrgSlug, "a".repeat(64), false),
        agree(OrgSlug, "", false),
        agree(OrgSlug, "Acme", false),
        agree(OrgSlug, "acmE", false),
        agree(OrgSlug, "a..b", false),
        agree(OrgSlug, "a___b", false),
        agree(OrgSlug, "a._b", false),
        agree(OrgSlug, "a-_b", false),
        agree(OrgSlug, "-acme", false),
        agree(OrgSlug, ".acme", false),
        agree(OrgSlug, "_acme", false),
        agree(OrgSlug, "acme-", false),
        agree(OrgSlug, "acme/app", false),
        agree(OrgSlug, "ac me", false),
        agree(OrgSlug, "acme\n", false),
        agree(OrgSlug, "äcme", false),
        agree(OrgSlug, "acmé", false),
        // Repository names: valid ones fit the SQL length check.
        agree(RepositoryName, "a/b", true),
        agree(RepositoryName, "acme/app", true),
        agree(RepositoryName, "acme/tools/cli", true),
        agree(RepositoryName, "acme/my__app", true),
        agree(RepositoryName, "acme/my---app.v2_x", true),
        agree(RepositoryName, format!("acme/{}", "a".repeat(250)), true),
        // Too short or too long for both.
        agree(RepositoryName, "", false),
        agree(RepositoryName, "a", false),
        agree(RepositoryName, "a/", false),
        agree(RepositoryName, format!("acme/{}", "a".repeat(251)), false),
        agree(RepositoryName, "a".repeat(256), false),
        // Invalid grammar of a length SQL accepts.
        looser(RepositoryName, "acme", NAMES_BY_LENGTH),
        looser(RepositoryName, "Acme/app", NAMES_BY_LENGTH),
        looser(RepositoryName, "acme/App", NAMES_BY_LENGTH),
        looser(RepositoryName, "acme/a..b", NAMES_BY_LENGTH),
        looser(RepositoryName, "acme/../etc", NAMES_BY_LENGTH),
        looser(RepositoryName, "acme/a___b", NAMES_BY_LENGTH),
        looser(RepositoryName, "acme/-app", NAMES_BY_LENGTH),
        looser(RepositoryName, "/acme/app", NAMES_BY_LENGTH),
        looser(RepositoryName, "acme//app", NAMES_BY_LENGTH),
        looser(RepositoryName, "acme/app/", NAMES_BY_LENGTH),
        looser(RepositoryName, "acme/app:1", NAMES_BY_LENGTH),
        looser(RepositoryName, "acme/äpp", NAMES_BY_LENGTH),
        looser(RepositoryName, format!("acme/{}", "é".repeat(250)), NAMES_BY_LENGTH),
        // Tags.
        agree(Tag, "latest", true),
        agree(Tag, "1.2.0", true),
        agree(Tag, "v1.2.0-rc.1", true),
        agree(Tag, "_x", true),
        agree(Tag, "A-Z.a_z", true),
        agree(Tag, "a__b", true),
        agree(Tag, "a___b", true),
        agree(Tag, "a..b", true),
        agree(Tag, "a".repeat(128), true),
        agree(Tag, "a".repeat(129), false),
        agree(Tag, "", false),
        agree(Tag, ".x", false),
        agree(Tag, "-x", false),
        agree(Tag, "a+b", false),
        agree(Tag, "a:b", false),
        agree(Tag, "a/b", false),
        agree(Tag, "a b", false),
        agree(Tag, "a*", false),
        agree(Tag, "v1\n", false),
        agree(Tag, "ü", false),
        agree(Tag, "vü", false),
        agree(Tag, format!("a{}", "é".repeat(63)), false),
        // Digests: the database stores whatever the registry parsed.
        agree(Digest, format!("sha256:{hex64}"), true),
        agree(Digest, format!("sha512:{hex128}"), true),
        looser(Digest, format!("sha256:{}", hex64.to_uppercase()), DIGESTS_UNCHECKED),
        looser(Digest, format!("sha256:{}", &hex64[1..]), DIGESTS_UNCHECKED),
        looser(Digest, format!("sha512:{hex64}"), DIGESTS_UNCHECKED),
        looser(Digest, format!("md5:{hex64}"), DIGESTS_UNCHECKED),
        looser(Digest, format!("blake3:{hex64}"), DIGESTS_UNCHECKED),
        looser(Digest, hex64, DIGESTS_UNCHECKED),
        looser(Digest, "sha256:", DIGESTS_UNCHECKED),
        looser(Digest, "", DIGESTS_UNCHECKED),
        // Upload sessions' hash algorithm.
        agree(HashAlgorithm, "sha256", true),
        agree(HashAlgorithm, "sha512", true),
        agree(HashAlgorithm, "SHA256", false),
        agree(HashAlgorithm, "sha384", false),
        agree(HashAlgorithm, "blake3", false),
        agree(HashAlgorithm, "", false),
    ];
    // The longest valid repository name made of many components.
    let many = format!("acme/{}", vec!["ab"; 83].join("/"));
    assert_eq!(many.len(), 253);
    rows.push(agree(RepositoryName, many, true));
    rows
}

/// What `wharf-oci` says.
fn rust_accepts(kind: Kind, input: &str) -> bool {
    match kind {
        Kind::OrgSlug => is_valid_org_slug(input),
        Kind::RepositoryName => RepositoryName::parse(input).is_ok(),
        Kind::Tag => {
            let valid = Tag::parse(input).is_ok();
            assert_eq!(valid, check_tag(input).is_ok(), "Tag::parse and check_tag on {input:?}");
            valid
        }
        Kind::Digest => Digest::parse(input).is_ok(),
        Kind::HashAlgorithm => Algorithm::from_name(input).is_some(),
    }
}

/// Rows every insert refers to: an organization, a repository and a manifest.
struct Fixture {
    org: Uuid,
    repository: Uuid,
    digest: String,
}

async fn fixture(pool: &PgPool) -> Fixture {
    let org = Uuid::new_v4();
    sqlx::query("insert into organizations (id, slug, name) values ($1, 'fixture', 'Fixture')")
        .bind(org)
        .execute(pool)
        .await
        .unwrap();
    let repository = Uuid::new_v4();
    sqlx::query(
        "insert into repositories (id, organization_id, name) values ($1, $2, 'fixture/app')",
    )
    .bind(repository)
    .bind(org)
    .execute(pool)
    .await
    .unwrap();
    let digest = Algorithm::Sha256.digest(b"{}").to_string();
    sqlx::query(
        "insert into manifests (repository_id, digest, media_type, size, bytes)
         values ($1, $2, 'application/vnd.oci.image.manifest.v1+json', 2, '{}'::bytea)",
    )
    .bind(repository)
    .bind(&digest)
    .execute(pool)
    .await
    .unwrap();
    Fixture { org, repository, digest }
}

/// What the database says: inserts the input where `kind` is stored, in a transaction that is
/// rolled back. Only a CHECK violation (SQLSTATE 23514) counts as a refusal; any other error
/// fails the test.
async fn sql_accepts(pool: &PgPool, fixture: &Fixture, kind: Kind, input: &str) -> bool {
    let mut tx = pool.begin().await.unwrap();
    let query = match kind {
        Kind::OrgSlug => {
            sqlx::query("insert into organizations (id, slug, name) values ($1, $2, 'Org')")
                .bind(Uuid::new_v4())
                .bind(input)
        }
        Kind::RepositoryName => {
            sqlx::query("insert into repositories (id, organization_id, name) values ($1, $2, $3)")
                .bind(Uuid::new_v4())
                .bind(fixture.org)
                .bind(input)
        }
        Kind::Tag => {
            sqlx::query("insert into tags (repository_id, name, digest) values ($1, $2, $3)")
                .bind(fixture.repository)
                .bind(input)
                .bind(&fixture.digest)
        }
        Kind::Digest => sqlx::query("insert into blobs (digest, size) values ($1, 0)").bind(input),
        Kind::HashAlgorithm => sqlx::query(
            "insert into upload_sessions (id, repository_id, organization_id, created_by,
                 hash_algorithm, hash_state, storage_state, expires_at)
             values ($1, $2, $3, 'test', $4, '\\x00'::bytea, '{}', now())",
        )
        .bind(Uuid::new_v4())
        .bind(fixture.repository)
        .bind(fixture.org)
        .bind(input),
    };
    let result = query.execute(&mut *tx).await;
    tx.rollback().await.unwrap();
    match result {
        Ok(_) => true,
        Err(err) => {
            let code = err.as_database_error().and_then(|e| e.code()).map(|c| c.into_owned());
            assert_eq!(code.as_deref(), Some("23514"), "{kind:?} {input:?}: {err}");
            false
        }
    }
}

#[sqlx::test(migrator = "wharf_db::MIGRATOR")]
async fn rust_validators_and_sql_checks_agree(pool: PgPool) {
    let fixture = fixture(&pool).await;
    let rows = table();
    for row in &rows {
        let Row { kind, input, rust, sql, why } = row;
        assert_eq!(rust != sql, why.is_some(), "{kind:?} {input:?}: a difference needs a why");
        assert!(rust <= sql, "{kind:?} {input:?}: SQL must accept whatever Rust accepts");
        assert_eq!(rust_accepts(*kind, input), *rust, "wharf-oci on {kind:?} {input:?}");
        assert_eq!(
            sql_accepts(&pool, &fixture, *kind, input).await,
            *sql,
            "SQL on {kind:?} {input:?}"
        );
    }
    assert!(rows.len() > 80, "{} rows", rows.len());
}
