//! Names and fixed values of the protocol's HTTP headers, so handlers spell them once.
//!
//! Values that depend on data (`Range`, `Content-Range`, `Link`, `WWW-Authenticate`) are built
//! by [`crate::paging`] and [`crate::error`].

use http::HeaderName;

/// `Docker-Content-Digest`: the canonical digest of a manifest or blob.
pub const DOCKER_CONTENT_DIGEST: HeaderName = HeaderName::from_static("docker-content-digest");

/// `Docker-Distribution-API-Version`, answered on `/v2/` with [`API_VERSION`].
pub const DOCKER_DISTRIBUTION_API_VERSION: HeaderName =
    HeaderName::from_static("docker-distribution-api-version");

/// The value of [`DOCKER_DISTRIBUTION_API_VERSION`].
pub const API_VERSION: &str = "registry/2.0";

/// `Docker-Upload-UUID`: the upload session id (legacy name).
pub const DOCKER_UPLOAD_UUID: HeaderName = HeaderName::from_static("docker-upload-uuid");

/// `Blob-Upload-Session-ID`: the upload session id.
pub const BLOB_UPLOAD_SESSION_ID: HeaderName = HeaderName::from_static("blob-upload-session-id");

/// `OCI-Subject`: answered on a manifest `PUT` whose manifest has a `subject`, with the
/// subject's digest, to say the registry maintains the referrers API.
pub const OCI_SUBJECT: HeaderName = HeaderName::from_static("oci-subject");

/// `OCI-Filters-Applied`: answered on referrers when a filter was applied, with
/// [`crate::referrers::ARTIFACT_TYPE_FILTER`].
pub const OCI_FILTERS_APPLIED: HeaderName = HeaderName::from_static("oci-filters-applied");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_lowercase_spellings_of_the_spec() {
        assert_eq!(DOCKER_CONTENT_DIGEST.as_str(), "docker-content-digest");
        assert_eq!(OCI_SUBJECT.as_str(), "oci-subject");
        assert_eq!(OCI_FILTERS_APPLIED.as_str(), "oci-filters-applied");
    }
}
