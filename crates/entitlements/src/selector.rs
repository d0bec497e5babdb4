//! Tag selectors: which tag names a grant covers (`all`, exact list, glob, semver range).
//!
//! Owns the validating constructors for each kind, the JSON shape (`kind` tag), and matching a
//! tag NAME. It never looks at what a tag points to, when it was pushed, or at licenses: a
//! selector matches names only (`latest` is a name like any other).

use std::{cell::OnceCell, fmt};

use semver::Version;
use serde::{Deserialize, Serialize};

use crate::{
    grant::GrantError,
    repository::{MAX_TAG_LEN, is_tag_char, validate_tag},
    semver_range::SemverRange,
};

/// A validated tag selector. Build one with [`TagSelector::all`], [`TagSelector::exact`],
/// [`TagSelector::glob`], [`TagSelector::semver`] or [`TagSelectorSpec::validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagSelector {
    /// Every tag.
    All,
    /// The listed tags, compared exactly (case-sensitive).
    Exact(ExactTags),
    /// Tags matching a glob where only `*` is special.
    Glob(Glob),
    /// Tags that parse as SemVer 2.0 versions inside a range.
    Semver(SemverSelector),
}

/// The validated list of an [`TagSelector::Exact`] selector (sorted, without duplicates).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExactTags(Vec<String>);

impl ExactTags {
    /// The tags, sorted.
    #[must_use]
    pub fn values(&self) -> &[String] {
        &self.0
    }
}

/// A validated glob: `[A-Za-z0-9_.-]` and `*`, at most 128 characters; `*` matches any run
/// of characters (also none), the pattern must match the whole tag.
#[derive(Clone, PartialEq, Eq)]
pub struct Glob {
    pattern: String,
}

/// A validated semver selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SemverSelector {
    range: SemverRange,
    allow_v_prefix: bool,
    include_prereleases: bool,
}

/// Why a glob pattern was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GlobError {
    /// The pattern is empty.
    #[error("must not be empty; use `*` for every tag")]
    Empty,
    /// The pattern is longer than 128 characters.
    #[error("must be at most {max} characters")]
    TooLong {
        /// The limit.
        max: usize,
    },
    /// A character that can never be in a tag (regular-expression syntax is not supported).
    #[error(
        "`{0}` is not allowed: only tag characters `[A-Za-z0-9_.-]` and `*` (any run of \
         characters); this is a glob, not a regular expression"
    )]
    InvalidChar(char),
}

impl TagSelector {
    /// Every tag.
    #[must_use]
    pub fn all() -> Self {
        Self::All
    }

    /// Exactly the listed tags. Each must be a valid OCI tag; the list must not be empty.
    /// Errors name `tags.values` or `tags.values[i]`.
    pub fn exact<I, S>(values: I) -> Result<Self, GrantError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut tags = Vec::new();
        for (index, value) in values.into_iter().enumerate() {
            let value = value.into();
            validate_tag(&value).map_err(|problem| GrantError::Tag { index, problem })?;
            tags.push(value);
        }
        if tags.is_empty() {
            return Err(GrantError::EmptyTagList);
        }
        tags.sort();
        tags.dedup();
        Ok(Self::Exact(ExactTags(tags)))
    }

    /// A glob pattern. Errors name `tags.pattern`.
    pub fn glob(pattern: &str) -> Result<Self, GrantError> {
        if pattern.is_empty() {
            return Err(GrantError::Glob(GlobError::Empty));
        }
        if pattern.len() > MAX_TAG_LEN {
            return Err(GrantError::Glob(GlobError::TooLong { max: MAX_TAG_LEN }));
        }
        if let Some(c) = pattern.chars().find(|c| !(is_tag_char(*c) || *c == '*')) {
            return Err(GrantError::Glob(GlobError::InvalidChar(c)));
        }
        Ok(Self::Glob(Glob { pattern: pattern.to_owned() }))
    }

    /// A semver range (see [`SemverRange::parse`] for the syntax). Errors name `tags.range`.
    pub fn semver(
        range: &str,
        allow_v_prefix: bool,
        include_prereleases: bool,
    ) -> Result<Self, GrantError> {
        let range = SemverRange::parse(range).map_err(GrantError::Range)?;
        Ok(Self::Semver(SemverSelector { range, allow_v_prefix, include_prereleases }))
    }

    /// Whether the tag name `tag` is selected.
    #[must_use]
    pub fn matches(&self, tag: &str) -> bool {
        self.matches_candidate(&TagCandidate::new(tag))
    }

    /// Whether `tag` is selected, reusing its parsed versions.
    pub(crate) fn matches_candidate(&self, tag: &TagCandidate<'_>) -> bool {
        match self {
            Self::All => true,
            Self::Exact(tags) => tags.0.binary_search_by(|t| t.as_str().cmp(tag.name)).is_ok(),
            Self::Glob(glob) => glob.matches(tag.name),
            Self::Semver(selector) => tag
                .version(selector.allow_v_prefix)
                .is_some_and(|v| selector.range.contains(v, selector.include_prereleases)),
        }
    }

    /// The unvalidated JSON shape of this selector.
    #[must_use]
    pub fn to_spec(&self) -> TagSelectorSpec {
        match self {
            Self::All => TagSelectorSpec::All,
            Self::Exact(tags) => TagSelectorSpec::Exact { values: tags.0.clone() },
            Self::Glob(glob) => TagSelectorSpec::Glob { pattern: glob.pattern.clone() },
            Self::Semver(s) => TagSelectorSpec::Semver {
                range: s.range.as_str().to_owned(),
                allow_v_prefix: s.allow_v_prefix,
                include_prereleases: s.include_prereleases,
            },
        }
    }
}

impl Glob {
    /// The pattern as written.
    #[must_use]
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// Whole-string match; `*` matches any run of characters, including none.
    #[must_use]
    pub fn matches(&self, tag: &str) -> bool {
        let mut parts = self.pattern.split('*');
        let Some(first) = parts.next() else {
            return false;
        };
        let middle_and_last: Vec<&str> = parts.collect();
        let Some((last, middle)) = middle_and_last.split_last() else {
            // No `*`: plain equality.
            return tag == self.pattern;
        };
        if tag.len() < first.len() + last.len() || !tag.starts_with(first) || !tag.ends_with(last) {
            return false;
        }
        let Some(mut rest) = tag.get(first.len()..tag.len() - last.len()) else {
            return false;
        };
        for part in middle.iter().filter(|p| !p.is_empty()) {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
        true
    }
}

impl fmt::Debug for Glob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Glob({:?})", self.pattern)
    }
}

impl SemverSelector {
    /// The range.
    #[must_use]
    pub fn range(&self) -> &SemverRange {
        &self.range
    }

    /// Whether a leading `v` is accepted (`v1.2.3`).
    #[must_use]
    pub fn allow_v_prefix(&self) -> bool {
        self.allow_v_prefix
    }

    /// Whether pre-release versions can match.
    #[must_use]
    pub fn include_prereleases(&self) -> bool {
        self.include_prereleases
    }
}

/// Reads a tag as a SemVer 2.0 version, strictly: `_` is read as `+` (Helm stores chart
/// version `1.2.3+build` as tag `1.2.3_build`), a leading `v` is removed only when
/// `allow_v_prefix`, and anything that is not a full `major.minor.patch[-pre][+build]` with no
/// leading zeros is not a version (`1.2`, `01.2.3`, `latest`).
#[must_use]
pub fn tag_version(tag: &str, allow_v_prefix: bool) -> Option<Version> {
    let tag = if allow_v_prefix { tag.strip_prefix('v').unwrap_or(tag) } else { tag };
    if tag.contains('_') {
        Version::parse(&tag.replace('_', "+")).ok()
    } else {
        Version::parse(tag).ok()
    }
}

/// A tag name with its version parses cached, so one tag can be tested against many grants.
#[derive(Debug)]
pub(crate) struct TagCandidate<'a> {
    name: &'a str,
    plain: OnceCell<Option<Version>>,
    v_prefixed: OnceCell<Option<Version>>,
}

impl<'a> TagCandidate<'a> {
    pub(crate) fn new(name: &'a str) -> Self {
        Self { name, plain: OnceCell::new(), v_prefixed: OnceCell::new() }
    }

    fn version(&self, allow_v_prefix: bool) -> Option<&Version> {
        let cell = if allow_v_prefix { &self.v_prefixed } else { &self.plain };
        cell.get_or_init(|| tag_version(self.name, allow_v_prefix)).as_ref()
    }
}

/// The JSON shape of a tag selector, before validation:
/// `{"kind":"all"}`, `{"kind":"exact","values":[..]}`, `{"kind":"glob","pattern":".."}`,
/// `{"kind":"semver","range":"..","allow_v_prefix":false,"include_prereleases":false}`.
/// Unknown fields are rejected; the two semver flags default to `false`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum TagSelectorSpec {
    /// Every tag.
    All,
    /// Exactly these tags.
    Exact {
        /// The tags.
        values: Vec<String>,
    },
    /// A glob.
    Glob {
        /// The pattern.
        pattern: String,
    },
    /// A semver range.
    Semver {
        /// The range.
        range: String,
        /// Accept a leading `v`.
        #[serde(default)]
        allow_v_prefix: bool,
        /// Let pre-releases match.
        #[serde(default)]
        include_prereleases: bool,
    },
}

impl TagSelectorSpec {
    /// Validates into a [`TagSelector`]; errors name the field (`tags.pattern`, ...).
    pub fn validate(&self) -> Result<TagSelector, GrantError> {
        match self {
            Self::All => Ok(TagSelector::All),
            Self::Exact { values } => TagSelector::exact(values.iter().map(String::as_str)),
            Self::Glob { pattern } => TagSelector::glob(pattern),
            Self::Semver { range, allow_v_prefix, include_prereleases } => {
                TagSelector::semver(range, *allow_v_prefix, *include_prereleases)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::{repository::TagNameError, semver_range::RangeError};

    fn check(selector: &TagSelector, cases: &[(&str, bool)]) {
        for (tag, expected) in cases {
            assert_eq!(selector.matches(tag), *expected, "{selector:?} on {tag}");
        }
    }

    #[test]
    fn all_matches_everything() {
        check(&TagSelector::all(), &[("latest", true), ("1.2.3", true), ("x", true)]);
    }

    #[test]
    fn exact_list() {
        let s = TagSelector::exact(["1.0.0", "latest", "1.0.0"]).unwrap();
        assert_eq!(
            s.to_spec(),
            TagSelectorSpec::Exact { values: vec!["1.0.0".into(), "latest".into()] }
        );
        check(
            &s,
            &[
                ("1.0.0", true),
                ("latest", true),
                ("Latest", false),
                ("1.0", false),
                ("1.0.0.1", false),
                ("v1.0.0", false),
            ],
        );
        assert_eq!(TagSelector::exact(Vec::<String>::new()), Err(GrantError::EmptyTagList));
        let err = TagSelector::exact(["ok", "no/slash"]).unwrap_err();
        assert_eq!(err, GrantError::Tag { index: 1, problem: TagNameError::InvalidChar('/') });
        assert_eq!(err.field(), "tags.values[1]");
    }

    #[test]
    fn glob_matching_is_anchored() {
        let cases: &[(&str, &[(&str, bool)])] = &[
            (
                "1.2.*",
                &[
                    ("1.2.0", true),
                    ("1.2.", true),
                    ("1.2.3-rc.1", true),
                    ("1.20.0", false),
                    ("x1.2.0", false),
                    ("1.2", false),
                ],
            ),
            ("*", &[("latest", true), ("a", true)]),
            ("*-alpine", &[("1.2-alpine", true), ("-alpine", true), ("alpine", false)]),
            (
                "a*b*c",
                &[
                    ("abc", true),
                    ("aXbYc", true),
                    ("abcbc", true),
                    ("acb", false),
                    ("abcd", false),
                    ("ab", false),
                ],
            ),
            ("a**b", &[("ab", true), ("axxb", true), ("a", false)]),
            ("aa*aa", &[("aaa", false), ("aaaa", true), ("aaxaa", true)]),
            ("latest", &[("latest", true), ("latest2", false), ("olatest", false)]),
            // `.` is literal, not "any character".
            ("1.2", &[("1.2", true), ("1x2", false)]),
            ("sha256-*.sig", &[("sha256-abc.sig", true), ("sha256-abc.att", false)]),
            ("a*b*c", &[("axc", false), ("abxc", true)]),
            ("abc*abc", &[("abcxabc", true), ("abcabc", true), ("abcab", false)]),
            (
                "x*ab*ab*y",
                &[("xaby", false), ("xabzaby", true), ("xababy", true), ("xabay", false)],
            ),
        ];
        for (pattern, tags) in cases {
            check(&TagSelector::glob(pattern).unwrap(), tags);
        }
    }

    #[test]
    fn glob_rejects_regex_syntax() {
        for (pattern, bad) in [
            ("1.2.?", '?'),
            ("[0-9]*", '['),
            ("^1.*$", '^'),
            ("a+", '+'),
            ("(a|b)", '('),
            ("a{2}", '{'),
            ("a\\.b", '\\'),
            ("a/b", '/'),
            ("a b", ' '),
        ] {
            let err = TagSelector::glob(pattern).unwrap_err();
            assert_eq!(err, GrantError::Glob(GlobError::InvalidChar(bad)), "{pattern}");
            assert_eq!(err.field(), "tags.pattern");
        }
        assert_eq!(TagSelector::glob(""), Err(GrantError::Glob(GlobError::Empty)));
        assert_eq!(
            TagSelector::glob(&"*".repeat(129)),
            Err(GrantError::Glob(GlobError::TooLong { max: 128 }))
        );
    }

    #[test]
    fn accessors_and_debug() {
        let TagSelector::Exact(tags) = TagSelector::exact(["b", "a"]).unwrap() else {
            panic!("not an exact selector");
        };
        assert_eq!(tags.values(), ["a".to_owned(), "b".to_owned()]);
        let TagSelector::Glob(glob) = TagSelector::glob("1.*").unwrap() else {
            panic!("not a glob");
        };
        assert_eq!(glob.pattern(), "1.*");
        assert_eq!(format!("{glob:?}"), r#"Glob("1.*")"#);
        for (v, pre) in [(false, false), (true, false), (false, true), (true, true)] {
            let TagSelector::Semver(s) = TagSelector::semver("^1", v, pre).unwrap() else {
                panic!("not a semver selector");
            };
            assert_eq!((s.allow_v_prefix(), s.include_prereleases()), (v, pre));
            assert_eq!(s.range().as_str(), "^1");
        }
    }

    #[test]
    fn glob_of_128_characters_is_valid() {
        let longest = "a".repeat(127) + "*";
        let glob = TagSelector::glob(&longest).unwrap();
        check(
            &glob,
            &[(&"a".repeat(127), true), (&"a".repeat(128), true), (&"a".repeat(126), false)],
        );
        let literal = "b".repeat(128);
        check(
            &TagSelector::glob(&literal).unwrap(),
            &[(&literal, true), (&"b".repeat(127), false)],
        );
        assert_eq!(
            TagSelector::glob(&"b".repeat(129)),
            Err(GrantError::Glob(GlobError::TooLong { max: 128 }))
        );
    }

    #[test]
    fn semver_selector() {
        let plain = TagSelector::semver(">=1.0.0 <2.0.0", false, false).unwrap();
        check(
            &plain,
            &[
                ("1.4.2", true),
                ("1.0.0", true),
                ("2.0.0", false),
                ("0.9.0", false),
                ("1.5.0-rc.1", false),
                ("1.5.0-beta", false),
                ("2.0.0-rc.1", false),
                ("v1.2.0", false),
                ("V1.2.0", false),
                ("1.2", false),
                ("01.2.3", false),
                ("1.02.3", false),
                ("1.2.3.4", false),
                ("latest", false),
                // Helm: chart version 1.2.3+build.1 is stored as tag 1.2.3_build.1.
                ("1.2.3_build.1", true),
                ("1.2.3-rc.1_build", false),
                ("1.2.3_a_b", false),
                ("1.2.3-01", false),
            ],
        );
        let v = TagSelector::semver(">=1.0.0 <2.0.0", true, false).unwrap();
        check(
            &v,
            &[
                ("v1.2.0", true),
                ("1.2.0", true),
                ("vv1.2.0", false),
                ("V1.2.0", false),
                ("v1.2", false),
                ("v2.0.0", false),
            ],
        );
        let pre = TagSelector::semver(">=1.0.0 <2.0.0", false, true).unwrap();
        check(
            &pre,
            &[
                ("1.5.0-beta", true),
                ("1.5.0-rc.1", true),
                ("1.0.0-rc.1", false),
                ("2.0.0-rc.1", false),
                ("1.2.3-rc.1_build", true),
                ("1.4.2", true),
            ],
        );
        let caret = TagSelector::semver("^1.2", false, false).unwrap();
        check(&caret, &[("1.2.0", true), ("1.9.9", true), ("2.0.0", false)]);
        let star = TagSelector::semver("*", false, false).unwrap();
        check(&star, &[("0.0.1", true), ("1.0.0-a", false), ("latest", false)]);
    }

    #[test]
    fn semver_errors_name_the_field() {
        for (range, expected) in [
            ("", RangeError::Empty),
            ("1.2.3", RangeError::BareVersion("1.2.3".into())),
            ("^1 || ^2", RangeError::Alternatives),
        ] {
            let err = TagSelector::semver(range, false, false).unwrap_err();
            assert_eq!(err, GrantError::Range(expected), "{range}");
            assert_eq!(err.field(), "tags.range");
            assert!(err.to_string().starts_with("tags.range: "), "{err}");
        }
        assert!(TagSelector::semver(">=banana", false, false).is_err());
    }

    #[test]
    fn spec_json_round_trip() {
        let cases = [
            (r#"{"kind":"all"}"#, TagSelectorSpec::All),
            (
                r#"{"kind":"exact","values":["a","b"]}"#,
                TagSelectorSpec::Exact { values: vec!["a".into(), "b".into()] },
            ),
            (r#"{"kind":"glob","pattern":"1.*"}"#, TagSelectorSpec::Glob { pattern: "1.*".into() }),
            (
                r#"{"kind":"semver","range":">=1.0.0 <2.0.0","allow_v_prefix":true,"include_prereleases":false}"#,
                TagSelectorSpec::Semver {
                    range: ">=1.0.0 <2.0.0".into(),
                    allow_v_prefix: true,
                    include_prereleases: false,
                },
            ),
        ];
        for (json, spec) in cases {
            let parsed: TagSelectorSpec = serde_json::from_str(json).unwrap();
            assert_eq!(parsed, spec);
            assert_eq!(serde_json::to_string(&spec).unwrap(), json);
            assert_eq!(parsed.validate().unwrap().to_spec(), spec);
        }
        let defaults: TagSelectorSpec =
            serde_json::from_str(r#"{"kind":"semver","range":"^1"}"#).unwrap();
        assert_eq!(
            defaults,
            TagSelectorSpec::Semver {
                range: "^1".into(),
                allow_v_prefix: false,
                include_prereleases: false
            }
        );
        for bad in [
            r#"{"kind":"regex","pattern":".*"}"#,
            r#"{"kind":"glob","pattern":"*","extra":1}"#,
            r#"{"kind":"semver","range":"^1","include_prerelease":true}"#,
            r#"{"pattern":"*"}"#,
        ] {
            assert!(serde_json::from_str::<TagSelectorSpec>(bad).is_err(), "{bad}");
        }
    }

    /// A reference glob matcher by dynamic programming.
    fn glob_reference(pattern: &[u8], tag: &[u8]) -> bool {
        let mut dp = vec![vec![false; tag.len() + 1]; pattern.len() + 1];
        dp[0][0] = true;
        for i in 1..=pattern.len() {
            for j in 0..=tag.len() {
                dp[i][j] = if pattern[i - 1] == b'*' {
                    dp[i - 1][j] || (j > 0 && dp[i][j - 1])
                } else {
                    j > 0 && dp[i - 1][j - 1] && pattern[i - 1] == tag[j - 1]
                };
            }
        }
        dp[pattern.len()][tag.len()]
    }

    proptest! {
        #[test]
        fn glob_agrees_with_reference(pattern in "[ab*]{1,8}", tag in "[ab]{0,10}") {
            let glob = TagSelector::glob(&pattern).unwrap();
            prop_assert_eq!(glob.matches(&tag), glob_reference(pattern.as_bytes(), tag.as_bytes()));
        }
    }
}
