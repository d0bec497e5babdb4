//! Facts about one repository, as the database supplies them: current tags, tag history,
//! the manifest graph, push times, and whether the repository is public.
//!
//! Owns the input shapes and the indexes built over them once (tag by name, manifest by
//! digest, referrers by subject, indexes by child, manifests by blob). It makes no decision
//! and does no I/O. Digests are opaque strings here: the registry crate validates them.

use std::{
    borrow::Borrow,
    collections::{BTreeMap, HashMap},
    fmt,
    sync::Arc,
};

use time::OffsetDateTime;

/// A content digest (`sha256:…`), cheap to clone. Not validated here.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(Arc<str>);

impl Digest {
    /// Wraps a digest string.
    #[must_use]
    pub fn new(digest: impl Into<Arc<str>>) -> Self {
        Self(digest.into())
    }

    /// The digest string.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Digest {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Digest {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

impl From<String> for Digest {
    fn from(s: String) -> Self {
        Self::new(s)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", &*self.0)
    }
}

/// A current tag: `name` points at `digest` since `pushed_at` (when the tag was last set to
/// that digest, not when the manifest was first pushed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagFact {
    /// The tag name.
    pub name: String,
    /// The manifest it points at.
    pub digest: Digest,
    /// When the tag was set to this digest.
    pub pushed_at: OffsetDateTime,
}

/// A past tag assignment: `tag` pointed at `digest` from `from` until `until` (a re-tag or a
/// tag deletion ended it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagHistoryFact {
    /// The tag name.
    pub tag: String,
    /// The manifest it pointed at.
    pub digest: Digest,
    /// When the tag was set to this digest (its push time).
    pub from: OffsetDateTime,
    /// When the tag stopped pointing at it.
    pub until: OffsetDateTime,
}

/// What a manifest references.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestContent {
    /// An image index (or manifest list): child manifests.
    Index {
        /// Digests of the child manifests.
        children: Vec<Digest>,
    },
    /// An image or artifact manifest: blobs.
    Image {
        /// The config blob.
        config: Digest,
        /// The layer blobs.
        layers: Vec<Digest>,
    },
}

/// A manifest stored in the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestFact {
    /// Its digest.
    pub digest: Digest,
    /// When it was pushed to this repository.
    pub pushed_at: OffsetDateTime,
    /// Children or blobs.
    pub content: ManifestContent,
    /// The `subject` it refers to, for referrers (signatures, SBOMs, attestations).
    pub subject: Option<Digest>,
    /// Its `artifactType`, if any (carried for the caller's referrers filter).
    pub artifact_type: Option<String>,
}

impl ManifestFact {
    /// Child manifests (empty for an image).
    #[must_use]
    pub fn children(&self) -> &[Digest] {
        match &self.content {
            ManifestContent::Index { children } => children,
            ManifestContent::Image { .. } => &[],
        }
    }

    /// Config and layer blobs (none for an index).
    pub fn blobs(&self) -> impl Iterator<Item = &Digest> {
        let (config, layers): (Option<&Digest>, &[Digest]) = match &self.content {
            ManifestContent::Index { .. } => (None, &[]),
            ManifestContent::Image { config, layers } => (Some(config), layers),
        };
        config.into_iter().chain(layers)
    }
}

/// Everything the decisions need to know about one repository, indexed.
#[derive(Debug, Clone)]
pub struct RepositoryFacts {
    name: String,
    public: bool,
    tags: Vec<TagFact>,
    history: Vec<TagHistoryFact>,
    manifests: HashMap<Digest, ManifestFact>,
    referrers: HashMap<Digest, Vec<Digest>>,
    parents: HashMap<Digest, Vec<Digest>>,
    blob_users: HashMap<Digest, Vec<Digest>>,
}

impl RepositoryFacts {
    /// Indexes the facts of repository `name`. Tag names and manifest digests are expected to
    /// be unique; if not, the last one given wins.
    #[must_use]
    pub fn new(
        name: impl Into<String>,
        public: bool,
        tags: Vec<TagFact>,
        history: Vec<TagHistoryFact>,
        manifests: Vec<ManifestFact>,
    ) -> Self {
        let tags: BTreeMap<String, TagFact> =
            tags.into_iter().map(|t| (t.name.clone(), t)).collect();
        let manifests: HashMap<Digest, ManifestFact> =
            manifests.into_iter().map(|m| (m.digest.clone(), m)).collect();
        let mut referrers: HashMap<Digest, Vec<Digest>> = HashMap::new();
        let mut parents: HashMap<Digest, Vec<Digest>> = HashMap::new();
        let mut blob_users: HashMap<Digest, Vec<Digest>> = HashMap::new();
        for m in manifests.values() {
            if let Some(subject) = &m.subject {
                referrers.entry(subject.clone()).or_default().push(m.digest.clone());
            }
            for child in m.children() {
                parents.entry(child.clone()).or_default().push(m.digest.clone());
            }
            for blob in m.blobs() {
                blob_users.entry(blob.clone()).or_default().push(m.digest.clone());
            }
        }
        for list in
            referrers.values_mut().chain(parents.values_mut()).chain(blob_users.values_mut())
        {
            list.sort();
            list.dedup();
        }
        Self {
            name: name.into(),
            public,
            tags: tags.into_values().collect(),
            history,
            manifests,
            referrers,
            parents,
            blob_users,
        }
    }

    /// The repository name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the vendor made the repository public.
    #[must_use]
    pub fn is_public(&self) -> bool {
        self.public
    }

    /// Current tags, sorted by name.
    #[must_use]
    pub fn tags(&self) -> &[TagFact] {
        &self.tags
    }

    /// The current tag `name`.
    #[must_use]
    pub fn tag(&self, name: &str) -> Option<&TagFact> {
        self.tags
            .binary_search_by(|t| t.name.as_str().cmp(name))
            .ok()
            .and_then(|i| self.tags.get(i))
    }

    /// Past tag assignments.
    #[must_use]
    pub fn history(&self) -> &[TagHistoryFact] {
        &self.history
    }

    /// The manifest `digest`.
    #[must_use]
    pub fn manifest(&self, digest: &str) -> Option<&ManifestFact> {
        self.manifests.get(digest)
    }

    /// All manifests, in no particular order.
    pub fn manifests(&self) -> impl Iterator<Item = &ManifestFact> {
        self.manifests.values()
    }

    /// Manifests whose `subject` is `subject`, sorted by digest.
    #[must_use]
    pub fn referrers_of(&self, subject: &str) -> &[Digest] {
        self.referrers.get(subject).map_or(&[], Vec::as_slice)
    }

    /// Indexes that list `child`, sorted by digest.
    #[must_use]
    pub fn indexes_containing(&self, child: &str) -> &[Digest] {
        self.parents.get(child).map_or(&[], Vec::as_slice)
    }

    /// Manifests that reference the blob `digest` (config or layer), sorted by digest.
    #[must_use]
    pub fn manifests_using_blob(&self, digest: &str) -> &[Digest] {
        self.blob_users.get(digest).map_or(&[], Vec::as_slice)
    }
}
