//! The `/v2/` URL space parsed once into a typed [`Route`].
//!
//! Repository names contain slashes, so a path is read from the right: the last one or two
//! segments name the endpoint (`manifests/<ref>`, `blobs/<digest>`, `tags/list`, ...) and
//! everything before them is the repository name. A name may itself contain `blobs`,
//! `manifests` or `tags` as components (`/v2/acme/blobs/manifests/x/tags/list` lists the tags
//! of `acme/blobs/manifests/x`).
//!
//! The HTTP method is not considered here; handlers dispatch on `(method, route)`. The path is
//! taken raw (`Uri::path()`): no valid name, tag, digest or upload id needs escaping. Only the
//! last segment is percent-decoded, for clients that send a digest's `:` as `%3A`.

use crate::digest::{Digest, DigestError};
use crate::name::{NameError, Reference, ReferenceError, RepositoryName};

/// One endpoint of the distribution API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/v2/`: API version check (and the authentication challenge).
    Base,
    /// `/v2/_catalog`.
    Catalog,
    /// `/v2/<name>/tags/list`.
    Tags {
        /// Repository.
        name: RepositoryName,
    },
    /// `/v2/<name>/manifests/<reference>`.
    Manifest {
        /// Repository.
        name: RepositoryName,
        /// Tag or digest.
        reference: Reference,
    },
    /// `/v2/<name>/manifests/<reference>` where the reference is neither a digest nor a valid
    /// tag: it names nothing (a read answers `MANIFEST_UNKNOWN`), and cannot be written
    /// (`MANIFEST_INVALID`).
    InvalidManifestReference {
        /// Repository.
        name: RepositoryName,
        /// The reference as requested.
        reference: String,
        /// Why it cannot be a tag.
        error: ReferenceError,
    },
    /// `/v2/<name>/blobs/<digest>`.
    Blob {
        /// Repository.
        name: RepositoryName,
        /// Blob digest.
        digest: Digest,
    },
    /// `/v2/<name>/blobs/uploads/` (the trailing slash is optional).
    UploadStart {
        /// Repository.
        name: RepositoryName,
    },
    /// `/v2/<name>/blobs/uploads/<id>`.
    Upload {
        /// Repository.
        name: RepositoryName,
        /// Upload session id, opaque here (`[A-Za-z0-9._~-]+`); the handler looks it up.
        id: String,
    },
    /// `/v2/<name>/referrers/<digest>`.
    Referrers {
        /// Repository.
        name: RepositoryName,
        /// Digest of the subject manifest.
        digest: Digest,
    },
}

/// Why a path is not a route. Converts into the matching OCI error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// No endpoint has this shape: 404.
    #[error("no such endpoint")]
    NotFound,
    /// The shape is right but the repository name is not: `NAME_INVALID`.
    #[error(transparent)]
    Name(#[from] NameError),
    /// A blob or referrers digest is not usable: `DIGEST_INVALID` or `UNSUPPORTED`.
    #[error(transparent)]
    Digest(#[from] DigestError),
    /// A manifest reference is neither a valid tag nor a usable digest.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// The upload id contains characters no id of ours has: `BLOB_UPLOAD_UNKNOWN`.
    #[error("unknown upload id")]
    UploadUnknown,
}

impl Route {
    /// Parses a request path such as `/v2/acme/app/manifests/1.0`.
    pub fn parse(path: &str) -> Result<Self, RouteError> {
        if path == "/v2" {
            return Ok(Self::Base);
        }
        let rest = path.strip_prefix("/v2/").ok_or(RouteError::NotFound)?;
        match rest {
            "" => return Ok(Self::Base),
            "_catalog" => return Ok(Self::Catalog),
            _ => {}
        }
        let (head, last) = rest.rsplit_once('/').ok_or(RouteError::NotFound)?;
        // Some clients escape the ':' of a digest; nothing valid in the last segment needs
        // escaping, so decoding it changes nothing else.
        let decoded;
        let last = if last.contains('%') {
            decoded = crate::paging::percent_decode(last);
            decoded.as_str()
        } else {
            last
        };
        let (name, keyword) = head.rsplit_once('/').ok_or(RouteError::NotFound)?;
        let repo = || RepositoryName::parse(name);
        match (keyword, last) {
            ("tags", "list") => Ok(Self::Tags { name: repo()? }),
            ("blobs", "uploads") => Ok(Self::UploadStart { name: repo()? }),
            (_, "") if keyword != "uploads" => Err(RouteError::NotFound),
            ("manifests", reference) => {
                let name = repo()?;
                match Reference::parse(reference) {
                    Ok(reference) => Ok(Self::Manifest { name, reference }),
                    Err(error @ ReferenceError::Tag(_)) => Ok(Self::InvalidManifestReference {
                        name,
                        reference: reference.to_owned(),
                        error,
                    }),
                    Err(error) => Err(error.into()),
                }
            }
            ("blobs", digest) => {
                let name = repo()?;
                Ok(Self::Blob { name, digest: Digest::parse(digest)? })
            }
            ("referrers", digest) => {
                let name = repo()?;
                Ok(Self::Referrers { name, digest: Digest::parse(digest)? })
            }
            ("uploads", id) => {
                let (name, blobs) = name.rsplit_once('/').ok_or(RouteError::NotFound)?;
                if blobs != "blobs" {
                    return Err(RouteError::NotFound);
                }
                let name = RepositoryName::parse(name)?;
                if id.is_empty() {
                    return Ok(Self::UploadStart { name });
                }
                if !id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-'))
                {
                    return Err(RouteError::UploadUnknown);
                }
                Ok(Self::Upload { name, id: id.to_owned() })
            }
            _ => Err(RouteError::NotFound),
        }
    }

    /// The path of this route: the inverse of [`Route::parse`]. Use it to build `Location`
    /// headers (`Route::Upload { .. }.path()`, `Route::Blob { .. }.path()`) so that URLs are
    /// spelled in one place. `UploadStart` gets its trailing slash.
    pub fn path(&self) -> String {
        match self {
            Self::Base => "/v2/".to_owned(),
            Self::Catalog => "/v2/_catalog".to_owned(),
            Self::Tags { name } => format!("/v2/{name}/tags/list"),
            Self::Manifest { name, reference } => format!("/v2/{name}/manifests/{reference}"),
            Self::InvalidManifestReference { name, reference, .. } => {
                format!("/v2/{name}/manifests/{reference}")
            }
            Self::Blob { name, digest } => format!("/v2/{name}/blobs/{digest}"),
            Self::UploadStart { name } => format!("/v2/{name}/blobs/uploads/"),
            Self::Upload { name, id } => format!("/v2/{name}/blobs/uploads/{id}"),
            Self::Referrers { name, digest } => format!("/v2/{name}/referrers/{digest}"),
        }
    }

    /// The repository the route addresses, if any (`Base` and `Catalog` have none).
    pub fn name(&self) -> Option<&RepositoryName> {
        match self {
            Self::Base | Self::Catalog => None,
            Self::Tags { name }
            | Self::Manifest { name, .. }
            | Self::InvalidManifestReference { name, .. }
            | Self::Blob { name, .. }
            | Self::UploadStart { name }
            | Self::Upload { name, .. }
            | Self::Referrers { name, .. } => Some(name),
        }
    }
}

/// The first value of `key` in a raw query string, percent-decoded (`+` is kept as is).
///
/// For `?digest=` on upload `PUT`, `?mount=&from=` on upload `POST`, `?artifactType=` on
/// referrers, `?n=&last=` on listings. A key without `=` yields `Some("")`.
pub fn query_param(query: Option<&str>, key: &str) -> Option<String> {
    query?
        .split('&')
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| crate::paging::percent_decode(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn n(s: &str) -> RepositoryName {
        RepositoryName::parse(s).unwrap()
    }

    fn d() -> Digest {
        Digest::parse(D).unwrap()
    }

    fn tag(s: &str) -> Reference {
        Reference::parse(s).unwrap()
    }

    #[test]
    fn parses_every_endpoint() {
        let cases: Vec<(String, Route)> = vec![
            ("/v2".into(), Route::Base),
            ("/v2/".into(), Route::Base),
            ("/v2/_catalog".into(), Route::Catalog),
            ("/v2/acme/app/tags/list".into(), Route::Tags { name: n("acme/app") }),
            (
                "/v2/acme/app/manifests/1.0".into(),
                Route::Manifest { name: n("acme/app"), reference: tag("1.0") },
            ),
            (
                format!("/v2/acme/app/manifests/{D}"),
                Route::Manifest { name: n("acme/app"), reference: Reference::Digest(d()) },
            ),
            (
                format!("/v2/acme/team/app/blobs/{D}"),
                Route::Blob { name: n("acme/team/app"), digest: d() },
            ),
            ("/v2/acme/app/blobs/uploads/".into(), Route::UploadStart { name: n("acme/app") }),
            ("/v2/acme/app/blobs/uploads".into(), Route::UploadStart { name: n("acme/app") }),
            (
                "/v2/acme/app/blobs/uploads/0190b3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b".into(),
                Route::Upload {
                    name: n("acme/app"),
                    id: "0190b3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b".into(),
                },
            ),
            (
                format!("/v2/acme/app/referrers/{D}"),
                Route::Referrers { name: n("acme/app"), digest: d() },
            ),
        ];
        for (path, want) in cases {
            assert_eq!(Route::parse(&path), Ok(want), "{path}");
        }
        // A reference that cannot be a tag is a route of its own (a read answers "unknown",
        // a write "invalid"), and prints back as it came.
        let route = Route::parse("/v2/acme/app/manifests/bad+tag").unwrap();
        assert!(
            matches!(&route, Route::InvalidManifestReference { reference, error: ReferenceError::Tag(_), .. }
                if reference == "bad+tag"),
            "{route:?}"
        );
        assert_eq!(route.path(), "/v2/acme/app/manifests/bad+tag");
    }

    #[test]
    fn names_may_contain_keywords() {
        let cases: Vec<(String, Route)> = vec![
            (
                "/v2/acme/blobs/manifests/x/manifests/latest".into(),
                Route::Manifest { name: n("acme/blobs/manifests/x"), reference: tag("latest") },
            ),
            (
                "/v2/acme/blobs/manifests/x/tags/list".into(),
                Route::Tags { name: n("acme/blobs/manifests/x") },
            ),
            ("/v2/acme/tags/list/tags/list".into(), Route::Tags { name: n("acme/tags/list") }),
            (
                format!("/v2/acme/manifests/blobs/{D}"),
                Route::Blob { name: n("acme/manifests"), digest: d() },
            ),
            (
                "/v2/acme/blobs/uploads/manifests/uploads".into(),
                Route::Manifest { name: n("acme/blobs/uploads"), reference: tag("uploads") },
            ),
            ("/v2/acme/blobs/blobs/uploads/".into(), Route::UploadStart { name: n("acme/blobs") }),
            (
                "/v2/acme/uploads/blobs/uploads/abc".into(),
                Route::Upload { name: n("acme/uploads"), id: "abc".into() },
            ),
            (
                format!("/v2/acme/referrers/referrers/{D}"),
                Route::Referrers { name: n("acme/referrers"), digest: d() },
            ),
        ];
        for (path, want) in cases {
            assert_eq!(Route::parse(&path), Ok(want), "{path}");
        }
        // `_catalog` is not a valid component, so that name is rejected.
        assert!(matches!(Route::parse("/v2/acme/_catalog/tags/list"), Err(RouteError::Name(_))));
    }

    type Check = fn(&RouteError) -> bool;

    #[test]
    fn rejects_bad_paths() {
        use RouteError::*;
        let cases: Vec<(String, Check)> = vec![
            ("/".into(), |e| *e == NotFound),
            ("/v1/".into(), |e| *e == NotFound),
            ("/v2x".into(), |e| *e == NotFound),
            ("/v2/_catalog/".into(), |e| *e == NotFound),
            ("/v2/acme".into(), |e| *e == NotFound),
            ("/v2/acme/app".into(), |e| *e == NotFound),
            ("/v2/acme/app/tags".into(), |e| *e == NotFound),
            ("/v2/acme/app/tags/list/".into(), |e| *e == NotFound),
            ("/v2/acme/app/manifests/".into(), |e| *e == NotFound),
            ("/v2/acme/app/blobs/".into(), |e| *e == NotFound),
            ("/v2/acme/app/referrers/".into(), |e| *e == NotFound),
            ("/v2/acme/app/unknown/x".into(), |e| *e == NotFound),
            ("/v2/acme/app/uploads/x".into(), |e| *e == NotFound),
            ("/v2/tags/list".into(), |e| *e == NotFound),
            // Name errors win over everything else once the shape is known.
            ("/v2/app/tags/list".into(), |e| matches!(e, Name(NameError::MissingOrganization))),
            ("/v2/Acme/app/tags/list".into(), |e| matches!(e, Name(_))),
            ("/v2//app/tags/list".into(), |e| matches!(e, Name(_))),
            ("/v2/app/manifests/sha256:nope".into(), |e| matches!(e, Name(_))),
            ("/v2/acme/app/manifests/sha256:nope".into(), |e| {
                matches!(e, Reference(ReferenceError::Digest(DigestError::Invalid(_))))
            }),
            ("/v2/acme/app/blobs/sha256:abc".into(), |e| {
                matches!(e, Digest(DigestError::Invalid(_)))
            }),
            ("/v2/acme/app/blobs/latest".into(), |e| matches!(e, Digest(DigestError::Invalid(_)))),
            (format!("/v2/acme/app/blobs/blake3:{}", "a".repeat(64)), |e| {
                matches!(e, Digest(DigestError::UnsupportedAlgorithm(_)))
            }),
            ("/v2/acme/app/referrers/nope".into(), |e| matches!(e, Digest(_))),
            ("/v2/acme/app/blobs/uploads/a%20b".into(), |e| *e == UploadUnknown),
            ("/v2/blobs/uploads/abc".into(), |e| *e == NotFound),
            ("/v2/acme/blobs/uploads/abc".into(), |e| matches!(e, Name(_))),
        ];
        for (path, check) in cases {
            let got = Route::parse(&path);
            assert!(got.as_ref().is_err_and(check), "{path}: unexpected {got:?}");
        }
    }

    #[test]
    fn query_params() {
        let q = Some("mount=sha256%3Aabc&from=acme%2Fother&digest=sha256:def&flag");
        assert_eq!(query_param(q, "mount").as_deref(), Some("sha256:abc"));
        assert_eq!(query_param(q, "from").as_deref(), Some("acme/other"));
        assert_eq!(query_param(q, "digest").as_deref(), Some("sha256:def"));
        assert_eq!(query_param(q, "flag").as_deref(), Some(""));
        assert_eq!(query_param(q, "missing"), None);
        assert_eq!(query_param(None, "digest"), None);
        assert_eq!(query_param(Some("a=1&a=2"), "a").as_deref(), Some("1"));
        assert_eq!(query_param(Some("t=a+b"), "t").as_deref(), Some("a+b"));
    }

    fn any_route() -> impl Strategy<Value = Route> {
        let name = proptest::collection::vec(
            prop_oneof![
                "[a-z0-9]{1,4}([._-][a-z0-9]{1,4}){0,2}",
                Just("blobs".to_owned()),
                Just("manifests".to_owned()),
                Just("tags".to_owned()),
                Just("list".to_owned()),
                Just("uploads".to_owned()),
                Just("referrers".to_owned()),
            ],
            2..6,
        )
        .prop_map(|c| RepositoryName::parse(&c.join("/")).unwrap());
        let digest = "[0-9a-f]{64}".prop_map(|h| Digest::parse(&format!("sha256:{h}")).unwrap());
        let reference = prop_oneof![
            "[a-zA-Z0-9_][a-zA-Z0-9._-]{0,20}".prop_map(|t| Reference::parse(&t).unwrap()),
            digest.clone().prop_map(Reference::Digest),
        ];
        prop_oneof![
            Just(Route::Base),
            Just(Route::Catalog),
            name.clone().prop_map(|name| Route::Tags { name }),
            (name.clone(), reference)
                .prop_map(|(name, reference)| Route::Manifest { name, reference }),
            (name.clone(), digest.clone()).prop_map(|(name, digest)| Route::Blob { name, digest }),
            name.clone().prop_map(|name| Route::UploadStart { name }),
            (name.clone(), "[A-Za-z0-9._~-]{1,36}")
                .prop_map(|(name, id)| Route::Upload { name, id }),
            (name, digest).prop_map(|(name, digest)| Route::Referrers { name, digest }),
        ]
    }

    proptest! {
        #[test]
        fn path_round_trips(route in any_route()) {
            prop_assert_eq!(Route::parse(&route.path()), Ok(route));
        }

        #[test]
        fn arbitrary_paths_do_not_panic(rest in "[a-z0-9/._:-]{0,80}|.{0,80}") {
            let _ = Route::parse(&format!("/v2/{rest}"));
        }
    }

    #[test]
    fn name_accessor() {
        assert_eq!(Route::Base.name(), None);
        let r = Route::parse("/v2/acme/app/tags/list").unwrap();
        assert_eq!(r.name().map(RepositoryName::as_str), Some("acme/app"));
    }
}
