//! Paging of `tags/list` and `_catalog` (`n`, `last`, `Link`), and the byte ranges of the
//! protocol: `Content-Range` on chunked upload `PATCH`, the `Range` header an upload answers
//! with, and `Range` requests on blob `GET`.
//!
//! Pure functions over already sorted and already filtered lists: entitlement filtering
//! happens before paging, in the caller, so that pages never leak hidden names.

use http::HeaderValue;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use crate::error::{ErrorCode, OciError};

/// Default cap on `n` (and the page size when `n` is absent).
pub const DEFAULT_MAX_PAGE_SIZE: usize = 1000;

/// The `n` and `last` query parameters of a listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageQuery {
    /// Requested page size, if given.
    pub n: Option<usize>,
    /// Return only entries strictly after this one, if given.
    pub last: Option<String>,
}

impl PageQuery {
    /// Reads `n` and `last` from a raw query string (`n=10&last=v1.0`); other parameters are
    /// ignored. A non-numeric or negative `n` is `PAGINATION_NUMBER_INVALID`.
    pub fn from_query(query: Option<&str>) -> Result<Self, OciError> {
        let mut out = Self::default();
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "n" => {
                    let n = percent_decode(value).parse::<usize>().map_err(|_| {
                        OciError::new(ErrorCode::PaginationNumberInvalid)
                            .with_detail(format!("n must be a non-negative integer, got {value:?}"))
                    })?;
                    out.n = Some(n);
                }
                "last" => out.last = Some(percent_decode(value)),
                _ => {}
            }
        }
        Ok(out)
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<'a, T> {
    /// The entries of this page.
    pub items: &'a [T],
    /// The `Link` header value when more entries remain, e.g.
    /// `</v2/acme/app/tags/list?n=2&last=b>; rel="next"`.
    pub link: Option<String>,
}

/// Cuts one page out of `sorted`.
///
/// `sorted` must be in byte order with no duplicates (Rust's `str` ordering; in Postgres
/// `ORDER BY … COLLATE "C"`), as distribution sorts. The page holds the entries strictly after
/// `query.last`, at most `min(n, max_page_size)` of them (`max_page_size` when `n` is absent);
/// `n = 0` gives an empty page with no link. `path` is the endpoint the link points back to,
/// such as `/v2/acme/app/tags/list` or `/v2/_catalog`.
pub fn paginate<'a, T: AsRef<str>>(
    sorted: &'a [T],
    query: &PageQuery,
    max_page_size: usize,
    path: &str,
) -> Page<'a, T> {
    let start = match &query.last {
        Some(last) => sorted.partition_point(|item| item.as_ref() <= last.as_str()),
        None => 0,
    };
    let size = query.n.unwrap_or(max_page_size).min(max_page_size);
    let rest = &sorted[start..];
    let items = &rest[..size.min(rest.len())];
    let link = match items.last() {
        Some(last) if rest.len() > items.len() => Some(next_link(path, size, last.as_ref())),
        _ => None,
    };
    Page { items, link }
}

/// The body of `tags/list`: `{"name":"<name>","tags":[…]}` (`tags` is `[]`, never `null`).
pub fn tags_body<T: AsRef<str>>(name: &crate::name::RepositoryName, tags: &[T]) -> Vec<u8> {
    let tags: Vec<&str> = tags.iter().map(AsRef::as_ref).collect();
    serde_json::to_vec(&serde_json::json!({ "name": name.as_str(), "tags": tags }))
        .unwrap_or_default()
}

/// The body of `_catalog`: `{"repositories":[…]}`.
pub fn catalog_body<T: AsRef<str>>(repositories: &[T]) -> Vec<u8> {
    let repositories: Vec<&str> = repositories.iter().map(AsRef::as_ref).collect();
    serde_json::to_vec(&serde_json::json!({ "repositories": repositories })).unwrap_or_default()
}

/// `<{path}?n={n}&last={last}>; rel="next"`, with `last` percent-encoded.
pub fn next_link(path: &str, n: usize, last: &str) -> String {
    format!(r#"<{path}?n={n}&last={}>; rel="next""#, percent_encode(last))
}

/// Everything but RFC 3986 unreserved characters is percent-encoded in `last`.
const NOT_UNRESERVED: &AsciiSet =
    &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

fn percent_encode(s: &str) -> String {
    utf8_percent_encode(s, NOT_UNRESERVED).to_string()
}

/// Decodes `%XX` escapes. `+` stays `+`: no tag or name contains a space, and media types
/// (the referrers `artifactType` filter) do contain `+`. Malformed escapes are kept literally;
/// invalid UTF-8 is replaced.
pub(crate) fn percent_decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// The inclusive byte range of a chunk, from a `PATCH` `Content-Range` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkRange {
    /// First byte offset.
    pub start: u64,
    /// Last byte offset (inclusive).
    pub end: u64,
}

impl ChunkRange {
    /// Parses `<start>-<end>` (the spec's `^[0-9]+-[0-9]+$`, inclusive, `start <= end`). The
    /// RFC 9110 form `bytes <start>-<end>/<total or *>` is accepted too.
    pub fn parse(value: &str) -> Option<Self> {
        let value = value.trim();
        let value = match value.strip_prefix("bytes ") {
            Some(rfc) => rfc.trim_start().split_once('/')?.0,
            None => value,
        };
        let (start, end) = value.split_once('-')?;
        let start = parse_digits(start)?;
        let end = parse_digits(end)?;
        (start <= end).then_some(Self { start, end })
    }

    /// Number of bytes in the chunk.
    pub fn len(&self) -> u64 {
        self.end - self.start + 1
    }

    /// Always false: a range holds at least one byte. Here for clippy's `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        false
    }
}

fn parse_digits(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Checks a chunk against the upload's current size before accepting it.
///
/// Without a `Content-Range` (docker streams its PATCH that way) the chunk is appended at
/// `offset`. With one, it must parse, start exactly at `offset`, and, when `Content-Length`
/// is known, cover exactly that many bytes (without a length, the handler compares the bytes
/// it streamed with the range's [`len`](ChunkRange::len) afterwards). Any failure is `416 BLOB_UPLOAD_INVALID`; the
/// handler adds `Location` and `Range: `[`upload_range`]`(offset)` to the error.
pub fn check_chunk(
    content_range: Option<&str>,
    offset: u64,
    content_length: Option<u64>,
) -> Result<(), OciError> {
    let Some(value) = content_range else {
        return Ok(());
    };
    let out_of_order =
        |detail: String| Err(OciError::new(ErrorCode::BlobUploadOutOfOrder).with_detail(detail));
    let Some(range) = ChunkRange::parse(value) else {
        return out_of_order(format!("malformed Content-Range {value:?}, expected <start>-<end>"));
    };
    if range.start != offset {
        return out_of_order(format!(
            "chunk starts at {} but the upload holds {offset} bytes",
            range.start
        ));
    }
    if let Some(len) = content_length
        && len != range.len()
    {
        return out_of_order(format!(
            "Content-Range covers {} bytes but Content-Length is {len}",
            range.len()
        ));
    }
    Ok(())
}

/// The `Range` header of an upload answer (202/204/416): `0-<last byte>`, or `0-0` while the
/// upload is empty, as distribution sends and docker parses.
pub fn upload_range(size: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("0-{}", size.saturating_sub(1)))
        .unwrap_or(HeaderValue::from_static("0-0"))
}

/// An inclusive byte range of a blob, within its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    /// First byte offset.
    pub start: u64,
    /// Last byte offset (inclusive), `< size`.
    pub end: u64,
}

impl ByteRange {
    /// Number of bytes to send.
    pub fn len(&self) -> u64 {
        self.end - self.start + 1
    }

    /// Always false: a satisfiable range holds at least one byte.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The `Content-Range` of the 206 answer: `bytes <start>-<end>/<size>`.
    pub fn content_range(&self, size: u64) -> HeaderValue {
        HeaderValue::from_str(&format!("bytes {}-{}/{size}", self.start, self.end))
            .unwrap_or(HeaderValue::from_static("bytes */0"))
    }
}

/// A `Range` that cannot be met: answer 416 with `Content-Range: bytes */<size>`
/// (`OciError::from` does that).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("range not satisfiable for a blob of {size} bytes")]
pub struct RangeNotSatisfiable {
    /// Size of the blob.
    pub size: u64,
}

impl From<RangeNotSatisfiable> for OciError {
    fn from(err: RangeNotSatisfiable) -> Self {
        OciError::range_not_satisfiable(err.size)
    }
}

/// `bytes */<size>`.
pub fn unsatisfied_content_range(size: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("bytes */{size}"))
        .unwrap_or(HeaderValue::from_static("bytes */0"))
}

/// Reads a blob `GET` `Range` header against a blob of `size` bytes.
///
/// `Ok(None)`: serve the whole blob with 200 (no header, another unit, several ranges, or
/// syntax we do not understand; RFC 9110 allows ignoring `Range`). `Ok(Some(r))`: serve `r`
/// with 206. `Err`: 416. Supports `bytes=a-b`, `bytes=a-` and `bytes=-suffix`; an end past
/// the blob is clamped.
pub fn parse_range(
    header: Option<&str>,
    size: u64,
) -> Result<Option<ByteRange>, RangeNotSatisfiable> {
    let Some(header) = header else {
        return Ok(None);
    };
    let header = header.trim();
    let Some((unit, spec)) = header.split_once('=') else {
        return Ok(None);
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") || spec.contains(',') {
        return Ok(None);
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Ok(None);
    };
    let unsatisfiable = Err(RangeNotSatisfiable { size });
    match (first.trim(), last.trim()) {
        ("", suffix) => {
            let Some(suffix) = parse_digits(suffix) else {
                return Ok(None);
            };
            if suffix == 0 {
                return unsatisfiable;
            }
            if size == 0 {
                return Ok(None);
            }
            Ok(Some(ByteRange { start: size - suffix.min(size), end: size - 1 }))
        }
        (first, last) => {
            let Some(start) = parse_digits(first) else {
                return Ok(None);
            };
            let end = if last.is_empty() {
                None
            } else {
                match parse_digits(last) {
                    Some(end) => Some(end),
                    None => return Ok(None),
                }
            };
            if end.is_some_and(|end| end < start) || start >= size {
                return unsatisfiable;
            }
            let end = end.map_or(size - 1, |end| end.min(size - 1));
            Ok(Some(ByteRange { start, end }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn q(n: Option<usize>, last: Option<&str>) -> PageQuery {
        PageQuery { n, last: last.map(str::to_owned) }
    }

    const PATH: &str = "/v2/acme/app/tags/list";

    #[test]
    fn pages_through_a_list() {
        let tags = ["1.0", "1.1", "2.0", "latest", "v2"];
        let page = paginate(&tags, &q(Some(2), None), 1000, PATH);
        assert_eq!(page.items, ["1.0", "1.1"]);
        assert_eq!(
            page.link.as_deref(),
            Some(r#"</v2/acme/app/tags/list?n=2&last=1.1>; rel="next""#)
        );
        let page = paginate(&tags, &q(Some(2), Some("1.1")), 1000, PATH);
        assert_eq!(page.items, ["2.0", "latest"]);
        assert!(page.link.is_some());
        let page = paginate(&tags, &q(Some(2), Some("latest")), 1000, PATH);
        assert_eq!(page.items, ["v2"]);
        assert_eq!(page.link, None);
        // Exactly filling the last page gives no link.
        let page = paginate(&tags, &q(Some(5), None), 1000, PATH);
        assert_eq!(page.items.len(), 5);
        assert_eq!(page.link, None);
    }

    #[test]
    fn last_need_not_be_present() {
        let tags = ["a", "c", "e"];
        assert_eq!(paginate(&tags, &q(None, Some("b")), 1000, PATH).items, ["c", "e"]);
        assert_eq!(paginate(&tags, &q(None, Some("z")), 1000, PATH).items, [] as [&str; 0]);
        assert_eq!(paginate(&tags, &q(None, Some("")), 1000, PATH).items, tags);
    }

    #[test]
    fn n_zero_and_caps() {
        let tags = ["a", "b", "c"];
        let page = paginate(&tags, &q(Some(0), None), 1000, PATH);
        assert!(page.items.is_empty());
        assert_eq!(page.link, None);
        let page = paginate(&tags, &q(Some(100), None), 2, PATH);
        assert_eq!(page.items, ["a", "b"]);
        assert_eq!(
            page.link.as_deref(),
            Some(r#"</v2/acme/app/tags/list?n=2&last=b>; rel="next""#)
        );
        let page = paginate(&tags, &q(None, None), 2, PATH);
        assert_eq!(page.items, ["a", "b"]);
        let empty: [&str; 0] = [];
        assert_eq!(paginate(&empty, &q(Some(5), None), 1000, PATH).link, None);
    }

    #[test]
    fn bodies() {
        let name = crate::name::RepositoryName::parse("acme/app").unwrap();
        assert_eq!(
            String::from_utf8(tags_body(&name, &["1.0", "latest"])).unwrap(),
            r#"{"name":"acme/app","tags":["1.0","latest"]}"#
        );
        let none: [&str; 0] = [];
        assert_eq!(
            String::from_utf8(tags_body(&name, &none)).unwrap(),
            r#"{"name":"acme/app","tags":[]}"#
        );
        assert_eq!(
            String::from_utf8(catalog_body(&["acme/app", "acme/cli"])).unwrap(),
            r#"{"repositories":["acme/app","acme/cli"]}"#
        );
    }

    #[test]
    fn link_encodes_last() {
        assert_eq!(
            next_link("/v2/_catalog", 10, "acme/app x"),
            r#"</v2/_catalog?n=10&last=acme%2Fapp%20x>; rel="next""#
        );
    }

    #[test]
    fn query_parsing() {
        assert_eq!(PageQuery::from_query(None).unwrap(), q(None, None));
        assert_eq!(
            PageQuery::from_query(Some("n=10&last=acme%2Fapp&x=1")).unwrap(),
            q(Some(10), Some("acme/app"))
        );
        assert_eq!(PageQuery::from_query(Some("last=")).unwrap(), q(None, Some("")));
        assert_eq!(PageQuery::from_query(Some("last=%zz%4")).unwrap(), q(None, Some("%zz%4")));
        for bad in ["n=-1", "n=abc", "n=", "n=1.5", "n=99999999999999999999999"] {
            let err = PageQuery::from_query(Some(bad)).unwrap_err();
            assert_eq!(err.code(), ErrorCode::PaginationNumberInvalid, "{bad}");
        }
    }

    #[test]
    fn chunk_ranges() {
        assert_eq!(ChunkRange::parse("0-99"), Some(ChunkRange { start: 0, end: 99 }));
        assert_eq!(ChunkRange::parse("100-100").map(|r| r.len()), Some(1));
        assert_eq!(ChunkRange::parse("bytes 0-9/10"), Some(ChunkRange { start: 0, end: 9 }));
        assert_eq!(ChunkRange::parse("bytes 5-9/*"), Some(ChunkRange { start: 5, end: 9 }));
        for bad in ["", "-", "0-", "-5", "5-4", "a-b", "0 - 5", "+1-2", "0-1-2", "bytes=0-1"] {
            assert_eq!(ChunkRange::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn chunk_checks() {
        assert!(check_chunk(None, 10, Some(5)).is_ok());
        assert!(check_chunk(Some("10-14"), 10, Some(5)).is_ok());
        assert!(check_chunk(Some("10-14"), 10, None).is_ok());
        for (range, offset, len) in [
            ("0-4", 10, Some(5)),
            ("11-15", 10, Some(5)),
            ("10-14", 10, Some(4)),
            ("garbage", 0, None),
        ] {
            let err = check_chunk(Some(range), offset, len).unwrap_err();
            assert_eq!(err.status(), http::StatusCode::RANGE_NOT_SATISFIABLE, "{range}");
            assert_eq!(err.code().as_str(), "BLOB_UPLOAD_INVALID");
        }
    }

    #[test]
    fn upload_range_header() {
        assert_eq!(upload_range(0), "0-0");
        assert_eq!(upload_range(1), "0-0");
        assert_eq!(upload_range(100), "0-99");
    }

    type RangeOutcome = Result<Option<ByteRange>, RangeNotSatisfiable>;

    #[test]
    fn blob_ranges() {
        let r = |a, b| Ok(Some(ByteRange { start: a, end: b }));
        let cases: &[(Option<&str>, u64, RangeOutcome)] = &[
            (None, 10, Ok(None)),
            (Some("bytes=0-4"), 10, r(0, 4)),
            (Some("bytes=5-"), 10, r(5, 9)),
            (Some("bytes=-3"), 10, r(7, 9)),
            (Some("bytes=-30"), 10, r(0, 9)),
            (Some("bytes=8-100"), 10, r(8, 9)),
            (Some("BYTES = 0-0"), 10, r(0, 0)),
            (Some("bytes=9-9"), 10, r(9, 9)),
            (Some("bytes=0-1,3-4"), 10, Ok(None)),
            (Some("items=0-1"), 10, Ok(None)),
            (Some("bytes=a-b"), 10, Ok(None)),
            (Some("bytes"), 10, Ok(None)),
            (Some("bytes=-"), 10, Ok(None)),
            (Some("bytes=-5"), 0, Ok(None)),
            (Some("bytes=10-"), 10, Err(RangeNotSatisfiable { size: 10 })),
            (Some("bytes=10-20"), 10, Err(RangeNotSatisfiable { size: 10 })),
            (Some("bytes=5-4"), 10, Err(RangeNotSatisfiable { size: 10 })),
            (Some("bytes=-0"), 10, Err(RangeNotSatisfiable { size: 10 })),
            (Some("bytes=0-"), 0, Err(RangeNotSatisfiable { size: 0 })),
        ];
        for (header, size, want) in cases {
            assert_eq!(&parse_range(*header, *size), want, "{header:?} of {size}");
        }
        let range = ByteRange { start: 2, end: 5 };
        assert_eq!(range.len(), 4);
        assert_eq!(range.content_range(10), "bytes 2-5/10");
        assert_eq!(unsatisfied_content_range(10), "bytes */10");
    }

    /// Pulls `n` and `last` back out of a `Link` value.
    fn follow(link: &str) -> PageQuery {
        let query = link.split_once('?').and_then(|(_, rest)| rest.split_once('>')).map(|(q, _)| q);
        PageQuery::from_query(query).unwrap()
    }

    proptest! {
        #[test]
        fn following_links_lists_everything_once(
            mut items in proptest::collection::btree_set("[a-zA-Z0-9_][a-zA-Z0-9._/ -]{0,8}", 0..40)
                .prop_map(|s| s.into_iter().collect::<Vec<String>>()),
            n in proptest::option::of(1usize..10),
            max in 1usize..12,
        ) {
            items.sort();
            let mut seen: Vec<String> = Vec::new();
            let mut query = PageQuery { n, last: None };
            for _ in 0..=items.len() {
                let page = paginate(&items, &query, max, "/v2/_catalog");
                prop_assert!(page.items.len() <= max);
                seen.extend(page.items.iter().cloned());
                match page.link {
                    Some(link) => query = follow(&link),
                    None => break,
                }
            }
            prop_assert_eq!(seen, items);
        }

        #[test]
        fn range_parsing_never_panics(header in ".{0,40}", size in 0u64..1000) {
            if let Ok(Some(r)) = parse_range(Some(&header), size) {
                prop_assert!(r.start <= r.end && r.end < size);
            }
            let _ = ChunkRange::parse(&header);
        }
    }
}
