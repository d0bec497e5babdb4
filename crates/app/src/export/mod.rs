//! Air-gap bundles: a customer's entitlement as an OCI image layout (`oci-layout`,
//! `index.json`, `blobs/sha256/…`) in a tar stream, with `wharf-bundle.json`, `IMPORT.md` and
//! `SHA256SUMS` beside it ([docs/airgap.md](../../../../docs/airgap.md)). `wharf export`, the
//! API (`/api/v1/customers/{id}/export`) and both portals' downloads all make them here.
//!
//! An export is two steps. [`plan`] decides what goes in, and refuses bad input before a
//! byte is written: what the registry would serve the customer now, decided by the same
//! entitlement sets (`EntitlementView::set_for`), optionally narrowed to some repositories and
//! tags (narrowing never widens), each tag closed over its index children and entitled
//! referrers (signatures, SBOMs), every manifest and blob checked against the set.
//! [`Plan::write`] then streams the archive: manifests byte for byte from the database, blobs
//! from a [`BlobSource`], each verified against its digest while it streams; nothing is
//! staged, so memory stays flat whatever the bundle's size. Given the `wharf-bundle.json` of a
//! bundle the customer has already, only new or moved tags are exported (and tags that gained
//! a referrer since), with their manifests and configs but only the layers that bundle (or
//! the ones before it) did not contain; the result imports on top of it.
//! [`record`] writes the audit entry and counts the export as a pull of each exported tag.

pub mod tar;

use std::{
    collections::{BTreeMap, BTreeSet, HashSet},
    fmt,
    sync::Arc,
};

use bytes::Bytes;
use futures_util::{StreamExt as _, future::BoxFuture, stream::BoxStream};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use time::{Duration, OffsetDateTime, format_description::well_known::Rfc3339};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use uuid::Uuid;
use wharf_db::{
    PgPool,
    accounts::Organization,
    audit::NewAuditEntry,
    customers::Customer,
    licenses,
    registry::{
        manifests::{self, ManifestRef},
        repositories, tags,
    },
    usage::NewPullEvent,
};

use crate::{
    actions::Actor,
    audit::AuditLog,
    credentials::entitlement_view::{EntitlementView, Subject},
    entitled::entitled_repositories,
};

/// The format `wharf-bundle.json` declares.
pub const FORMAT: &str = "wharf-bundle/1";

/// `oci-layout`.
const LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// The client kind an export's pulls are counted under in analytics.
pub const CLIENT_KIND: &str = "export";

/// Where the bytes of configs and layers come from: the blob store, which the application
/// layer does not know (`wharf serve` and `wharf export` hand theirs in).
pub trait BlobSource: Send + Sync + fmt::Debug {
    /// Opens the blob whose sha256 is `hex`: its size and its bytes.
    fn open<'a>(&'a self, hex: &'a str) -> BoxFuture<'a, std::io::Result<BlobRead>>;
}

/// An opened blob.
pub struct BlobRead {
    /// Its size in bytes.
    pub size: u64,
    /// Its bytes, in order.
    pub stream: BoxStream<'static, std::io::Result<Bytes>>,
}

impl fmt::Debug for BlobRead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobRead").field("size", &self.size).finish_non_exhaustive()
    }
}

/// What to export, as a caller asks for it.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Only these repositories (full names); all entitled ones when empty.
    pub repositories: Vec<String>,
    /// Only these tags; all entitled ones when empty.
    pub tags: Vec<String>,
    /// The `wharf-bundle.json` of a bundle the customer has already (incremental export).
    pub since: Option<String>,
    /// The customer's registry, for the commands in `IMPORT.md` (`REGISTRY` when unknown).
    pub registry: Option<String>,
    /// How a download is compressed ([`stream`], [`download_headers`]); `wharf export`
    /// compresses its file itself.
    pub compression: Compression,
}

/// How the archive is compressed on its way out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar, of an exact size known in advance.
    #[default]
    None,
    /// The tar through zstd (level 3, streaming): its size is unknown until it ends.
    Zstd,
}

impl Compression {
    /// `none` or `zstd`, as the API and the portals' form name them.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "" | "none" => Some(Self::None),
            "zstd" => Some(Self::Zstd),
            _ => None,
        }
    }

    /// The name [`Compression::parse`] reads.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Zstd => "zstd",
        }
    }
}

/// Why an export cannot be made. The first three are the caller's to fix; they are found
/// before anything is written.
#[derive(Debug)]
pub enum ExportError {
    /// The customer is disabled: it can pull nothing.
    Disabled(String),
    /// A repository asked for is not among those the customer can pull (whether it exists
    /// or not).
    NoSuchRepository(String),
    /// A tag asked for is not among those the customer can pull in the repositories chosen.
    NoSuchTag(String),
    /// The previous bundle's `wharf-bundle.json` is not one, or is another customer's.
    Since(String),
    /// The database or the entitlements could not be read.
    Unavailable,
    /// Stored content does not match its digest, or vanished during the export.
    Content(String),
    /// Writing the archive failed (the client went away, the disk is full).
    Write(std::io::Error),
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Disabled(name) => write!(f, "{name} is disabled: it can pull nothing"),
            Self::NoSuchRepository(message)
            | Self::NoSuchTag(message)
            | Self::Since(message)
            | Self::Content(message) => f.write_str(message),
            Self::Unavailable => f.write_str("the database or the entitlements could not be read"),
            Self::Write(err) => write!(f, "writing the bundle failed: {err}"),
        }
    }
}

impl std::error::Error for ExportError {}

impl From<wharf_db::DbError> for ExportError {
    fn from(err: wharf_db::DbError) -> Self {
        tracing::error!("export: {err}");
        Self::Unavailable
    }
}

impl From<std::io::Error> for ExportError {
    fn from(err: std::io::Error) -> Self {
        Self::Write(err)
    }
}

/// `wharf-bundle.json`: what the bundle holds and for whom.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BundleManifest {
    /// [`FORMAT`].
    pub format: String,
    /// When it was made (RFC 3339).
    pub created_at: String,
    /// The Wharf that made it.
    pub wharf_version: String,
    /// The vendor.
    pub vendor: Named,
    /// The customer.
    pub customer: Named,
    /// The customer's licenses when it was made.
    pub licenses: Vec<BundleLicense>,
    /// The `created_at` of the bundle this one follows, for an incremental export.
    pub since: Option<String>,
    /// The tags exported, by repository and tag.
    pub tags: Vec<BundleTag>,
    /// The digests of the blobs (manifests, configs, layers) in this archive.
    pub contents: Vec<String>,
    /// The digests the customer holds once this bundle is imported on top of the ones before
    /// it (what the next incremental export leaves out).
    pub known: Vec<String>,
}

/// An id and a name.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Named {
    /// Id or slug.
    pub id: String,
    /// Display name.
    pub name: String,
}

/// A license in the bundle's record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BundleLicense {
    /// Its id.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// Until when it is valid, if it ends.
    pub expires_at: Option<String>,
    /// Whether it is suspended.
    pub suspended: bool,
}

/// One exported tag.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BundleTag {
    /// Full repository name.
    pub repository: String,
    /// The tag.
    pub tag: String,
    /// The manifest it points at.
    pub digest: String,
    /// That manifest's media type.
    pub media_type: String,
    /// `os/arch[/variant]` of each platform of an index.
    pub platforms: Vec<String>,
    /// Bytes of the manifest itself.
    pub manifest_size: i64,
    /// Bytes of the manifest, its children and their blobs, each once.
    pub size: i64,
    /// The manifest's `artifactType`, else its config's media type (a Helm chart's is
    /// `application/vnd.cncf.helm.config.v1+json`); absent in bundles made before it was
    /// recorded.
    #[serde(default)]
    pub artifact_type: Option<String>,
    /// The entitled referrers (signatures, SBOMs, attestations) of the manifest and its
    /// children, in the archive with it; each is also an `index.json` entry named
    /// `<repository>@<digest>`. Absent in bundles made before they were listed.
    #[serde(default)]
    pub referrers: Vec<BundleReferrer>,
}

/// A referrer exported with a tag: a manifest whose `subject` is one of the tag's.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BundleReferrer {
    /// Its digest.
    pub digest: String,
    /// Its media type.
    pub media_type: String,
    /// Its `artifactType` (else its config's media type).
    pub artifact_type: Option<String>,
    /// Bytes of the manifest.
    pub size: i64,
    /// The manifest it refers to.
    pub subject: String,
}

/// What an export wrote.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Tags exported.
    pub tags: usize,
    /// Blobs (manifests included) in the archive.
    pub blobs: usize,
    /// Bytes of the archive.
    pub bytes: u64,
    /// `sha256:` of `wharf-bundle.json`.
    pub bundle_digest: String,
}

/// A blob to write: a manifest (its bytes are in the database) or a config or layer (in
/// storage).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Content {
    Manifest { repository: String, digest: String, size: u64 },
    Blob { digest: String, size: u64 },
}

impl Content {
    fn digest(&self) -> &str {
        match self {
            Content::Manifest { digest, .. } | Content::Blob { digest, .. } => digest,
        }
    }

    fn size(&self) -> u64 {
        match self {
            Content::Manifest { size, .. } | Content::Blob { size, .. } => *size,
        }
    }
}

/// What a previous bundle told us.
struct Previous {
    created_at: String,
    tags: HashSet<(String, String, String)>,
    known: HashSet<String>,
}

fn previous(text: &str, customer: Uuid) -> Result<Previous, ExportError> {
    let manifest: BundleManifest = serde_json::from_str(text).map_err(|err| {
        ExportError::Since(format!("the previous bundle's file is not a wharf-bundle.json: {err}"))
    })?;
    if manifest.format != FORMAT {
        return Err(ExportError::Since(format!(
            "the previous bundle's file has format {:?}, not {FORMAT}",
            manifest.format
        )));
    }
    if manifest.customer.id != customer.to_string() {
        return Err(ExportError::Since("the previous bundle's file is another customer's".into()));
    }
    Ok(Previous {
        created_at: manifest.created_at,
        tags: manifest.tags.into_iter().map(|t| (t.repository, t.tag, t.digest)).collect(),
        known: manifest.known.into_iter().collect(),
    })
}

/// An export decided and checked, ready to be written.
#[derive(Debug, Clone)]
pub struct Plan {
    organization_id: Uuid,
    customer_id: Uuid,
    selection: Selection,
    manifest: BundleManifest,
    contents: BTreeMap<String, Content>,
    now: OffsetDateTime,
}

/// Decides what `customer` of `org` gets for `selection` now, or says why it cannot.
pub async fn plan(
    pool: &PgPool,
    org: &Organization,
    customer: &Customer,
    selection: Selection,
) -> Result<Plan, ExportError> {
    let now = OffsetDateTime::now_utc();
    if customer.organization_id != org.id {
        return Err(ExportError::NoSuchRepository(format!(
            "no customer {} in {}",
            customer.id, org.slug
        )));
    }
    if customer.disabled {
        return Err(ExportError::Disabled(customer.name.clone()));
    }
    let since = selection.since.as_deref().map(|text| previous(text, customer.id)).transpose()?;

    // The registry's own decision, without any grace for tags moved earlier.
    let view = EntitlementView::new(pool.clone(), Duration::ZERO);
    let subject = Subject::Customer { org_id: org.id, customer_id: customer.id };
    let entitled = entitled_repositories(pool, &view, customer, now)
        .await
        .map_err(|_| ExportError::Unavailable)?;
    let entitled_names: BTreeSet<&str> = entitled.iter().map(|r| r.name.as_str()).collect();
    for name in &selection.repositories {
        if !entitled_names.contains(name.as_str()) {
            return Err(ExportError::NoSuchRepository(format!(
                "{name}: no such repository among what {} can pull",
                customer.name
            )));
        }
    }
    let chosen: Vec<_> = entitled
        .iter()
        .filter(|r| selection.repositories.is_empty() || selection.repositories.contains(&r.name))
        .collect();
    for tag in &selection.tags {
        if !chosen.iter().any(|r| r.tags.contains(tag)) {
            return Err(ExportError::NoSuchTag(format!(
                "{tag}: no such tag among what {} can pull",
                customer.name
            )));
        }
    }

    let mut bundle_tags = Vec::new();
    let mut contents: BTreeMap<String, Content> = BTreeMap::new();
    let mut configs: HashSet<String> = HashSet::new();
    for entitled in &chosen {
        let set = view
            .set_for(subject, &entitled.name, now)
            .await
            .map_err(|_| ExportError::Unavailable)?;
        let repository = repositories::find(pool, &entitled.name).await?.ok_or_else(|| {
            ExportError::Content(format!("{} vanished during the export", entitled.name))
        })?;
        for (tag, digest) in tags::with_digests(pool, repository.id).await? {
            if !entitled.tags.contains(&tag) || !set.allows_tag(&tag) {
                continue;
            }
            if !selection.tags.is_empty() && !selection.tags.contains(&tag) {
                continue;
            }
            let unchanged = since.as_ref().is_some_and(|p| {
                p.tags.contains(&(entitled.name.clone(), tag.clone(), digest.clone()))
            });
            // The tag's graph: the manifest, its children, their blobs, and the entitled
            // referrers of each manifest, with theirs.
            let mut graph: BTreeMap<String, Content> = BTreeMap::new();
            let mut stack = vec![digest.clone()];
            let mut seen = HashSet::new();
            let mut platforms = Vec::new();
            let mut parts: BTreeMap<String, i64> = BTreeMap::new();
            let mut top_media_type = None;
            let mut top_artifact_type = None;
            let mut manifest_size = 0;
            let mut subjects: BTreeMap<String, String> = BTreeMap::new();
            let mut referrers = Vec::new();
            while let Some(d) = stack.pop() {
                if !seen.insert(d.clone()) || !set.allows_manifest(&d) {
                    continue;
                }
                let Some(view) = manifests::view(pool, repository.id, &d).await? else { continue };
                if d == digest {
                    top_media_type = Some(view.media_type.clone());
                    top_artifact_type.clone_from(&view.artifact_type);
                    manifest_size = view.size;
                    platforms = view.children.iter().filter_map(|c| c.platform.clone()).collect();
                }
                parts.insert(d.clone(), view.size);
                graph.insert(
                    d.clone(),
                    Content::Manifest {
                        repository: entitled.name.clone(),
                        digest: d.clone(),
                        size: u64::try_from(view.size).unwrap_or(0),
                    },
                );
                stack.extend(view.children.iter().map(|c| c.digest.clone()));
                for blob in view.blobs.iter().filter(|b| !b.external && set.allows_blob(&b.digest))
                {
                    parts.insert(blob.digest.clone(), blob.size);
                    if blob.kind == "config" {
                        configs.insert(blob.digest.clone());
                    }
                    graph.entry(blob.digest.clone()).or_insert_with(|| Content::Blob {
                        digest: blob.digest.clone(),
                        size: u64::try_from(blob.size).unwrap_or(0),
                    });
                }
                if let Some(subject) = subjects.get(&d) {
                    referrers.push(BundleReferrer {
                        digest: d.clone(),
                        media_type: view.media_type.clone(),
                        artifact_type: view.artifact_type.clone(),
                        size: view.size,
                        subject: subject.clone(),
                    });
                }
                for referrer in set.referrers(&d) {
                    subjects.entry(referrer.as_str().to_owned()).or_insert_with(|| d.clone());
                    stack.push(referrer.as_str().to_owned());
                }
            }
            // A tag the previous bundle had, pointing at the same manifest, comes again only
            // when it gained a manifest since (a signature or SBOM made later).
            if unchanged
                && since.as_ref().is_some_and(|p| {
                    graph
                        .iter()
                        .all(|(d, c)| !matches!(c, Content::Manifest { .. }) || p.known.contains(d))
                })
            {
                continue;
            }
            for (d, content) in graph {
                contents.entry(d).or_insert(content);
            }
            referrers.sort_by(|a, b| a.digest.cmp(&b.digest));
            bundle_tags.push(BundleTag {
                repository: entitled.name.clone(),
                tag,
                digest,
                media_type: top_media_type.unwrap_or_default(),
                platforms,
                manifest_size,
                size: parts.values().sum(),
                artifact_type: top_artifact_type,
                referrers,
            });
        }
    }
    // An incremental bundle leaves out the layers the customer has; manifests and configs
    // are always in (small, and read from the layout by every import: skopeo reads an
    // image's config even when the registry has it, and every signature shares the empty
    // one).
    if let Some(previous) = &since {
        contents.retain(|digest, content| {
            matches!(content, Content::Manifest { .. })
                || configs.contains(digest)
                || !previous.known.contains(digest)
        });
    }

    let licenses = licenses::list_for_customer(pool, org.id, customer.id)
        .await?
        .into_iter()
        .map(|l| BundleLicense {
            id: l.id,
            name: l.name,
            expires_at: l.expires_at.and_then(|at| at.format(&Rfc3339).ok()),
            suspended: l.suspended,
        })
        .collect();
    let mut known: BTreeSet<String> =
        since.as_ref().map(|p| p.known.iter().cloned().collect()).unwrap_or_default();
    known.extend(contents.keys().cloned());
    let manifest = BundleManifest {
        format: FORMAT.to_owned(),
        created_at: now.format(&Rfc3339).unwrap_or_default(),
        wharf_version: env!("CARGO_PKG_VERSION").to_owned(),
        vendor: Named { id: org.slug.clone(), name: org.name.clone() },
        customer: Named { id: customer.id.to_string(), name: customer.name.clone() },
        licenses,
        since: since.as_ref().map(|p| p.created_at.clone()),
        tags: bundle_tags,
        contents: contents.keys().cloned().collect(),
        known: known.into_iter().collect(),
    };
    Ok(Plan {
        organization_id: org.id,
        customer_id: customer.id,
        selection,
        manifest,
        contents,
        now,
    })
}

impl Plan {
    /// `wharf-bundle.json` as it will be written.
    pub fn manifest(&self) -> &BundleManifest {
        &self.manifest
    }

    /// A file name for the bundle: `<vendor>-<customer>-<date>[-incremental].tar[.zst]`, in
    /// lower-case letters, digits and dashes.
    pub fn file_name(&self) -> String {
        let slug = |text: &str| {
            let mut out = String::new();
            for c in text.chars() {
                if c.is_ascii_alphanumeric() {
                    out.push(c.to_ascii_lowercase());
                } else if !out.ends_with('-') {
                    out.push('-');
                }
            }
            out.trim_matches('-').chars().take(40).collect::<String>()
        };
        let kind = if self.manifest.since.is_some() { "-incremental" } else { "" };
        let zst = match self.selection.compression {
            Compression::None => "",
            Compression::Zstd => ".zst",
        };
        format!(
            "{}-{}-{}{kind}.tar{zst}",
            slug(&self.manifest.vendor.id),
            slug(&self.manifest.customer.name),
            self.now.date()
        )
    }

    /// The files written after the blobs, before `SHA256SUMS`: `index.json`,
    /// `wharf-bundle.json` and `IMPORT.md`.
    fn small_files(&self) -> std::io::Result<[(&'static str, Vec<u8>); 3]> {
        let registry = self.selection.registry.as_deref();
        let index = serde_json::to_vec_pretty(&index_json(&self.manifest, registry))
            .map_err(std::io::Error::other)?;
        let bundle = serde_json::to_vec_pretty(&self.manifest).map_err(std::io::Error::other)?;
        let import = import_md(&self.manifest, registry).into_bytes();
        Ok([("index.json", index), ("wharf-bundle.json", bundle), ("IMPORT.md", import)])
    }

    /// The archive's size in bytes, known before it is written (an HTTP download announces
    /// it, so a cut-short transfer is noticed by the client).
    pub fn archive_size(&self) -> std::io::Result<u64> {
        let entry = |size: u64| tar::BLOCK + size.div_ceil(tar::BLOCK) * tar::BLOCK;
        let layout = entry(LAYOUT.len() as u64);
        let blobs: u64 = self.contents.values().map(|c| entry(c.size())).sum();
        let files = self.small_files()?;
        let small: u64 = files.iter().map(|(_, bytes)| entry(bytes.len() as u64)).sum();
        // `SHA256SUMS`: a line of 64 hex digits, two spaces, the name, per file before it.
        let line = |name: usize| 64 + 2 + name as u64 + 1;
        let blob_name = "blobs/sha256/".len() + 64;
        let sums = line("oci-layout".len())
            + self.contents.len() as u64 * line(blob_name)
            + files.iter().map(|(name, _)| line(name.len())).sum::<u64>();
        Ok(layout + blobs + small + entry(sums) + 2 * tar::BLOCK)
    }

    /// Writes the bundle to `out` as a tar stream; `progress` hears of every blob written
    /// (blobs done, blobs in all, bytes so far).
    pub async fn write<W: AsyncWrite + Unpin>(
        &self,
        pool: &PgPool,
        blobs: &dyn BlobSource,
        out: &mut W,
        mut progress: impl FnMut(usize, usize, u64),
    ) -> Result<Summary, ExportError> {
        let manifest = &self.manifest;
        let mtime = u64::try_from(self.now.unix_timestamp()).unwrap_or(0);
        let mut counter = Counting { inner: out, bytes: 0 };
        let mut sums: Vec<(String, String)> = Vec::new();
        small(&mut counter, "oci-layout", LAYOUT, mtime, &mut sums).await?;
        let total = self.contents.len();
        for (done, content) in self.contents.values().enumerate() {
            let digest = content.digest();
            let hex_part = digest.strip_prefix("sha256:").ok_or_else(|| {
                ExportError::Content(format!("{digest}: only sha256 blobs can be exported"))
            })?;
            let name = format!("blobs/sha256/{hex_part}");
            match content {
                Content::Manifest { repository, digest, .. } => {
                    let stored = manifests::find_by_name(
                        pool,
                        repository,
                        ManifestRef::Digest(digest),
                        true,
                    )
                    .await?
                    .ok_or_else(|| {
                        ExportError::Content(format!(
                            "{repository}@{digest} vanished during the export"
                        ))
                    })?;
                    if hex(&Sha256::digest(&stored.bytes)) != hex_part
                        || stored.bytes.len() as u64 != content.size()
                    {
                        return Err(ExportError::Content(format!(
                            "{repository}@{digest}: the stored bytes do not hash to their digest"
                        )));
                    }
                    tar::entry(&mut counter, &name, &stored.bytes, mtime).await?;
                }
                Content::Blob { digest, .. } => {
                    let read = blobs
                        .open(hex_part)
                        .await
                        .map_err(|err| ExportError::Content(format!("reading {digest}: {err}")))?;
                    if read.size != content.size() {
                        return Err(ExportError::Content(format!(
                            "{digest}: the stored blob has {} bytes, not the {} recorded",
                            read.size,
                            content.size()
                        )));
                    }
                    counter.write_all(&tar::header(&name, read.size, mtime)?).await?;
                    let mut hasher = Sha256::new();
                    let mut stream = read.stream;
                    let mut written = 0u64;
                    while let Some(chunk) = stream.next().await {
                        let chunk = chunk.map_err(|err| {
                            ExportError::Content(format!("reading {digest}: {err}"))
                        })?;
                        hasher.update(&chunk);
                        written += chunk.len() as u64;
                        counter.write_all(&chunk).await?;
                    }
                    if written != read.size || hex(&hasher.finalize()) != hex_part {
                        return Err(ExportError::Content(format!(
                            "{digest}: the stored blob does not hash to its digest; the bundle is incomplete"
                        )));
                    }
                    counter.write_all(tar::padding(read.size)).await?;
                }
            }
            sums.push((hex_part.to_owned(), name));
            progress(done + 1, total, counter.bytes);
        }
        let mut bundle_digest = String::new();
        for (name, bytes) in self.small_files()? {
            if name == "wharf-bundle.json" {
                bundle_digest = format!("sha256:{}", hex(&Sha256::digest(&bytes)));
            }
            small(&mut counter, name, &bytes, mtime, &mut sums).await?;
        }
        let sums_text: String = sums.iter().map(|(sum, name)| format!("{sum}  {name}\n")).collect();
        tar::entry(&mut counter, "SHA256SUMS", sums_text.as_bytes(), mtime).await?;
        tar::finish(&mut counter).await?;
        if counter.bytes != self.archive_size()? {
            tracing::error!(
                written = counter.bytes,
                "export: the archive's size differs from the one announced"
            );
        }
        Ok(Summary {
            tags: manifest.tags.len(),
            blobs: manifest.contents.len(),
            bytes: counter.bytes,
            bundle_digest,
        })
    }
}

/// How much of the archive may wait between the export and a slow reader.
const STREAM_BUFFER: usize = 256 * 1024;

/// Writes `plan` in a task of its own and hands its bytes out as a stream, for an HTTP
/// download: the task waits while the reader is slow (at most [`STREAM_BUFFER`] bytes wait
/// between them) and stops when the reader goes away. An export that fails midway ends the
/// stream with an error, so that the answer is cut short rather than ending as if complete.
/// A finished export is recorded ([`record`]) as made `by`.
pub fn stream(
    pool: PgPool,
    blobs: Arc<dyn BlobSource>,
    plan: Plan,
    by: Exporter,
) -> BoxStream<'static, std::io::Result<Bytes>> {
    let (writer, reader) = tokio::io::duplex(STREAM_BUFFER);
    let (done, outcome) = tokio::sync::oneshot::channel::<Result<(), String>>();
    tokio::spawn(async move {
        let result = match plan.selection.compression {
            Compression::None => {
                let mut writer = writer;
                plan.write(&pool, blobs.as_ref(), &mut writer, |_, _, _| {}).await
            }
            Compression::Zstd => {
                let mut encoder = async_compression::tokio::write::ZstdEncoder::new(writer);
                match plan.write(&pool, blobs.as_ref(), &mut encoder, |_, _, _| {}).await {
                    // The frame's end is written on shutdown.
                    Ok(summary) => {
                        encoder.shutdown().await.map(|()| summary).map_err(ExportError::Write)
                    }
                    Err(err) => Err(err),
                }
            }
        };
        let result = match result {
            Ok(summary) => {
                record(&pool, &by, &plan, &summary).await;
                Ok(())
            }
            Err(ExportError::Write(err)) => Err(format!("the download was cut: {err}")),
            Err(err) => {
                tracing::error!(customer = %plan.customer_id, "export failed: {err}");
                Err(err.to_string())
            }
        };
        let _ = done.send(result);
    });
    let tail = futures_util::stream::once(async move {
        match outcome.await {
            Ok(Ok(())) => None,
            Ok(Err(message)) => Some(Err(std::io::Error::other(message))),
            Err(_) => Some(Err(std::io::Error::other("the export stopped"))),
        }
    })
    .filter_map(std::future::ready);
    tokio_util::io::ReaderStream::with_capacity(reader, 64 * 1024).chain(tail).boxed()
}

/// The headers of a bundle download, saved under [`Plan::file_name`], never cached: a tar
/// of the exact size, or (zstd) `application/zstd` of a size unknown in advance, sent
/// chunked.
pub fn download_headers(plan: &Plan) -> std::io::Result<http::HeaderMap> {
    use http::header::{self, HeaderValue};
    let mut headers = http::HeaderMap::new();
    match plan.selection.compression {
        Compression::None => {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-tar"));
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(plan.archive_size()?));
        }
        Compression::Zstd => {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/zstd"));
        }
    }
    let disposition = format!("attachment; filename=\"{}\"", plan.file_name());
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&disposition).map_err(std::io::Error::other)?,
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(headers)
}

/// Who made an export, for the audit log.
#[derive(Debug, Clone)]
pub struct Exporter {
    /// `operator`, `user` or `token`.
    pub kind: &'static str,
    /// The user or token, when not the operator.
    pub id: Option<Uuid>,
    /// A name, for the operator.
    pub name: Option<String>,
    /// Where the request came from, when it came over HTTP.
    pub client_addr: Option<String>,
    /// Its `User-Agent`.
    pub user_agent: Option<String>,
    /// Its `X-Request-Id`.
    pub request_id: Option<String>,
}

impl Exporter {
    /// `actor`, with the origin of its request as the audit log records it.
    pub fn of(actor: &Actor, audit: &AuditLog) -> Self {
        let origin = audit.origin(&actor.request);
        let (kind, id) = match (actor.token_id, actor.user_id) {
            (Some(token), _) => ("token", Some(token)),
            (None, user) => ("user", user),
        };
        Self {
            kind,
            id,
            name: None,
            client_addr: origin.client_addr,
            user_agent: origin.user_agent,
            request_id: origin.request_id,
        }
    }
}

/// Records a finished export: one audit entry (`bundle.export`: who, for which customer,
/// the selection, the size, the digest of `wharf-bundle.json`), and one pull of each
/// exported tag in analytics (client `export`). Written now: the export is reported done
/// only once it is on record. A failed write is logged; the bundle was made.
pub async fn record(pool: &PgPool, by: &Exporter, plan: &Plan, summary: &Summary) {
    let manifest = &plan.manifest;
    let entry = NewAuditEntry {
        actor_name: by.name.clone(),
        client_addr: by.client_addr.clone(),
        user_agent: by.user_agent.clone(),
        request_id: by.request_id.clone(),
        ..NewAuditEntry::success(
            Some(plan.organization_id),
            by.kind,
            by.id,
            "bundle.export",
            format!("customer:{}", manifest.customer.id),
            Some(manifest.customer.name.clone()),
            serde_json::json!({
                "repositories": plan.selection.repositories,
                "tags": plan.selection.tags,
                "since": manifest.since,
                "compression": plan.selection.compression.as_str(),
                "exported_tags": summary.tags,
                "blobs": summary.blobs,
                "bytes": summary.bytes,
                "bundle": summary.bundle_digest,
            }),
        )
    };
    if let Err(err) = wharf_db::audit::append(pool, &[entry]).await {
        tracing::error!("cannot write the audit log: {err}");
    }
    let pulls: Vec<NewPullEvent> = manifest
        .tags
        .iter()
        .map(|t| NewPullEvent {
            id: Uuid::now_v7(),
            at: plan.now,
            organization_id: plan.organization_id,
            customer_id: Some(plan.customer_id),
            // An export is no token's pull: the nil id names none.
            token_id: Uuid::nil(),
            repository: t.repository.clone(),
            reference: t.tag.clone(),
            tag: Some(t.tag.clone()),
            digest: t.digest.clone(),
            media_type: t.media_type.clone(),
            client_addr: by.client_addr.clone(),
            user_agent: by.user_agent.clone(),
            client_kind: CLIENT_KIND,
            requests: 1,
        })
        .collect();
    if let Err(err) = wharf_db::usage::insert_pull_events(pool, &pulls).await {
        tracing::error!("cannot count the export's pulls: {err}");
    }
}

/// `index.json`: one entry per exported tag, named `<repository>:<tag>` (and with the full
/// reference for containerd when the registry is known), then one per referrer, named
/// `<repository>@<digest>`, so that skopeo can address it (`oci:DIR:<repository>@<digest>`)
/// and oras finds it as a predecessor of its subject (`oras cp -r`).
fn index_json(manifest: &BundleManifest, registry: Option<&str>) -> serde_json::Value {
    let mut entries: Vec<serde_json::Value> = manifest
        .tags
        .iter()
        .map(|t| {
            let name = format!("{}:{}", t.repository, t.tag);
            let mut annotations = serde_json::json!({"org.opencontainers.image.ref.name": name});
            if let Some(registry) = registry {
                annotations["io.containerd.image.name"] = format!("{registry}/{name}").into();
            }
            serde_json::json!({
                "mediaType": t.media_type,
                "digest": t.digest,
                "size": t.manifest_size,
                "annotations": annotations,
            })
        })
        .collect();
    for (repository, referrer) in referrers(manifest) {
        let mut entry = serde_json::json!({
            "mediaType": referrer.media_type,
            "digest": referrer.digest,
            "size": referrer.size,
            "annotations": {
                "org.opencontainers.image.ref.name": format!("{repository}@{}", referrer.digest),
            },
        });
        if let Some(artifact_type) = &referrer.artifact_type {
            entry["artifactType"] = artifact_type.as_str().into();
        }
        entries.push(entry);
    }
    serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": entries})
}

/// Every referrer of the bundle once, with its repository, in the order of the tags.
fn referrers(manifest: &BundleManifest) -> Vec<(&str, &BundleReferrer)> {
    let mut seen = HashSet::new();
    manifest
        .tags
        .iter()
        .flat_map(|t| t.referrers.iter().map(move |r| (t.repository.as_str(), r)))
        .filter(|(repository, r)| seen.insert((*repository, r.digest.as_str())))
        .collect()
}

/// A Helm chart's config media type.
const HELM_CONFIG: &str = "application/vnd.cncf.helm.config.v1+json";

/// `IMPORT.md`: the commands that import this bundle into the customer's registry, each one
/// to run as it is, in the directory the archive was unpacked into.
fn import_md(manifest: &BundleManifest, registry: Option<&str>) -> String {
    use std::fmt::Write as _;
    let registry = registry.unwrap_or("REGISTRY");
    let mut text = format!(
        "# Importing this bundle\n\n{} for {}, made {} by Wharf {}.\n\n",
        manifest.vendor.name, manifest.customer.name, manifest.created_at, manifest.wharf_version
    );
    if let Some(since) = &manifest.since {
        let _ = write!(
            text,
            "This bundle is incremental: it follows the bundle made {since}. Import that one first; this one adds to it.\n\n"
        );
    }
    if registry == "REGISTRY" {
        text.push_str("`REGISTRY` below stands for your registry's host (and port): replace it before running a command.\n\n");
    }
    text.push_str(
        "Unpack the archive into an empty directory (`mkdir bundle && tar -xf ARCHIVE -C bundle && cd bundle`) \
         and run every command below in that directory. First check it (a truncated or altered download fails):\n\n\
         ```sh\nsha256sum -c SHA256SUMS\n```\n\n",
    );
    if manifest.tags.is_empty() {
        text.push_str("This bundle holds no new tags: there is nothing to import.\n");
        return text;
    }
    let referrers = referrers(manifest);
    let _ = write!(
        text,
        "## With skopeo\n\nLogged in to your registry (`skopeo login {registry}`), copy each image with all its platforms and its digests unchanged"
    );
    if referrers.is_empty() {
        text.push_str(":\n\n```sh\n");
    } else {
        text.push_str(", then the signatures and SBOMs that refer to them, by digest:\n\n```sh\n");
    }
    for t in &manifest.tags {
        let name = format!("{}:{}", t.repository, t.tag);
        let _ = writeln!(
            text,
            "skopeo copy --all --preserve-digests oci:.:{name} docker://{registry}/{name}"
        );
    }
    for (repository, r) in &referrers {
        let name = format!("{repository}@{}", r.digest);
        let _ = writeln!(
            text,
            "skopeo copy --all --preserve-digests oci:.:{name} docker://{registry}/{name}"
        );
    }
    text.push_str("```\n\nOr the same, reading `wharf-bundle.json` (needs jq):\n\n```sh\n");
    let _ = write!(
        text,
        "jq -r '.tags[] | .repository + \":\" + .tag' wharf-bundle.json | while read -r ref; do\n  \
         skopeo copy --all --preserve-digests \"oci:.:$ref\" \"docker://{registry}/$ref\"\ndone\n\
         jq -r '.tags[] | .repository as $repo | (.referrers // [])[] | $repo + \"@\" + .digest' wharf-bundle.json | sort -u | while read -r ref; do\n  \
         skopeo copy --all --preserve-digests \"oci:.:$ref\" \"docker://{registry}/$ref\"\ndone\n```\n\n"
    );
    let _ = write!(
        text,
        "## With oras\n\nWith oras 1.1 or later, logged in to your registry (`oras login {registry}`); each image is named by its digest in this layout, and `-r` copies its signatures and SBOMs with it. (Wharf's own tests run these lines through oras-py's registry API making the same copy, not through the oras binary.)\n\n```sh\n"
    );
    for t in &manifest.tags {
        let _ = writeln!(
            text,
            "oras cp -r --from-oci-layout .@{digest} {registry}/{repo}:{tag}",
            digest = t.digest,
            repo = t.repository,
            tag = t.tag
        );
    }
    text.push_str("```\n");
    let charts: Vec<&BundleTag> =
        manifest.tags.iter().filter(|t| t.artifact_type.as_deref() == Some(HELM_CONFIG)).collect();
    if !charts.is_empty() {
        let _ = write!(
            text,
            "\n## Helm charts\n\nThe charts travel as the images do, with the commands above. Once copied, Helm takes them from your registry (`helm registry login {registry}` first); to fetch each chart's archive:\n\n```sh\n"
        );
        for t in charts {
            // Helm stores a version's `+` as `_` in the tag.
            let _ = writeln!(
                text,
                "helm pull oci://{registry}/{repo} --version {version}",
                repo = t.repository,
                version = t.tag.replace('_', "+")
            );
        }
        text.push_str("```\n");
    }
    text
}

/// Writes a small file of the bundle and notes its checksum for `SHA256SUMS`.
async fn small<W: AsyncWrite + Unpin>(
    out: &mut W,
    name: &str,
    bytes: &[u8],
    mtime: u64,
    sums: &mut Vec<(String, String)>,
) -> std::io::Result<()> {
    sums.push((hex(&Sha256::digest(bytes)), name.to_owned()));
    tar::entry(out, name, bytes, mtime).await
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Counts what goes through.
struct Counting<'a, W> {
    inner: &'a mut W,
    bytes: u64,
}

impl<W: AsyncWrite + Unpin> AsyncWrite for Counting<'_, W> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let poll = std::pin::Pin::new(&mut *self.inner).poll_write(cx, buf);
        if let std::task::Poll::Ready(Ok(n)) = &poll {
            self.bytes += *n as u64;
        }
        poll
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut *self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut *self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(repository: &str, tag: &str, digest: &str, artifact_type: &str) -> BundleTag {
        BundleTag {
            repository: repository.into(),
            tag: tag.into(),
            digest: digest.into(),
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            platforms: Vec::new(),
            manifest_size: 100,
            size: 1000,
            artifact_type: Some(artifact_type.into()),
            referrers: Vec::new(),
        }
    }

    fn bundle() -> BundleManifest {
        let signature = BundleReferrer {
            digest: "sha256:5151".into(),
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            artifact_type: Some("application/vnd.dev.cosign.artifact.sig.v1+json".into()),
            size: 50,
            subject: "sha256:aaaa".into(),
        };
        let mut web =
            tag("acme/web", "2.0.0", "sha256:aaaa", "application/vnd.oci.image.config.v1+json");
        web.referrers.push(signature.clone());
        // `latest` points at the same manifest: its referrer is listed once.
        let mut latest = web.clone();
        latest.tag = "latest".into();
        BundleManifest {
            format: FORMAT.into(),
            created_at: "2026-12-01T00:00:00Z".into(),
            wharf_version: "0.1.0".into(),
            vendor: Named { id: "acme".into(), name: "Acme".into() },
            customer: Named { id: Uuid::nil().to_string(), name: "Globex".into() },
            licenses: Vec::new(),
            since: None,
            tags: vec![
                web,
                latest,
                tag("acme/charts/web", "1.0.0_build.1", "sha256:cccc", HELM_CONFIG),
            ],
            contents: Vec::new(),
            known: Vec::new(),
        }
    }

    #[test]
    fn the_index_names_each_tag_then_each_referrer_once() {
        let index = index_json(&bundle(), Some("registry.globex.internal"));
        let names: Vec<&str> = index["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["annotations"]["org.opencontainers.image.ref.name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "acme/web:2.0.0",
                "acme/web:latest",
                "acme/charts/web:1.0.0_build.1",
                "acme/web@sha256:5151"
            ]
        );
        let referrer = &index["manifests"][3];
        assert_eq!(referrer["artifactType"], "application/vnd.dev.cosign.artifact.sig.v1+json");
        assert!(referrer["annotations"].get("io.containerd.image.name").is_none());
        assert_eq!(
            index["manifests"][0]["annotations"]["io.containerd.image.name"],
            "registry.globex.internal/acme/web:2.0.0"
        );
    }

    #[test]
    fn import_md_prints_every_command_for_this_bundle() {
        let text = import_md(&bundle(), Some("registry.globex.internal"));
        for line in [
            "skopeo copy --all --preserve-digests oci:.:acme/web:2.0.0 docker://registry.globex.internal/acme/web:2.0.0",
            "skopeo copy --all --preserve-digests oci:.:acme/web@sha256:5151 docker://registry.globex.internal/acme/web@sha256:5151",
            "oras cp -r --from-oci-layout .@sha256:aaaa registry.globex.internal/acme/web:latest",
            // Helm's `_` in a tag is the version's `+`.
            "helm pull oci://registry.globex.internal/acme/charts/web --version 1.0.0+build.1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line}\n{text}");
        }
        assert_eq!(text.matches("oci:.:acme/web@sha256:5151 ").count(), 1, "{text}");
        assert!(!text.contains("REGISTRY"));
        let placeholder = import_md(&bundle(), None);
        assert!(placeholder.contains("docker://REGISTRY/acme/web:2.0.0"));
        assert!(placeholder.contains("`REGISTRY` below stands for your registry"));
    }

    #[test]
    fn bundles_made_before_referrers_were_listed_still_read() {
        let mut old = serde_json::to_value(bundle()).unwrap();
        for t in old["tags"].as_array_mut().unwrap() {
            t.as_object_mut().unwrap().remove("referrers");
            t.as_object_mut().unwrap().remove("artifact_type");
        }
        let read = previous(&old.to_string(), Uuid::nil()).unwrap();
        assert!(read.tags.contains(&("acme/web".into(), "2.0.0".into(), "sha256:aaaa".into())));
    }
}
