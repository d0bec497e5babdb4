//! Parsing and validating pushed manifests.
//!
//! Owns the four accepted manifest media types, the choice of the effective media type
//! (`Content-Type`, else the body's `mediaType`), the structural checks of the OCI image spec
//! and Docker schema 2, and the extraction of what the rest of Wharf needs: config and layer
//! descriptors, index children with their platforms, `subject`, the referrers `artifactType`,
//! and annotations.
//!
//! The bytes are never re-serialised: they are stored and served exactly as pushed, and the
//! digest is computed over them. The structs below only read the fields Wharf uses and ignore
//! the rest. This module does not check that referenced blobs or manifests exist: it tells the
//! caller what to look up ([`ParsedManifest::required_blobs`], [`ParsedManifest::children`]).

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::digest::{Algorithm, Digest};
use crate::error::{ErrorCode, OciError};
use crate::name::Reference;

/// Largest manifest accepted on push and served on pull: 4 MiB.
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

/// Docker image manifest, schema 2.
pub const DOCKER_MANIFEST_V2: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// The OCI empty descriptor's media type (`{}`), used as the config of artifacts.
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// Docker's foreign (non-distributable) layer.
pub const DOCKER_FOREIGN_LAYER: &str = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
/// Prefix of the OCI non-distributable layer media types (deprecated in image-spec 1.1).
pub const OCI_NONDISTRIBUTABLE_LAYER_PREFIX: &str =
    "application/vnd.oci.image.layer.nondistributable.";

/// The kind of a manifest, one per accepted media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ManifestKind {
    /// [`DOCKER_MANIFEST_V2`].
    DockerManifest,
    /// [`DOCKER_MANIFEST_LIST`].
    DockerManifestList,
    /// [`OCI_MANIFEST`].
    OciManifest,
    /// [`OCI_INDEX`].
    OciIndex,
}

impl ManifestKind {
    /// The media type, also the `Content-Type` to serve the manifest with.
    pub const fn media_type(self) -> &'static str {
        match self {
            Self::DockerManifest => DOCKER_MANIFEST_V2,
            Self::DockerManifestList => DOCKER_MANIFEST_LIST,
            Self::OciManifest => OCI_MANIFEST,
            Self::OciIndex => OCI_INDEX,
        }
    }

    /// The kind for a media type (exact, ASCII case-insensitive), if accepted.
    pub fn from_media_type(media_type: &str) -> Option<Self> {
        [Self::DockerManifest, Self::DockerManifestList, Self::OciManifest, Self::OciIndex]
            .into_iter()
            .find(|k| k.media_type().eq_ignore_ascii_case(media_type))
    }

    /// True for the index kinds (children are manifests, not blobs).
    pub const fn is_index(self) -> bool {
        matches!(self, Self::DockerManifestList | Self::OciIndex)
    }
}

/// Why a manifest was rejected. Converts to `MANIFEST_INVALID` (400), or 413 for
/// [`ManifestError::TooLarge`] and `UNSUPPORTED` (415) for
/// [`ManifestError::UnsupportedMediaType`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// Larger than [`MAX_MANIFEST_BYTES`].
    #[error("manifest is {size} bytes, the limit is {MAX_MANIFEST_BYTES}")]
    TooLarge {
        /// Size received.
        size: usize,
    },
    /// Not one of the four accepted media types.
    #[error("unsupported manifest media type {0:?}")]
    UnsupportedMediaType(String),
    /// The `Content-Type` header and the body's `mediaType` disagree.
    #[error("Content-Type {header:?} does not match mediaType {field:?} in the manifest")]
    MediaTypeMismatch {
        /// Header value (without parameters).
        header: String,
        /// Body field.
        field: String,
    },
    /// Neither a usable `Content-Type` nor `mediaType`, and the shape says nothing either.
    #[error("cannot tell the manifest media type: no Content-Type and no mediaType field")]
    UnknownMediaType,
    /// Not JSON, or a field of the wrong type.
    #[error("manifest is not valid JSON: {0}")]
    Json(String),
    /// `schemaVersion` missing or not 2.
    #[error("schemaVersion must be 2")]
    SchemaVersion,
    /// A required field is missing.
    #[error("missing required field {0}")]
    Missing(&'static str),
    /// A descriptor is invalid; `at` names it (`config`, `layers[2]`, `manifests[0]`, `subject`).
    #[error("invalid descriptor {at}: {reason}")]
    Descriptor {
        /// Which descriptor.
        at: String,
        /// What is wrong.
        reason: String,
    },
    /// `artifactType` is not a media type.
    #[error("artifactType {0:?} is not a media type")]
    ArtifactType(String),
    /// The document carries a field of the other kind (`manifests` in an image manifest,
    /// `layers` or `config` in an index), so it could be read as both (CVE-2021-41190).
    #[error("ambiguous manifest: {0}")]
    Ambiguous(&'static str),
}

impl From<ManifestError> for OciError {
    fn from(err: ManifestError) -> Self {
        let code = match err {
            ManifestError::TooLarge { .. } => ErrorCode::ManifestTooLarge,
            ManifestError::UnsupportedMediaType(_) => ErrorCode::UnsupportedMediaType,
            _ => ErrorCode::ManifestInvalid,
        };
        OciError::new(code).with_detail(err.to_string())
    }
}

/// A platform of an index child.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Platform {
    /// `os`, e.g. `linux`.
    pub os: String,
    /// `architecture`, e.g. `arm64`.
    pub architecture: String,
    /// `variant`, e.g. `v8`.
    pub variant: Option<String>,
}

/// A validated content descriptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    /// `mediaType`.
    pub media_type: String,
    /// `digest`.
    pub digest: Digest,
    /// `size` in bytes.
    pub size: u64,
    /// `urls`: where the content may also be fetched from.
    pub urls: Vec<String>,
    /// `annotations`.
    pub annotations: BTreeMap<String, String>,
    /// `artifactType` (index children and subjects may carry one).
    pub artifact_type: Option<String>,
    /// `platform` (index children).
    pub platform: Option<Platform>,
}

/// A layer descriptor and whether its blob must be in the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// The descriptor.
    pub descriptor: Descriptor,
    /// True for non-distributable / foreign layer media types and for layers with `urls`:
    /// their content lives elsewhere, so the blob need not exist in the repository.
    pub external: bool,
}

/// What Wharf keeps from a valid manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedManifest {
    /// The effective media type.
    pub kind: ManifestKind,
    /// Digest of the exact bytes, with the algorithm asked for.
    pub digest: Digest,
    /// Size of the bytes.
    pub size: u64,
    /// `config` (image manifests only).
    pub config: Option<Descriptor>,
    /// `layers` (image manifests only), in order.
    pub layers: Vec<Layer>,
    /// `manifests` (indexes only), in order.
    pub children: Vec<Descriptor>,
    /// `subject`, when this manifest refers to another (signature, SBOM, ...).
    pub subject: Option<Descriptor>,
    /// The `artifactType` the referrers API reports: for image manifests the `artifactType`
    /// field, else `config.mediaType`; for indexes the `artifactType` field or none.
    pub artifact_type: Option<String>,
    /// Top-level `annotations`.
    pub annotations: BTreeMap<String, String>,
}

impl ParsedManifest {
    /// The blobs that must exist in the repository before this manifest is accepted: the
    /// config and every non-external layer (`MANIFEST_BLOB_UNKNOWN` otherwise). Indexes have
    /// none; their [`children`](Self::children) must exist as manifests instead.
    pub fn required_blobs(&self) -> impl Iterator<Item = &Digest> {
        self.config
            .iter()
            .map(|c| &c.digest)
            .chain(self.layers.iter().filter(|l| !l.external).map(|l| &l.descriptor.digest))
    }

    /// The descriptor the referrers index lists for this manifest.
    pub fn as_referrer(&self) -> crate::referrers::Referrer {
        crate::referrers::Referrer {
            media_type: self.kind.media_type().to_owned(),
            digest: self.digest.clone(),
            size: self.size,
            artifact_type: self.artifact_type.clone(),
            annotations: self.annotations.clone(),
        }
    }

    /// When the manifest was pushed by digest, checks that the bytes have that digest
    /// (`DIGEST_INVALID` otherwise). Tags always pass.
    pub fn verify_reference(&self, reference: &Reference) -> Result<(), OciError> {
        match reference {
            Reference::Digest(d) if *d != self.digest => {
                Err(OciError::new(ErrorCode::DigestInvalid)
                    .with_detail(format!("manifest digest is {}, not {d}", self.digest)))
            }
            _ => Ok(()),
        }
    }
}

/// The algorithm to digest a pushed manifest with: that of the reference when the client
/// addressed it by digest (so a `sha512:` push gets a sha512 digest), else sha256.
pub fn digest_algorithm_for(reference: &Reference) -> Algorithm {
    match reference {
        Reference::Digest(d) => d.algorithm(),
        Reference::Tag(_) => Algorithm::Sha256,
    }
}

/// The digest of manifest bytes with the given algorithm.
pub fn manifest_digest(bytes: &[u8], algorithm: Algorithm) -> Digest {
    algorithm.digest(bytes)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    schema_version: Option<serde_json::Value>,
    media_type: Option<String>,
    artifact_type: Option<String>,
    config: Option<RawDescriptor>,
    layers: Option<Vec<RawDescriptor>>,
    manifests: Option<Vec<RawDescriptor>>,
    subject: Option<RawDescriptor>,
    annotations: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDescriptor {
    media_type: Option<String>,
    digest: Option<String>,
    size: Option<i64>,
    urls: Option<Vec<String>>,
    annotations: Option<BTreeMap<String, String>>,
    artifact_type: Option<String>,
    platform: Option<RawPlatform>,
}

#[derive(Deserialize)]
struct RawPlatform {
    architecture: Option<String>,
    os: Option<String>,
    variant: Option<String>,
}

/// Content types some clients send that say nothing about the manifest; the body's
/// `mediaType` decides then.
const GENERIC_CONTENT_TYPES: &[&str] =
    &["application/json", "application/octet-stream", "text/plain"];

/// Parses and validates a pushed manifest.
///
/// `content_type` is the request's `Content-Type` (parameters are ignored; absent or generic
/// JSON/octet-stream types defer to the body). The effective media type is the header's,
/// else the body's `mediaType`; when both are present they must agree. A body with neither is
/// read as OCI by shape (`manifests` → index, `config` → manifest). `algorithm` is usually
/// [`digest_algorithm_for`] the request's reference.
pub fn parse_manifest(
    content_type: Option<&str>,
    bytes: &[u8],
    algorithm: Algorithm,
) -> Result<ParsedManifest, ManifestError> {
    if bytes.len() > MAX_MANIFEST_BYTES {
        return Err(ManifestError::TooLarge { size: bytes.len() });
    }
    let header = content_type.map(|ct| ct.split(';').next().unwrap_or("").trim()).filter(|ct| {
        !ct.is_empty() && !GENERIC_CONTENT_TYPES.iter().any(|g| g.eq_ignore_ascii_case(ct))
    });
    if let Some(header) = header
        && ManifestKind::from_media_type(header).is_none()
    {
        return Err(ManifestError::UnsupportedMediaType(header.to_owned()));
    }
    if bytes.trim_ascii_start().first() != Some(&b'{') {
        return Err(ManifestError::Json("a manifest must be a JSON object".into()));
    }
    let raw: RawManifest =
        serde_json::from_slice(bytes).map_err(|e| ManifestError::Json(e.to_string()))?;

    let kind = match (header, raw.media_type.as_deref()) {
        (Some(h), Some(f)) if !h.eq_ignore_ascii_case(f) => {
            return Err(ManifestError::MediaTypeMismatch {
                header: h.to_owned(),
                field: f.to_owned(),
            });
        }
        (Some(t), _) | (None, Some(t)) => ManifestKind::from_media_type(t)
            .ok_or_else(|| ManifestError::UnsupportedMediaType(t.to_owned()))?,
        (None, None) if raw.manifests.is_some() => ManifestKind::OciIndex,
        (None, None) if raw.config.is_some() => ManifestKind::OciManifest,
        (None, None) => return Err(ManifestError::UnknownMediaType),
    };

    // CVE-2021-41190: never store a document another reader could take for the other kind.
    if kind.is_index() {
        if raw.layers.is_some() {
            return Err(ManifestError::Ambiguous("an index must not have `layers`"));
        }
        if raw.config.is_some() {
            return Err(ManifestError::Ambiguous("an index must not have `config`"));
        }
    } else if raw.manifests.is_some() {
        return Err(ManifestError::Ambiguous("an image manifest must not have `manifests`"));
    }

    match &raw.schema_version {
        Some(v) if v.as_u64() == Some(2) => {}
        Some(_) => return Err(ManifestError::SchemaVersion),
        None => return Err(ManifestError::Missing("schemaVersion")),
    }

    if let Some(t) = &raw.artifact_type
        && !t.is_empty()
        && !is_media_type(t)
    {
        return Err(ManifestError::ArtifactType(t.clone()));
    }

    let subject = raw.subject.map(|s| descriptor(s, "subject".to_owned())).transpose()?;

    let mut parsed = ParsedManifest {
        kind,
        digest: algorithm.digest(bytes),
        size: bytes.len() as u64,
        config: None,
        layers: Vec::new(),
        children: Vec::new(),
        subject,
        artifact_type: None,
        annotations: raw.annotations.unwrap_or_default(),
    };

    if kind.is_index() {
        let manifests = raw.manifests.ok_or(ManifestError::Missing("manifests"))?;
        parsed.children = manifests
            .into_iter()
            .enumerate()
            .map(|(i, d)| descriptor(d, format!("manifests[{i}]")))
            .collect::<Result<_, _>>()?;
        parsed.artifact_type = raw.artifact_type.filter(|t| !t.is_empty());
    } else {
        let config =
            descriptor(raw.config.ok_or(ManifestError::Missing("config"))?, "config".to_owned())?;
        parsed.layers = raw
            .layers
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(i, d)| {
                let descriptor = descriptor(d, format!("layers[{i}]"))?;
                let external = !descriptor.urls.is_empty()
                    || descriptor.media_type == DOCKER_FOREIGN_LAYER
                    || descriptor.media_type.starts_with(OCI_NONDISTRIBUTABLE_LAYER_PREFIX);
                Ok(Layer { descriptor, external })
            })
            .collect::<Result<_, ManifestError>>()?;
        parsed.artifact_type =
            raw.artifact_type.filter(|t| !t.is_empty()).or_else(|| Some(config.media_type.clone()));
        parsed.config = Some(config);
    }
    Ok(parsed)
}

/// A light RFC 6838 check: `type/subtype`, each non-empty, no whitespace or control
/// characters. Deliberately lenient: artifact authors invent many media types.
fn is_media_type(s: &str) -> bool {
    match s.split_once('/') {
        Some((t, sub)) => {
            !t.is_empty()
                && !sub.is_empty()
                && !sub.contains('/')
                && s.bytes().all(|b| b.is_ascii_graphic())
        }
        None => false,
    }
}

fn descriptor(raw: RawDescriptor, at: String) -> Result<Descriptor, ManifestError> {
    let fail = |reason: String| ManifestError::Descriptor { at: at.clone(), reason };
    let media_type = raw.media_type.ok_or_else(|| fail("mediaType is required".into()))?;
    if !is_media_type(&media_type) {
        return Err(fail(format!("mediaType {media_type:?} is not a media type")));
    }
    let digest = raw.digest.ok_or_else(|| fail("digest is required".into()))?;
    let digest = Digest::parse(&digest).map_err(|e| fail(e.to_string()))?;
    let size = raw.size.ok_or_else(|| fail("size is required".into()))?;
    let size = u64::try_from(size).map_err(|_| fail(format!("size {size} is negative")))?;
    if let Some(t) = &raw.artifact_type
        && !t.is_empty()
        && !is_media_type(t)
    {
        return Err(fail(format!("artifactType {t:?} is not a media type")));
    }
    let platform = match raw.platform {
        None => None,
        Some(p) => Some(Platform {
            os: p
                .os
                .filter(|s| !s.is_empty())
                .ok_or_else(|| fail("platform.os is required".into()))?,
            architecture: p
                .architecture
                .filter(|s| !s.is_empty())
                .ok_or_else(|| fail("platform.architecture is required".into()))?,
            variant: p.variant.filter(|s| !s.is_empty()),
        }),
    };
    Ok(Descriptor {
        media_type,
        digest,
        size,
        urls: raw.urls.unwrap_or_default(),
        annotations: raw.annotations.unwrap_or_default(),
        artifact_type: raw.artifact_type.filter(|t| !t.is_empty()),
        platform,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn d(c: char) -> String {
        format!("sha256:{}", c.to_string().repeat(64))
    }

    fn parse(ct: Option<&str>, v: &serde_json::Value) -> Result<ParsedManifest, ManifestError> {
        parse_manifest(ct, &serde_json::to_vec_pretty(v).unwrap(), Algorithm::Sha256)
    }

    fn docker_manifest() -> serde_json::Value {
        json!({
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST_V2,
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 1469,
                "digest": d('c')
            },
            "layers": [
                {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 2811478, "digest": d('1')},
                {"mediaType": DOCKER_FOREIGN_LAYER, "size": 100, "digest": d('2'),
                 "urls": ["https://mcr.microsoft.com/v2/windows/blobs/x"]}
            ]
        })
    }

    fn oci_manifest() -> serde_json::Value {
        json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": d('c'),
                "size": 7023
            },
            "layers": [
                {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d('1'), "size": 32654},
                {"mediaType": "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", "digest": d('2'), "size": 16724},
                {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d('3'), "size": 73109,
                 "urls": ["https://example.com/layer"]}
            ],
            "annotations": {"com.example.key1": "value1"},
            "x-unknown-field": {"ignored": true}
        })
    }

    fn oci_index() -> serde_json::Value {
        json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {"mediaType": OCI_MANIFEST, "size": 7143, "digest": d('a'),
                 "platform": {"architecture": "ppc64le", "os": "linux"}},
                {"mediaType": OCI_MANIFEST, "size": 7682, "digest": d('b'),
                 "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}},
                {"mediaType": OCI_INDEX, "size": 500, "digest": d('e')}
            ],
            "annotations": {"com.example.key1": "value1"}
        })
    }

    /// CVE-2021-41190: a document that could be read as a manifest and as an index is
    /// refused, whichever way it is pushed, before anything is stored.
    #[test]
    fn ambiguous_documents_are_refused_whatever_they_claim_to_be() {
        let mut both = oci_manifest();
        both["manifests"] = oci_index()["manifests"].clone();
        for ct in [Some(OCI_MANIFEST), Some(OCI_INDEX), None] {
            let mut doc = both.clone();
            if let Some(ct) = ct {
                doc["mediaType"] = json!(ct);
            } else {
                doc.as_object_mut().unwrap().remove("mediaType");
            }
            let err = parse(ct, &doc).unwrap_err();
            assert!(matches!(err, ManifestError::Ambiguous(_)), "{ct:?}: {err:?}");
            assert_eq!(OciError::from(err).code(), ErrorCode::ManifestInvalid);
        }
        let mut index_with_config = oci_index();
        index_with_config["config"] = oci_manifest()["config"].clone();
        let err = parse(Some(OCI_INDEX), &index_with_config).unwrap_err();
        assert!(matches!(err, ManifestError::Ambiguous(_)), "{err:?}");
        let mut docker_with_manifests = docker_manifest();
        docker_with_manifests["manifests"] = json!([]);
        let err = parse(Some(DOCKER_MANIFEST_V2), &docker_with_manifests).unwrap_err();
        assert!(matches!(err, ManifestError::Ambiguous(_)), "{err:?}");
        // What is only one thing stays fine.
        assert!(parse(Some(OCI_MANIFEST), &oci_manifest()).is_ok());
        assert!(parse(Some(OCI_INDEX), &oci_index()).is_ok());
    }

    #[test]
    fn docker_schema2_manifest() {
        let bytes = serde_json::to_vec(&docker_manifest()).unwrap();
        let m = parse_manifest(Some(DOCKER_MANIFEST_V2), &bytes, Algorithm::Sha256).unwrap();
        assert_eq!(m.kind, ManifestKind::DockerManifest);
        assert_eq!(m.digest, Algorithm::Sha256.digest(&bytes));
        assert_eq!(m.size, bytes.len() as u64);
        assert_eq!(m.config.as_ref().unwrap().size, 1469);
        assert_eq!(m.layers.len(), 2);
        assert!(!m.layers[0].external);
        assert!(m.layers[1].external);
        assert_eq!(m.required_blobs().map(Digest::to_string).collect::<Vec<_>>(), [d('c'), d('1')]);
        assert_eq!(
            m.artifact_type.as_deref(),
            Some("application/vnd.docker.container.image.v1+json")
        );
    }

    #[test]
    fn docker_manifest_list() {
        let list = json!({
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST_LIST,
            "manifests": [
                {"mediaType": DOCKER_MANIFEST_V2, "size": 7143, "digest": d('a'),
                 "platform": {"architecture": "amd64", "os": "linux", "features": ["sse4"]}}
            ]
        });
        let m = parse(Some(DOCKER_MANIFEST_LIST), &list).unwrap();
        assert_eq!(m.kind, ManifestKind::DockerManifestList);
        assert_eq!(m.children.len(), 1);
        assert_eq!(
            m.children[0].platform,
            Some(Platform { os: "linux".into(), architecture: "amd64".into(), variant: None })
        );
        assert_eq!(m.artifact_type, None);
        assert_eq!(m.required_blobs().count(), 0);
    }

    #[test]
    fn oci_image_manifest() {
        let m = parse(Some(OCI_MANIFEST), &oci_manifest()).unwrap();
        assert_eq!(m.kind, ManifestKind::OciManifest);
        assert_eq!(m.layers.iter().map(|l| l.external).collect::<Vec<_>>(), [false, true, true]);
        assert_eq!(m.required_blobs().map(Digest::to_string).collect::<Vec<_>>(), [d('c'), d('1')]);
        assert_eq!(m.annotations["com.example.key1"], "value1");
        assert_eq!(m.artifact_type.as_deref(), Some("application/vnd.oci.image.config.v1+json"));
        assert_eq!(m.subject, None);
    }

    #[test]
    fn oci_index_with_nested_index() {
        let m = parse(Some(OCI_INDEX), &oci_index()).unwrap();
        assert_eq!(m.kind, ManifestKind::OciIndex);
        assert_eq!(m.children.len(), 3);
        assert_eq!(m.children[1].platform.as_ref().unwrap().variant.as_deref(), Some("v8"));
        assert_eq!(m.children[2].media_type, OCI_INDEX);
        assert_eq!(m.children[2].platform, None);
        assert_eq!(m.artifact_type, None);
        assert!(m.config.is_none() && m.layers.is_empty());
    }

    #[test]
    fn artifact_with_empty_config_and_subject() {
        let sbom = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": "application/vnd.example.sbom.v1",
            "config": {"mediaType": OCI_EMPTY, "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", "size": 2, "data": "e30="},
            "layers": [{"mediaType": "application/spdx+json", "digest": d('5'), "size": 1234}],
            "subject": {"mediaType": OCI_MANIFEST, "digest": d('9'), "size": 7682},
            "annotations": {"org.opencontainers.image.created": "2024-01-01T00:00:00Z"}
        });
        let m = parse(Some(OCI_MANIFEST), &sbom).unwrap();
        assert_eq!(m.artifact_type.as_deref(), Some("application/vnd.example.sbom.v1"));
        let subject = m.subject.as_ref().unwrap();
        assert_eq!(subject.digest.to_string(), d('9'));
        assert_eq!(m.required_blobs().count(), 2);
        let referrer = m.as_referrer();
        assert_eq!(referrer.media_type, OCI_MANIFEST);
        assert_eq!(referrer.digest, m.digest);
        assert_eq!(referrer.annotations.len(), 1);
    }

    #[test]
    fn artifact_type_falls_back_to_config_media_type() {
        // Helm chart: no artifactType, the config media type says what it is.
        let chart = json!({
            "schemaVersion": 2,
            "config": {"mediaType": "application/vnd.cncf.helm.config.v1+json", "digest": d('c'), "size": 117},
            "layers": [{"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip", "digest": d('1'), "size": 3000}]
        });
        let m = parse(Some(OCI_MANIFEST), &chart).unwrap();
        assert_eq!(m.artifact_type.as_deref(), Some("application/vnd.cncf.helm.config.v1+json"));
        // An empty artifactType counts as missing.
        let mut empty = chart.clone();
        empty["artifactType"] = json!("");
        let m = parse(Some(OCI_MANIFEST), &empty).unwrap();
        assert_eq!(m.artifact_type.as_deref(), Some("application/vnd.cncf.helm.config.v1+json"));
        // Even the empty config media type is reported when nothing else is there (the spec's rule).
        let mut bare = chart;
        bare["config"]["mediaType"] = json!(OCI_EMPTY);
        let m = parse(Some(OCI_MANIFEST), &bare).unwrap();
        assert_eq!(m.artifact_type.as_deref(), Some(OCI_EMPTY));
    }

    #[test]
    fn index_artifact_type() {
        let mut index = oci_index();
        index["artifactType"] = json!("application/vnd.example.bundle.v1");
        index["subject"] = json!({"mediaType": OCI_MANIFEST, "digest": d('9'), "size": 1});
        let m = parse(None, &index).unwrap();
        assert_eq!(m.artifact_type.as_deref(), Some("application/vnd.example.bundle.v1"));
        assert!(m.subject.is_some());
    }

    #[test]
    fn effective_media_type() {
        // Header only (no mediaType field).
        let mut no_field = oci_manifest();
        no_field.as_object_mut().unwrap().remove("mediaType");
        assert_eq!(parse(Some(OCI_MANIFEST), &no_field).unwrap().kind, ManifestKind::OciManifest);
        // Field only, and generic or parameterised headers.
        for ct in [None, Some("application/json"), Some(""), Some("application/octet-stream")] {
            assert_eq!(parse(ct, &oci_index()).unwrap().kind, ManifestKind::OciIndex, "{ct:?}");
        }
        assert_eq!(
            parse(Some("application/vnd.oci.image.index.v1+json; charset=utf-8"), &oci_index())
                .unwrap()
                .kind,
            ManifestKind::OciIndex
        );
        // Neither: inferred from shape.
        assert_eq!(parse(None, &no_field).unwrap().kind, ManifestKind::OciManifest);
        let mut bare_index = oci_index();
        bare_index.as_object_mut().unwrap().remove("mediaType");
        assert_eq!(parse(None, &bare_index).unwrap().kind, ManifestKind::OciIndex);
        assert_eq!(parse(None, &json!({"schemaVersion": 2})), Err(ManifestError::UnknownMediaType));
    }

    #[test]
    fn mismatched_media_types() {
        assert_eq!(
            parse(Some(OCI_INDEX), &oci_manifest()),
            Err(ManifestError::MediaTypeMismatch {
                header: OCI_INDEX.into(),
                field: OCI_MANIFEST.into()
            })
        );
        assert!(matches!(
            parse(Some(OCI_MANIFEST), &docker_manifest()),
            Err(ManifestError::MediaTypeMismatch { .. })
        ));
    }

    #[test]
    fn unsupported_media_types() {
        let schema1 = "application/vnd.docker.distribution.manifest.v1+prettyjws";
        let err = parse(Some(schema1), &oci_manifest()).unwrap_err();
        assert_eq!(err, ManifestError::UnsupportedMediaType(schema1.into()));
        let oci: OciError = err.into();
        assert_eq!(oci.status(), http::StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let mut odd = oci_manifest();
        odd["mediaType"] = json!("application/vnd.example.thing+json");
        assert!(matches!(parse(None, &odd), Err(ManifestError::UnsupportedMediaType(_))));
    }

    #[test]
    fn invalid_manifests() {
        let cases: Vec<(serde_json::Value, &str)> = vec![
            (
                json!({"mediaType": OCI_MANIFEST, "config": oci_manifest()["config"]}),
                "missing required field schemaVersion",
            ),
            (
                {
                    let mut m = oci_manifest();
                    m["schemaVersion"] = json!(1);
                    m
                },
                "schemaVersion must be 2",
            ),
            (
                {
                    let mut m = oci_manifest();
                    m["schemaVersion"] = json!("2");
                    m
                },
                "schemaVersion must be 2",
            ),
            (
                {
                    let mut m = oci_manifest();
                    m.as_object_mut().unwrap().remove("config");
                    m
                },
                "missing required field config",
            ),
            (
                {
                    let mut m = oci_index();
                    m.as_object_mut().unwrap().remove("manifests");
                    m
                },
                "missing required field manifests",
            ),
            (
                {
                    let mut m = oci_manifest();
                    m["config"].as_object_mut().unwrap().remove("digest");
                    m
                },
                "invalid descriptor config: digest is required",
            ),
            (
                {
                    let mut m = oci_manifest();
                    m["config"].as_object_mut().unwrap().remove("mediaType");
                    m
                },
                "invalid descriptor config: mediaType is required",
            ),
            (
                {
                    let mut m = oci_manifest();
                    m["layers"][1].as_object_mut().unwrap().remove("size");
                    m
                },
                "invalid descriptor layers[1]: size is required",
            ),
            (
                {
                    let mut m = oci_manifest();
                    m["layers"][0]["size"] = json!(-1);
                    m
                },
                "invalid descriptor layers[0]: size -1 is negative",
            ),
            (
                {
                    let mut m = oci_manifest();
                    m["layers"][2]["digest"] = json!("sha256:abc");
                    m
                },
                "invalid descriptor layers[2]: invalid digest: encoded part has the wrong length",
            ),
            (
                {
                    let mut m = oci_manifest();
                    m["layers"][0]["mediaType"] = json!("tarball");
                    m
                },
                "invalid descriptor layers[0]: mediaType \"tarball\" is not a media type",
            ),
            (
                {
                    let mut m = oci_index();
                    m["manifests"][0]["platform"] = json!({"os": "linux"});
                    m
                },
                "invalid descriptor manifests[0]: platform.architecture is required",
            ),
            (
                {
                    let mut m = oci_manifest();
                    m["subject"] = json!({"mediaType": OCI_MANIFEST, "size": 1});
                    m
                },
                "invalid descriptor subject: digest is required",
            ),
            (
                {
                    let mut m = oci_manifest();
                    m["artifactType"] = json!("not a type");
                    m
                },
                "artifactType \"not a type\" is not a media type",
            ),
        ];
        for (manifest, want) in cases {
            let err = parse(None, &manifest).unwrap_err();
            assert_eq!(err.to_string(), want);
            let oci: OciError = err.into();
            assert_eq!(oci.code(), ErrorCode::ManifestInvalid);
            assert_eq!(oci.status(), http::StatusCode::BAD_REQUEST);
        }
    }

    #[test]
    fn wrong_json() {
        for bytes in [
            &b""[..],
            b"[]",
            b"[2,null,null,null,null,null,null,null]",
            b"{",
            b"null",
            b"{\"schemaVersion\":2,\"config\":{\"size\":\"12\"}}",
        ] {
            assert!(matches!(
                parse_manifest(Some(OCI_MANIFEST), bytes, Algorithm::Sha256),
                Err(ManifestError::Json(_))
            ));
        }
        // Duplicate keys are refused rather than resolved one way or the other.
        let dup = br#"{"schemaVersion":2,"schemaVersion":2,"config":{}}"#;
        assert!(matches!(
            parse_manifest(None, dup, Algorithm::Sha256),
            Err(ManifestError::Json(_))
        ));
    }

    #[test]
    fn oversize() {
        let mut bytes = serde_json::to_vec(&oci_manifest()).unwrap();
        let pad = MAX_MANIFEST_BYTES - bytes.len();
        // Pad with whitespace up to exactly the limit: still accepted.
        bytes.splice(1..1, std::iter::repeat_n(b' ', pad));
        assert_eq!(bytes.len(), MAX_MANIFEST_BYTES);
        assert!(parse_manifest(Some(OCI_MANIFEST), &bytes, Algorithm::Sha256).is_ok());
        bytes.insert(1, b' ');
        let err = parse_manifest(Some(OCI_MANIFEST), &bytes, Algorithm::Sha256).unwrap_err();
        assert_eq!(err, ManifestError::TooLarge { size: MAX_MANIFEST_BYTES + 1 });
        let oci: OciError = err.into();
        assert_eq!(oci.status(), http::StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(oci.code().as_str(), "MANIFEST_INVALID");
    }

    #[test]
    fn digests_exact_bytes_with_requested_algorithm() {
        let compact = serde_json::to_vec(&oci_manifest()).unwrap();
        let pretty = serde_json::to_vec_pretty(&oci_manifest()).unwrap();
        let a = parse_manifest(None, &compact, Algorithm::Sha256).unwrap();
        let b = parse_manifest(None, &pretty, Algorithm::Sha256).unwrap();
        assert_ne!(a.digest, b.digest);
        let c = parse_manifest(None, &compact, Algorithm::Sha512).unwrap();
        assert_eq!(c.digest, manifest_digest(&compact, Algorithm::Sha512));
        assert_eq!(c.digest.algorithm(), Algorithm::Sha512);

        let by_digest = Reference::Digest(c.digest.clone());
        assert_eq!(digest_algorithm_for(&by_digest), Algorithm::Sha512);
        assert!(c.verify_reference(&by_digest).is_ok());
        let tag = Reference::parse("1.0").unwrap();
        assert_eq!(digest_algorithm_for(&tag), Algorithm::Sha256);
        assert!(a.verify_reference(&tag).is_ok());
        let err = a.verify_reference(&Reference::Digest(b.digest.clone())).unwrap_err();
        assert_eq!(err.code(), ErrorCode::DigestInvalid);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_manifest(None, &bytes, Algorithm::Sha256);
            let _ = parse_manifest(Some(OCI_MANIFEST), &bytes, Algorithm::Sha256);
        }

        #[test]
        fn mutated_manifests_never_panic(
            pos in any::<prop::sample::Index>(),
            byte in any::<u8>(),
        ) {
            let mut bytes = serde_json::to_vec(&oci_manifest()).unwrap();
            let i = pos.index(bytes.len());
            bytes[i] = byte;
            let _ = parse_manifest(None, &bytes, Algorithm::Sha256);
        }
    }
}
