//! The OCI error envelope: one table of error codes with their HTTP statuses, and
//! [`OciError`], the single error type every `/v2` handler returns.
//!
//! Body: `{"errors":[{"code":"…","message":"…","detail":…}]}` (distribution spec, "Error
//! Codes"), `Content-Type: application/json`. A 401 carries the caller's `WWW-Authenticate`
//! challenge, a 429 a `Retry-After`, a 416 on blob GET a `Content-Range`.
//!
//! Storage and database failures become `503 UNAVAILABLE` through [`OciError::unavailable`],
//! which logs the cause with `tracing` and never puts it in the body. Nothing here decides
//! *whether* to deny: only how a decision is spelled on the wire.

use std::borrow::Cow;
use std::fmt;

use axum::response::{IntoResponse, Response};
use http::header::{CONTENT_RANGE, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, StatusCode};
use serde::Serialize;

use crate::digest::{Digest, DigestError};
use crate::name::{NameError, ReferenceError};
use crate::route::RouteError;

/// Every error Wharf answers on `/v2`, each with a fixed code string and status.
///
/// Some codes appear with two statuses; those are separate variants so that the status never
/// has to be remembered at the call site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// `BLOB_UNKNOWN` 404: blob unknown to the repository.
    BlobUnknown,
    /// `BLOB_UPLOAD_INVALID` 400: the upload cannot proceed (bad digest parameter, size
    /// mismatch, ...).
    BlobUploadInvalid,
    /// `BLOB_UPLOAD_INVALID` 416: a chunk did not start where the upload stands, or its
    /// `Content-Range` is malformed. The handler adds `Location` and `Range` headers.
    BlobUploadOutOfOrder,
    /// `BLOB_UPLOAD_UNKNOWN` 404: no such upload session (cancelled, expired, never existed).
    BlobUploadUnknown,
    /// `DIGEST_INVALID` 400: malformed digest, or content that does not match it.
    DigestInvalid,
    /// `MANIFEST_BLOB_UNKNOWN` 400: a manifest references a blob the repository lacks.
    ManifestBlobUnknown,
    /// `MANIFEST_INVALID` 400: the manifest failed validation.
    ManifestInvalid,
    /// `MANIFEST_INVALID` 413: the manifest is larger than
    /// [`MAX_MANIFEST_BYTES`](crate::manifest::MAX_MANIFEST_BYTES). The spec asks for 413 and
    /// names no code; distribution reports oversize manifests as `MANIFEST_INVALID`.
    ManifestTooLarge,
    /// `MANIFEST_UNKNOWN` 404: no manifest for that tag or digest (or not entitled to it).
    ManifestUnknown,
    /// `NAME_INVALID` 400: invalid repository name.
    NameInvalid,
    /// `NAME_UNKNOWN` 404: repository unknown.
    NameUnknown,
    /// `SIZE_INVALID` 400: declared length does not match the content.
    SizeInvalid,
    /// `UNAUTHORIZED` 401: authentication required (with a `WWW-Authenticate` challenge).
    Unauthorized,
    /// `DENIED` 403: authenticated, but the action is not allowed.
    Denied,
    /// `UNSUPPORTED` 400: a valid request for something Wharf does not implement, such as a
    /// digest algorithm other than sha256/sha512.
    Unsupported,
    /// `UNSUPPORTED` 415: a manifest media type Wharf does not accept.
    UnsupportedMediaType,
    /// `UNSUPPORTED` 405: the endpoint exists but not with this method.
    MethodNotAllowed,
    /// `TOOMANYREQUESTS` 429: rate limited (with `Retry-After`).
    TooManyRequests,
    /// `PAGINATION_NUMBER_INVALID` 400: `n` is not a non-negative integer (distribution's
    /// code).
    PaginationNumberInvalid,
    /// `RANGE_INVALID` 416: a blob `Range` that cannot be satisfied (with
    /// `Content-Range: bytes */<size>`; distribution's code).
    RangeNotSatisfiable,
    /// `NOT_FOUND` 404: no endpoint at this path.
    NotFound,
    /// `UNAVAILABLE` 503: storage or database failure; the client may retry.
    Unavailable,
}

impl ErrorCode {
    /// The code string of the envelope.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::BlobUnknown => "BLOB_UNKNOWN",
            Self::BlobUploadInvalid | Self::BlobUploadOutOfOrder => "BLOB_UPLOAD_INVALID",
            Self::BlobUploadUnknown => "BLOB_UPLOAD_UNKNOWN",
            Self::DigestInvalid => "DIGEST_INVALID",
            Self::ManifestBlobUnknown => "MANIFEST_BLOB_UNKNOWN",
            Self::ManifestInvalid | Self::ManifestTooLarge => "MANIFEST_INVALID",
            Self::ManifestUnknown => "MANIFEST_UNKNOWN",
            Self::NameInvalid => "NAME_INVALID",
            Self::NameUnknown => "NAME_UNKNOWN",
            Self::SizeInvalid => "SIZE_INVALID",
            Self::Unauthorized => "UNAUTHORIZED",
            Self::Denied => "DENIED",
            Self::Unsupported | Self::UnsupportedMediaType | Self::MethodNotAllowed => {
                "UNSUPPORTED"
            }
            Self::TooManyRequests => "TOOMANYREQUESTS",
            Self::PaginationNumberInvalid => "PAGINATION_NUMBER_INVALID",
            Self::RangeNotSatisfiable => "RANGE_INVALID",
            Self::NotFound => "NOT_FOUND",
            Self::Unavailable => "UNAVAILABLE",
        }
    }

    /// The HTTP status.
    pub const fn status(self) -> StatusCode {
        match self {
            Self::BlobUnknown
            | Self::BlobUploadUnknown
            | Self::ManifestUnknown
            | Self::NameUnknown
            | Self::NotFound => StatusCode::NOT_FOUND,
            Self::BlobUploadInvalid
            | Self::DigestInvalid
            | Self::ManifestBlobUnknown
            | Self::ManifestInvalid
            | Self::NameInvalid
            | Self::SizeInvalid
            | Self::Unsupported
            | Self::PaginationNumberInvalid => StatusCode::BAD_REQUEST,
            Self::BlobUploadOutOfOrder | Self::RangeNotSatisfiable => {
                StatusCode::RANGE_NOT_SATISFIABLE
            }
            Self::ManifestTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Denied => StatusCode::FORBIDDEN,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The default human-readable message (the spec's wording where it has one).
    pub const fn message(self) -> &'static str {
        match self {
            Self::BlobUnknown => "blob unknown to registry",
            Self::BlobUploadInvalid => "blob upload invalid",
            Self::BlobUploadOutOfOrder => "blob upload chunk out of order",
            Self::BlobUploadUnknown => "blob upload unknown to registry",
            Self::DigestInvalid => "provided digest did not match uploaded content",
            Self::ManifestBlobUnknown => {
                "manifest references a manifest or blob unknown to registry"
            }
            Self::ManifestInvalid => "manifest invalid",
            Self::ManifestTooLarge => "manifest too large",
            Self::ManifestUnknown => "manifest unknown to registry",
            Self::NameInvalid => "invalid repository name",
            Self::NameUnknown => "repository name not known to registry",
            Self::SizeInvalid => "provided length did not match content length",
            Self::Unauthorized => "authentication required",
            Self::Denied => "requested access to the resource is denied",
            Self::Unsupported => "the operation is unsupported",
            Self::UnsupportedMediaType => "unsupported media type",
            Self::MethodNotAllowed => "the method is not supported on this endpoint",
            Self::TooManyRequests => "too many requests",
            Self::PaginationNumberInvalid => "invalid number of results requested",
            Self::RangeNotSatisfiable => "requested range not satisfiable",
            Self::NotFound => "not found",
            Self::Unavailable => "service unavailable",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of the `errors` array.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorEntry {
    /// The code string.
    #[serde(serialize_with = "serialize_code")]
    pub code: ErrorCode,
    /// A message for people.
    pub message: Cow<'static, str>,
    /// Unstructured detail; omitted when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
}

fn serialize_code<S: serde::Serializer>(code: &ErrorCode, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(code.as_str())
}

#[derive(Serialize)]
struct Envelope<'a> {
    errors: &'a [ErrorEntry],
}

/// An error response in the OCI envelope. The first entry decides the status.
///
/// ```
/// use wharf_registry::error::{ErrorCode, OciError};
/// let err = OciError::new(ErrorCode::NameUnknown).with_detail(serde_json::json!({"name": "acme/app"}));
/// assert_eq!(err.status(), http::StatusCode::NOT_FOUND);
/// ```
#[derive(Debug, Clone)]
pub struct OciError {
    errors: Vec<ErrorEntry>,
    headers: HeaderMap,
}

impl OciError {
    /// An error with the code's default message and no detail.
    pub fn new(code: ErrorCode) -> Self {
        Self {
            errors: vec![ErrorEntry { code, message: Cow::Borrowed(code.message()), detail: None }],
            headers: HeaderMap::new(),
        }
    }

    /// Replaces the message of the first entry.
    pub fn with_message(mut self, message: impl Into<Cow<'static, str>>) -> Self {
        if let Some(first) = self.errors.first_mut() {
            first.message = message.into();
        }
        self
    }

    /// Sets the detail of the first entry. Never put internal error text here.
    pub fn with_detail(mut self, detail: impl Into<serde_json::Value>) -> Self {
        if let Some(first) = self.errors.first_mut() {
            first.detail = Some(detail.into());
        }
        self
    }

    /// Appends another entry (the status stays that of the first).
    pub fn and(mut self, other: OciError) -> Self {
        self.errors.extend(other.errors);
        self.headers.extend(other.headers);
        self
    }

    /// `401 UNAUTHORIZED` with the given `WWW-Authenticate` challenge, for example
    /// `Bearer realm="https://wharf.example/token",service="wharf.example",scope="repository:acme/app:pull"`.
    pub fn unauthorized(challenge: HeaderValue) -> Self {
        let mut err = Self::new(ErrorCode::Unauthorized);
        err.headers.insert(WWW_AUTHENTICATE, challenge);
        err
    }

    /// `429 TOOMANYREQUESTS` with `Retry-After: <seconds>`.
    pub fn too_many_requests(retry_after_secs: u64) -> Self {
        let mut err = Self::new(ErrorCode::TooManyRequests);
        err.headers.insert(RETRY_AFTER, HeaderValue::from(retry_after_secs));
        err
    }

    /// `416 RANGE_INVALID` for a blob GET, with `Content-Range: bytes */<size>`.
    pub fn range_not_satisfiable(size: u64) -> Self {
        let mut err = Self::new(ErrorCode::RangeNotSatisfiable);
        err.headers.insert(CONTENT_RANGE, crate::paging::unsatisfied_content_range(size));
        err
    }

    /// `503 UNAVAILABLE` for a storage or database failure. Logs `cause` at error level
    /// (inside the caller's request span) and keeps it out of the body.
    pub fn unavailable(cause: &(dyn std::error::Error + 'static)) -> Self {
        tracing::error!(error = cause, "registry request failed: storage or database unavailable");
        Self::new(ErrorCode::Unavailable)
    }

    /// `MANIFEST_BLOB_UNKNOWN`, one entry per missing digest, each with detail
    /// `{"digest": "…"}`.
    pub fn manifest_blobs_unknown<'a>(missing: impl IntoIterator<Item = &'a Digest>) -> Self {
        let mut entries = missing.into_iter().map(|d| ErrorEntry {
            code: ErrorCode::ManifestBlobUnknown,
            message: Cow::Borrowed(ErrorCode::ManifestBlobUnknown.message()),
            detail: Some(serde_json::json!({ "digest": d.as_str() })),
        });
        match entries.next() {
            Some(first) => Self {
                errors: std::iter::once(first).chain(entries).collect(),
                headers: HeaderMap::new(),
            },
            None => Self::new(ErrorCode::ManifestBlobUnknown),
        }
    }

    /// Adds a response header (for example `Location` and `Range` on a 416 upload answer).
    pub fn with_header(mut self, name: http::HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// The code of the first entry.
    pub fn code(&self) -> ErrorCode {
        self.errors.first().map_or(ErrorCode::Unavailable, |e| e.code)
    }

    /// The HTTP status of the response.
    pub fn status(&self) -> StatusCode {
        self.code().status()
    }

    /// The entries.
    pub fn entries(&self) -> &[ErrorEntry] {
        &self.errors
    }

    /// The extra response headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The JSON body.
    pub fn body(&self) -> Vec<u8> {
        // Serialising string keys, strings and `serde_json::Value`s cannot fail.
        serde_json::to_vec(&Envelope { errors: &self.errors })
            .unwrap_or_else(|_| br#"{"errors":[]}"#.to_vec())
    }
}

impl fmt::Display for OciError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for e in &self.errors {
            if !first {
                f.write_str("; ")?;
            }
            first = false;
            write!(f, "{}: {}", e.code, e.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for OciError {}

/// `Retry-After` of a `503`: a dependency (the database, the blob store) failed, and a
/// client retrying a few seconds later usually finds it back.
pub const RETRY_AFTER_UNAVAILABLE: HeaderValue = HeaderValue::from_static("5");

impl IntoResponse for OciError {
    fn into_response(self) -> Response {
        let body = self.body();
        let status = self.status();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.extend(self.headers);
        if status == StatusCode::SERVICE_UNAVAILABLE && !headers.contains_key(RETRY_AFTER) {
            headers.insert(RETRY_AFTER, RETRY_AFTER_UNAVAILABLE);
        }
        response
    }
}

impl From<ErrorCode> for OciError {
    fn from(code: ErrorCode) -> Self {
        Self::new(code)
    }
}

impl From<DigestError> for OciError {
    fn from(err: DigestError) -> Self {
        let code = match err {
            DigestError::Invalid(_) => ErrorCode::DigestInvalid,
            DigestError::UnsupportedAlgorithm(_) => ErrorCode::Unsupported,
        };
        Self::new(code).with_detail(err.to_string())
    }
}

impl From<NameError> for OciError {
    fn from(err: NameError) -> Self {
        Self::new(ErrorCode::NameInvalid).with_detail(err.to_string())
    }
}

impl From<ReferenceError> for OciError {
    fn from(err: ReferenceError) -> Self {
        match err {
            // The spec has no tag code; distribution's TAG_INVALID is not in the OCI list.
            ReferenceError::Tag(tag) => {
                Self::new(ErrorCode::ManifestInvalid).with_detail(tag.to_string())
            }
            ReferenceError::Digest(d) => d.into(),
        }
    }
}

impl From<RouteError> for OciError {
    fn from(err: RouteError) -> Self {
        match err {
            RouteError::NotFound => Self::new(ErrorCode::NotFound),
            RouteError::Name(e) => e.into(),
            RouteError::Digest(e) => e.into(),
            RouteError::Reference(e) => e.into(),
            RouteError::UploadUnknown => Self::new(ErrorCode::BlobUploadUnknown),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    /// Reads a fully buffered body without an async runtime.
    fn body_of(response: Response) -> String {
        let fut = pin!(axum::body::to_bytes(response.into_body(), usize::MAX));
        match fut.poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(Ok(bytes)) => String::from_utf8(bytes.to_vec()).unwrap(),
            other => panic!("body not ready: {other:?}"),
        }
    }

    #[test]
    fn codes_and_statuses() {
        use ErrorCode::*;
        let table = [
            (BlobUnknown, "BLOB_UNKNOWN", 404),
            (BlobUploadInvalid, "BLOB_UPLOAD_INVALID", 400),
            (BlobUploadOutOfOrder, "BLOB_UPLOAD_INVALID", 416),
            (BlobUploadUnknown, "BLOB_UPLOAD_UNKNOWN", 404),
            (DigestInvalid, "DIGEST_INVALID", 400),
            (ManifestBlobUnknown, "MANIFEST_BLOB_UNKNOWN", 400),
            (ManifestInvalid, "MANIFEST_INVALID", 400),
            (ManifestTooLarge, "MANIFEST_INVALID", 413),
            (ManifestUnknown, "MANIFEST_UNKNOWN", 404),
            (NameInvalid, "NAME_INVALID", 400),
            (NameUnknown, "NAME_UNKNOWN", 404),
            (SizeInvalid, "SIZE_INVALID", 400),
            (Unauthorized, "UNAUTHORIZED", 401),
            (Denied, "DENIED", 403),
            (Unsupported, "UNSUPPORTED", 400),
            (UnsupportedMediaType, "UNSUPPORTED", 415),
            (MethodNotAllowed, "UNSUPPORTED", 405),
            (TooManyRequests, "TOOMANYREQUESTS", 429),
            (PaginationNumberInvalid, "PAGINATION_NUMBER_INVALID", 400),
            (RangeNotSatisfiable, "RANGE_INVALID", 416),
            (NotFound, "NOT_FOUND", 404),
            (Unavailable, "UNAVAILABLE", 503),
        ];
        for (code, s, status) in table {
            assert_eq!(code.as_str(), s);
            assert_eq!(code.status().as_u16(), status, "{code:?}");
        }
    }

    #[test]
    fn manifest_unknown_body() {
        let response = OciError::new(ErrorCode::ManifestUnknown).into_response();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
        assert_eq!(
            body_of(response),
            r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown to registry"}]}"#
        );
    }

    #[test]
    fn unauthorized_carries_challenge() {
        let challenge = HeaderValue::from_static(
            r#"Bearer realm="https://wharf.example/token",service="wharf.example""#,
        );
        let response = OciError::unauthorized(challenge.clone()).into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()[WWW_AUTHENTICATE], challenge);
        assert_eq!(
            body_of(response),
            r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#
        );
    }

    #[test]
    fn too_many_requests_carries_retry_after() {
        let response = OciError::too_many_requests(30).into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[RETRY_AFTER], "30");
        assert_eq!(
            body_of(response),
            r#"{"errors":[{"code":"TOOMANYREQUESTS","message":"too many requests"}]}"#
        );
    }

    #[test]
    fn range_not_satisfiable_carries_content_range() {
        let response = OciError::range_not_satisfiable(1234).into_response();
        assert_eq!(response.status(), StatusCode::RANGE_NOT_SATISFIABLE);
        assert_eq!(response.headers()[CONTENT_RANGE], "bytes */1234");
    }

    #[test]
    fn several_unknown_blobs() {
        let a = Digest::parse(&format!("sha256:{}", "a".repeat(64))).unwrap();
        let b = Digest::parse(&format!("sha256:{}", "b".repeat(64))).unwrap();
        let err = OciError::manifest_blobs_unknown([&a, &b]);
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            String::from_utf8(err.body()).unwrap(),
            format!(
                concat!(
                    r#"{{"errors":[{{"code":"MANIFEST_BLOB_UNKNOWN","message":"manifest references a manifest or blob unknown to registry","detail":{{"digest":"{}"}}}},"#,
                    r#"{{"code":"MANIFEST_BLOB_UNKNOWN","message":"manifest references a manifest or blob unknown to registry","detail":{{"digest":"{}"}}}}]}}"#
                ),
                a, b
            )
        );
    }

    #[test]
    fn unavailable_hides_the_cause() {
        let cause = std::io::Error::other("connection refused to 10.0.0.5:5432 password=hunter2");
        let response = OciError::unavailable(&cause).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = body_of(response);
        assert_eq!(body, r#"{"errors":[{"code":"UNAVAILABLE","message":"service unavailable"}]}"#);
    }

    #[test]
    fn conversions() {
        let err: OciError = DigestError::Invalid("malformed encoded part").into();
        assert_eq!(
            String::from_utf8(err.body()).unwrap(),
            r#"{"errors":[{"code":"DIGEST_INVALID","message":"provided digest did not match uploaded content","detail":"invalid digest: malformed encoded part"}]}"#
        );
        let err: OciError = DigestError::UnsupportedAlgorithm("blake3".into()).into();
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
        assert_eq!(err.code().as_str(), "UNSUPPORTED");
        let err: OciError = RouteError::Name(NameError::MissingOrganization).into();
        assert_eq!(
            String::from_utf8(err.body()).unwrap(),
            r#"{"errors":[{"code":"NAME_INVALID","message":"invalid repository name","detail":"repository name must be <organization>/<path>"}]}"#
        );
        let err: OciError = RouteError::NotFound.into();
        assert_eq!(err.status(), StatusCode::NOT_FOUND);
        let err: OciError = RouteError::UploadUnknown.into();
        assert_eq!(err.code(), ErrorCode::BlobUploadUnknown);
    }

    #[test]
    fn custom_message_and_structured_detail() {
        let err = OciError::new(ErrorCode::Denied)
            .with_message("customers cannot push")
            .with_detail(serde_json::json!({"action": "push"}));
        assert_eq!(
            String::from_utf8(err.body()).unwrap(),
            r#"{"errors":[{"code":"DENIED","message":"customers cannot push","detail":{"action":"push"}}]}"#
        );
        assert_eq!(err.to_string(), "DENIED: customers cannot push");
    }
}
