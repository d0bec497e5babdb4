//! The referrers response: `GET /v2/<name>/referrers/<digest>[?artifactType=…]`.
//!
//! Builds the OCI image index listing the manifests whose `subject` is the given digest, from
//! descriptors the caller has already fetched and filtered for entitlement (a caller that may
//! see nothing gets an empty index, never an error). Applies the optional `artifactType`
//! filter and says whether it did, so the handler can set `OCI-Filters-Applied`.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::digest::Digest;
use crate::manifest::OCI_INDEX;

/// `Content-Type` of the response.
pub const REFERRERS_CONTENT_TYPE: &str = OCI_INDEX;

/// Value of [`OCI_FILTERS_APPLIED`](crate::headers::OCI_FILTERS_APPLIED) when the
/// `artifactType` filter was applied.
pub const ARTIFACT_TYPE_FILTER: &str = "artifactType";

/// One referrer: a manifest whose `subject` is the requested digest. Build it with
/// [`ParsedManifest::as_referrer`](crate::manifest::ParsedManifest::as_referrer) at push time
/// and store its fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Referrer {
    /// The referrer manifest's media type.
    pub media_type: String,
    /// Its digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// Per the spec: the manifest's `artifactType`, else its `config.mediaType`; for an index,
    /// its `artifactType` or nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// Its top-level annotations.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReferrersIndex<'a> {
    schema_version: u8,
    media_type: &'static str,
    manifests: Vec<&'a Referrer>,
}

/// The body of a referrers answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferrersResponse {
    /// The JSON image index (serve with [`REFERRERS_CONTENT_TYPE`]).
    pub body: Vec<u8>,
    /// True when an `artifactType` filter was applied: set
    /// `OCI-Filters-Applied: artifactType`.
    pub filter_applied: bool,
}

/// Reads the `artifactType` query parameter (percent-decoded), if any and non-empty.
pub fn artifact_type_filter(query: Option<&str>) -> Option<String> {
    crate::route::query_param(query, "artifactType").filter(|v| !v.is_empty())
}

/// Builds the referrers index.
///
/// Entries are sorted by digest and deduplicated so the answer does not depend on storage
/// order. With `artifact_type = Some(t)`, only referrers whose artifact type is exactly `t`
/// are listed. No referrers gives an empty `manifests` array, as the spec requires.
pub fn build_referrers(referrers: &[Referrer], artifact_type: Option<&str>) -> ReferrersResponse {
    let mut manifests: Vec<&Referrer> = referrers
        .iter()
        .filter(|r| artifact_type.is_none_or(|t| r.artifact_type.as_deref() == Some(t)))
        .collect();
    manifests.sort_by(|a, b| a.digest.cmp(&b.digest));
    manifests.dedup_by(|a, b| a.digest == b.digest);
    let index = ReferrersIndex { schema_version: 2, media_type: OCI_INDEX, manifests };
    ReferrersResponse {
        // Strings, integers and string maps always serialise.
        body: serde_json::to_vec(&index).unwrap_or_default(),
        filter_applied: artifact_type.is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::OCI_MANIFEST;

    fn referrer(c: char, artifact_type: Option<&str>, annotations: &[(&str, &str)]) -> Referrer {
        Referrer {
            media_type: OCI_MANIFEST.into(),
            digest: Digest::parse(&format!("sha256:{}", c.to_string().repeat(64))).unwrap(),
            size: 1234,
            artifact_type: artifact_type.map(str::to_owned),
            annotations: annotations
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    fn sample() -> Vec<Referrer> {
        vec![
            referrer('b', Some("application/vnd.example.signature.v1"), &[]),
            referrer(
                'a',
                Some("application/vnd.example.sbom.v1"),
                &[("org.opencontainers.image.created", "2024-01-01T00:00:00Z")],
            ),
            referrer('c', None, &[]),
        ]
    }

    #[test]
    fn lists_all_sorted() {
        let a = "a".repeat(64);
        let b = "b".repeat(64);
        let c = "c".repeat(64);
        let response = build_referrers(&sample(), None);
        assert!(!response.filter_applied);
        assert_eq!(
            String::from_utf8(response.body).unwrap(),
            format!(
                concat!(
                    r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":["#,
                    r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:{a}","size":1234,"artifactType":"application/vnd.example.sbom.v1","annotations":{{"org.opencontainers.image.created":"2024-01-01T00:00:00Z"}}}},"#,
                    r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:{b}","size":1234,"artifactType":"application/vnd.example.signature.v1"}},"#,
                    r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:{c}","size":1234}}"#,
                    r#"]}}"#
                ),
                a = a,
                b = b,
                c = c
            )
        );
    }

    #[test]
    fn filters_by_artifact_type() {
        let response = build_referrers(&sample(), Some("application/vnd.example.signature.v1"));
        assert!(response.filter_applied);
        let v: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
        let manifests = v["manifests"].as_array().unwrap();
        assert_eq!(manifests.len(), 1);
        assert_eq!(manifests[0]["artifactType"], "application/vnd.example.signature.v1");
    }

    #[test]
    fn empty_results() {
        let expected = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
        let none = build_referrers(&[], None);
        assert_eq!(String::from_utf8(none.body).unwrap(), expected);
        let filtered = build_referrers(&sample(), Some("application/none"));
        assert!(filtered.filter_applied);
        assert_eq!(String::from_utf8(filtered.body).unwrap(), expected);
    }

    #[test]
    fn duplicates_collapse() {
        let mut list = sample();
        list.push(list[0].clone());
        let v: serde_json::Value =
            serde_json::from_slice(&build_referrers(&list, None).body).unwrap();
        assert_eq!(v["manifests"].as_array().unwrap().len(), 3);
    }

    #[test]
    fn filter_from_query() {
        assert_eq!(artifact_type_filter(None), None);
        assert_eq!(artifact_type_filter(Some("")), None);
        assert_eq!(artifact_type_filter(Some("artifactType=")), None);
        assert_eq!(
            artifact_type_filter(Some("n=1&artifactType=application%2Fvnd.example%2Bjson")),
            Some("application/vnd.example+json".to_owned())
        );
    }
}
