//! The benchmark's data, written straight into the database: a vendor `acme` with 100
//! repositories of 100 tags each (one image per tag: a config, a base layer shared within the
//! repository and a layer of its own), and 1,000 customers with one license of three grants
//! each (a semver range, a glob and an exact list, over different repositories).
//!
//! [`one_customer`] is the side-by-side benchmark's much smaller start: the vendor and one
//! licensed customer, with tokens, and no repository (its content is pushed over HTTP).

use anyhow::Context;
use sha2::{Digest as _, Sha256};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;
use wharf_auth::token::{TokenKind, generate};
use wharf_db::{
    PgPool, accounts, customers,
    licenses::{self, LicenseInput},
    tokens::{self, NewToken, TokenOwner},
};
use wharf_entitlements::{ExpiryPolicy, Grant, TagSelector, TagSelectorSpec};

pub const REPOSITORIES: usize = 100;
pub const TAGS_PER_REPOSITORY: usize = 100;
pub const CUSTOMERS: usize = 1_000;

/// What the benchmark needs to know about the seeded data.
pub struct World {
    pub organization: Uuid,
    pub customer: Uuid,
    pub customer_token: String,
    pub vendor_token: String,
    /// A repository the customer is entitled to part of.
    pub repository: String,
    /// An entitled tag in it, and its digest.
    pub tag: String,
    pub digest: String,
}

fn sha256(text: &str) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(text.as_bytes())))
}

fn version(t: usize) -> String {
    format!("{}.{}.0", t / 20, t % 20)
}

fn repository(r: usize) -> String {
    format!("acme/r{r:03}")
}

async fn token(pool: &PgPool, org: Uuid, owner: TokenOwner) -> anyhow::Result<String> {
    let kind = match owner {
        TokenOwner::Vendor { .. } => TokenKind::VendorApi,
        TokenOwner::Customer { .. } => TokenKind::CustomerAccess,
    };
    let generated = generate(kind);
    tokens::insert(
        pool,
        &NewToken {
            organization_id: org,
            owner,
            created_by: None,
            name: "bench",
            hash: generated.hash.as_bytes(),
            display_prefix: &generated.display_prefix,
            expires_at: None,
        },
    )
    .await?;
    Ok(generated.plaintext.expose_secret().to_owned())
}

/// The vendor `acme` with its owner, and a vendor API token of the owner's.
async fn vendor(pool: &PgPool) -> anyhow::Result<(Uuid, String)> {
    let created = accounts::create_organization(
        pool,
        &accounts::NewOrganization {
            slug: "acme",
            name: "Acme",
            owner_email: "owner@acme.test",
            owner_password_hash: "x",
            owner_is_instance_admin: false,
            existing_account: accounts::ExistingAccount::Refused,
            invitation: None,
        },
    )
    .await?;
    let accounts::CreatedOrganization::Created { organization: org, owner, .. } = created else {
        anyhow::bail!("no invitation was asked for");
    };
    let vendor_token =
        token(pool, org.id, TokenOwner::Vendor { user_id: owner.id, read_only: false }).await?;
    Ok((org.id, vendor_token))
}

fn semver(range: &str) -> anyhow::Result<TagSelector> {
    Ok(TagSelectorSpec::Semver {
        range: range.into(),
        allow_v_prefix: false,
        include_prereleases: false,
    }
    .validate()?)
}

/// A year-long `KeepReleased` license of `grants` for `customer`.
pub(crate) async fn license(
    pool: &PgPool,
    org: Uuid,
    customer: Uuid,
    grants: &[Grant],
) -> anyhow::Result<()> {
    let now = OffsetDateTime::now_utc();
    licenses::create(
        pool,
        org,
        customer,
        &LicenseInput {
            name: "Standard",
            starts_at: now - Duration::days(365),
            expires_at: Some(now + Duration::days(365)),
            on_expiry: ExpiryPolicy::KeepReleased,
            suspended: false,
            notes: "",
            grants,
        },
    )
    .await?
    .context("license")?;
    Ok(())
}

pub async fn seed(pool: &PgPool) -> anyhow::Result<World> {
    let (org, vendor_token) = vendor(pool).await?;

    let now = OffsetDateTime::now_utc();
    let mut target_digest = String::new();
    for r in 0..REPOSITORIES {
        let repo_id = Uuid::now_v7();
        sqlx::query("insert into repositories (id, organization_id, name) values ($1, $2, $3)")
            .bind(repo_id)
            .bind(org)
            .bind(repository(r))
            .execute(pool)
            .await?;
        let base = sha256(&format!("base {r}"));
        let (mut blob_digests, mut manifest_digests, mut bytes, mut names, mut times) =
            (vec![base.clone()], Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut mb_manifest, mut mb_position, mut mb_kind, mut mb_digest) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for t in 0..TAGS_PER_REPOSITORY {
            let config = sha256(&format!("config {r} {t}"));
            let layer = sha256(&format!("layer {r} {t}"));
            let manifest = serde_json::json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                           "digest": config, "size": 1469},
                "layers": [
                    {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                     "digest": base, "size": 3_623_807},
                    {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                     "digest": layer, "size": 1_048_576},
                ],
                "annotations": {"org.opencontainers.image.version": version(t)},
            });
            let manifest_bytes = serde_json::to_vec_pretty(&manifest)?;
            let digest = format!("sha256:{}", hex::encode(Sha256::digest(&manifest_bytes)));
            for (position, (kind, blob)) in
                [("config", &config), ("layer", &base), ("layer", &layer)].into_iter().enumerate()
            {
                mb_manifest.push(digest.clone());
                mb_position.push(i32::try_from(position)?);
                mb_kind.push(kind.to_owned());
                mb_digest.push(blob.clone());
            }
            blob_digests.extend([config, layer]);
            if r == 42 && t == 25 {
                target_digest.clone_from(&digest);
            }
            manifest_digests.push(digest);
            bytes.push(manifest_bytes);
            names.push(version(t));
            times.push(now - Duration::hours(i64::try_from(TAGS_PER_REPOSITORY - t)?));
        }
        let mut tx = pool.begin().await?;
        sqlx::query(
            "insert into blobs (digest, size) select d, 1024 from unnest($1::text[]) d
             on conflict do nothing",
        )
        .bind(&blob_digests)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "insert into repository_blobs (repository_id, digest)
             select $1, d from unnest($2::text[]) d",
        )
        .bind(repo_id)
        .bind(&blob_digests)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "insert into manifests (repository_id, digest, media_type, artifact_type, size, bytes,
                                    pushed_at)
             select $1, d, 'application/vnd.oci.image.manifest.v1+json',
                    'application/vnd.oci.image.config.v1+json', length(b), b, t
             from unnest($2::text[], $3::bytea[], $4::timestamptz[]) as x(d, b, t)",
        )
        .bind(repo_id)
        .bind(&manifest_digests)
        .bind(&bytes)
        .bind(&times)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "insert into manifest_blobs (repository_id, manifest_digest, position, kind, digest,
                                         media_type, size)
             select $1, m, p, k, d, 'application/octet-stream', 1024
             from unnest($2::text[], $3::int4[], $4::text[], $5::text[]) as x(m, p, k, d)",
        )
        .bind(repo_id)
        .bind(&mb_manifest)
        .bind(&mb_position)
        .bind(&mb_kind)
        .bind(&mb_digest)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "insert into tags (repository_id, name, digest, pushed_at)
             select $1, n, d, t from unnest($2::text[], $3::text[], $4::timestamptz[]) as x(n, d, t)",
        )
        .bind(repo_id)
        .bind(&names)
        .bind(&manifest_digests)
        .bind(&times)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "insert into tag_history (repository_id, tag, digest, valid_from)
             select $1, n, d, t from unnest($2::text[], $3::text[], $4::timestamptz[]) as x(n, d, t)",
        )
        .bind(repo_id)
        .bind(&names)
        .bind(&manifest_digests)
        .bind(&times)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
    }

    let mut bench_customer = None;
    for c in 0..CUSTOMERS {
        let customer = customers::create(pool, org, &format!("Customer {c:04}")).await?;
        let grants = vec![
            Grant::new(
                "acme",
                &repository((42 + c) % REPOSITORIES),
                semver(">=1.0.0 <3.0.0")?,
                None,
                None,
            )?,
            Grant::new(
                "acme",
                &repository((7 * c + 1) % REPOSITORIES),
                TagSelector::glob("4.*")?,
                None,
                None,
            )?,
            Grant::new("acme", "acme/*", TagSelector::exact(["0.0.0", "4.19.0"])?, None, None)?,
        ];
        license(pool, org, customer.id, &grants).await?;
        bench_customer.get_or_insert(customer.id);
    }
    let customer = bench_customer.context("a customer")?;
    let customer_token = token(pool, org, TokenOwner::Customer { customer_id: customer }).await?;
    Ok(World {
        organization: org,
        customer,
        customer_token,
        vendor_token,
        repository: repository(42),
        tag: version(25),
        digest: target_digest,
    })
}

/// A vendor `acme` and one customer whose license grants `tags` (a semver range) of
/// `repository`: for the side-by-side benchmark, where the registry is filled by pushes.
pub struct Accounts {
    pub vendor_token: String,
    pub customer_token: String,
    pub customer_id: Uuid,
}

pub async fn one_customer(pool: &PgPool, repository: &str, tags: &str) -> anyhow::Result<Accounts> {
    let (org, vendor_token) = vendor(pool).await?;
    let customer = customers::create(pool, org, "Customer 0001").await?;
    license(pool, org, customer.id, &[Grant::new("acme", repository, semver(tags)?, None, None)?])
        .await?;
    let customer_token =
        token(pool, org, TokenOwner::Customer { customer_id: customer.id }).await?;
    Ok(Accounts { vendor_token, customer_token, customer_id: customer.id })
}
