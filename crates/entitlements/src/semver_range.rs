//! Semver ranges of tag selectors: parsing, and the explicit rule for pre-releases.
//!
//! Owns the range syntax (the `semver` crate's, plus space-separated comparators) and how a
//! version is tested against a range. It does not use `VersionReq::matches`: that function
//! lets a pre-release through only when a comparator names the same `major.minor.patch` with a
//! pre-release, which is neither "excluded" nor "plain comparison". Instead every comparator
//! becomes an interval of versions ordered by SemVer precedence (build metadata ignored), and:
//!
//! - a pre-release tag never matches unless the selector includes pre-releases;
//! - for releases the intervals agree exactly with `VersionReq::matches` (property-tested);
//! - for included pre-releases the comparison is by precedence, except that an exclusive upper
//!   bound that is a release (`<2.0.0`, and the implicit bounds of `^`, `~`, `1.*`) also
//!   excludes that release's own pre-releases: `2.0.0-rc.1` never slips into `<2.0.0`,
//!   unless another comparator of the same range names a pre-release of that version
//!   (`>=2.0.0-rc.1 <2.0.0` is the 2.0.0 release candidates);
//! - a partial version is filled with zeros (`>=1.2` is `>=1.2.0`), and `>1.2` means above
//!   every `1.2.x`, so `1.3.0-alpha` is in it when pre-releases are included.
//!
//! Nothing here knows tags; [`crate::selector`] maps tag names to versions.

use std::cmp::Ordering;

use semver::{BuildMetadata, Comparator, Op, Prerelease, Version, VersionReq};

/// Why a range was rejected. [`crate::GrantError`] adds the field name `tags.range`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    /// The range is empty or only whitespace.
    #[error("must not be empty; use `*` for any release, or the selector kind `all`")]
    Empty,
    /// `a || b` is not supported.
    #[error("alternatives (`||`) are not supported; use one grant per range")]
    Alternatives,
    /// `a - b` is not supported.
    #[error("hyphen ranges (`a - b`) are not supported; write `>=a <=b`")]
    HyphenRange,
    /// A comparator without an operator, which Cargo reads as `^` and npm as `=`.
    #[error(
        "`{0}` has no operator; write `={0}` for exactly this version or `^{0}` for \
         compatible versions"
    )]
    BareVersion(String),
    /// An operator with no version after it.
    #[error("`{0}` is missing a version")]
    DanglingOperator(String),
    /// The `semver` crate rejected the (normalised) range.
    #[error("invalid range `{range}`: {message}")]
    Syntax {
        /// The range as normalised (comparators separated by `, `).
        range: String,
        /// The parser's message.
        message: String,
    },
}

/// A validated semver range.
#[derive(Debug, Clone)]
pub struct SemverRange {
    /// The range as the vendor wrote it (kept for display and round trips).
    source: String,
    /// The parsed requirement (normalised to comma-separated comparators).
    req: VersionReq,
    /// One interval per comparator; a version matches when it is in all of them.
    intervals: Vec<Interval>,
}

impl PartialEq for SemverRange {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for SemverRange {}

impl SemverRange {
    /// Parses a range: the `semver` crate's syntax (`>=1.0.0, <2.0.0`, `^1.2`, `~1.2.3`,
    /// `1.*`, `*`), or the same comparators separated by whitespace (`>=1.0.0 <2.0.0`).
    /// Every comparator needs an operator or a wildcard; `||` and hyphen ranges are rejected.
    pub fn parse(range: &str) -> Result<Self, RangeError> {
        let normalised = normalise(range)?;
        let req = VersionReq::parse(&normalised).map_err(|e| RangeError::Syntax {
            range: normalised.clone(),
            message: e.to_string(),
        })?;
        let mut intervals: Vec<Interval> =
            req.comparators.iter().map(Interval::from_comparator).collect();
        // Exclusive release upper bounds also exclude that release's pre-releases, unless the
        // range names one of them.
        let named_prereleases: Vec<(u64, u64, u64)> = req
            .comparators
            .iter()
            .filter(|c| !c.pre.is_empty())
            .filter_map(|c| Some((c.major, c.minor?, c.patch?)))
            .collect();
        for interval in &mut intervals {
            if let Upper::Below(b) = &interval.upper
                && b.pre.is_empty()
                && !named_prereleases.contains(&(b.major, b.minor, b.patch))
            {
                interval.upper = Upper::CoreBelow(b.clone());
            }
        }
        Ok(Self { source: range.to_owned(), req, intervals })
    }

    /// The range as written.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The parsed requirement.
    #[must_use]
    pub fn req(&self) -> &VersionReq {
        &self.req
    }

    /// Whether `version` is in the range (see the module header for the pre-release rule).
    #[must_use]
    pub fn contains(&self, version: &Version, include_prereleases: bool) -> bool {
        if !version.pre.is_empty() && !include_prereleases {
            return false;
        }
        self.intervals.iter().all(|i| i.contains(version))
    }
}

const OPERATORS: [&str; 7] = ["=", ">", ">=", "<", "<=", "~", "^"];

/// Splits on commas and whitespace, glues a lone operator to the version after it, checks
/// every comparator has an operator or a wildcard, and joins with `, `.
fn normalise(range: &str) -> Result<String, RangeError> {
    if range.trim().is_empty() {
        return Err(RangeError::Empty);
    }
    if range.contains("||") {
        return Err(RangeError::Alternatives);
    }
    let tokens: Vec<&str> =
        range.split(|c: char| c == ',' || c.is_whitespace()).filter(|t| !t.is_empty()).collect();
    if tokens.contains(&"-") {
        return Err(RangeError::HyphenRange);
    }
    let mut comparators = Vec::with_capacity(tokens.len());
    let mut pending: Option<&str> = None;
    for token in tokens {
        if OPERATORS.contains(&token) {
            if let Some(op) = pending {
                return Err(RangeError::DanglingOperator(op.to_owned()));
            }
            pending = Some(token);
            continue;
        }
        let comparator = match pending.take() {
            Some(op) if token.starts_with(['=', '<', '>', '~', '^']) => {
                return Err(RangeError::DanglingOperator(op.to_owned()));
            }
            Some(op) => format!("{op}{token}"),
            None => token.to_owned(),
        };
        let has_operator = comparator.starts_with(['=', '<', '>', '~', '^']);
        let is_wildcard = comparator.split('.').any(|part| matches!(part, "*" | "x" | "X"));
        if !has_operator && !is_wildcard {
            return Err(RangeError::BareVersion(comparator));
        }
        comparators.push(comparator);
    }
    if let Some(op) = pending {
        return Err(RangeError::DanglingOperator(op.to_owned()));
    }
    Ok(comparators.join(", "))
}

/// Lower end of an interval.
#[derive(Debug, Clone)]
enum Lower {
    /// No lower bound.
    Unbounded,
    /// `>= v` by precedence.
    AtLeast(Version),
    /// `> v` by precedence.
    Above(Version),
    /// `major.minor.patch >= v`'s, whatever the pre-release.
    CoreAtLeast(Version),
    /// Nothing is high enough (a bound past the largest representable version).
    Empty,
}

/// Upper end of an interval.
#[derive(Debug, Clone)]
enum Upper {
    /// No upper bound.
    Unbounded,
    /// `< v` by precedence.
    Below(Version),
    /// `major.minor.patch < v`'s: below the release `v` and all its pre-releases.
    CoreBelow(Version),
    /// `<= v` by precedence.
    AtMost(Version),
}

/// The versions one comparator admits.
#[derive(Debug, Clone)]
struct Interval {
    lower: Lower,
    upper: Upper,
}

/// SemVer precedence: major, minor, patch, then pre-release (a release is above its
/// pre-releases); build metadata ignored.
fn precedence(a: &Version, b: &Version) -> Ordering {
    (a.major, a.minor, a.patch).cmp(&(b.major, b.minor, b.patch)).then_with(|| a.pre.cmp(&b.pre))
}

fn release(major: u64, minor: u64, patch: u64) -> Version {
    Version::new(major, minor, patch)
}

/// The smallest release above every `major.*`.
fn after_major(major: u64) -> Option<Version> {
    major.checked_add(1).map(|m| release(m, 0, 0))
}

/// The smallest release above every `major.minor.*`.
fn after_minor(major: u64, minor: u64) -> Option<Version> {
    match minor.checked_add(1) {
        Some(m) => Some(release(major, m, 0)),
        None => after_major(major),
    }
}

/// The smallest release above every `major.minor.patch(-pre)`.
fn after_patch(major: u64, minor: u64, patch: u64) -> Option<Version> {
    match patch.checked_add(1) {
        Some(p) => Some(release(major, minor, p)),
        None => after_minor(major, minor),
    }
}

fn below(bound: Option<Version>) -> Upper {
    bound.map_or(Upper::Unbounded, Upper::Below)
}

impl Interval {
    fn from_comparator(c: &Comparator) -> Self {
        let major = c.major;
        // The version the comparator names, missing parts filled with zeros.
        let named = Version {
            major,
            minor: c.minor.unwrap_or(0),
            patch: c.patch.unwrap_or(0),
            pre: if c.patch.is_some() { c.pre.clone() } else { Prerelease::EMPTY },
            build: BuildMetadata::EMPTY,
        };
        // The smallest release above everything the named prefix covers.
        let after_prefix = match (c.minor, c.patch) {
            (Some(minor), Some(patch)) => after_patch(major, minor, patch),
            (Some(minor), None) => after_minor(major, minor),
            (None, _) => after_major(major),
        };
        let full = c.minor.is_some() && c.patch.is_some();
        let (lower, upper) = match c.op {
            Op::Exact | Op::Wildcard if full => {
                (Lower::AtLeast(named.clone()), Upper::AtMost(named))
            }
            Op::Exact | Op::Wildcard => (Lower::AtLeast(named), below(after_prefix)),
            Op::Greater if full => (Lower::Above(named), Upper::Unbounded),
            Op::Greater => {
                (after_prefix.map_or(Lower::Empty, Lower::CoreAtLeast), Upper::Unbounded)
            }
            Op::GreaterEq => (Lower::AtLeast(named), Upper::Unbounded),
            Op::Less => (Lower::Unbounded, Upper::Below(named)),
            Op::LessEq if full => (Lower::Unbounded, Upper::AtMost(named)),
            Op::LessEq => (Lower::Unbounded, below(after_prefix)),
            Op::Tilde => {
                let upper = match c.minor {
                    Some(minor) => after_minor(major, minor),
                    None => after_major(major),
                };
                (Lower::AtLeast(named), below(upper))
            }
            Op::Caret => {
                let upper = match (c.minor, c.patch) {
                    (None, _) => after_major(major),
                    _ if major > 0 => after_major(major),
                    (Some(minor), None) => after_minor(0, minor),
                    (Some(minor), Some(_)) if minor > 0 => after_minor(0, minor),
                    (Some(minor), Some(patch)) => after_patch(0, minor, patch),
                };
                (Lower::AtLeast(named), below(upper))
            }
            // An operator this code does not know admits nothing (fail closed).
            _ => (Lower::Empty, Upper::Unbounded),
        };
        Self { lower, upper }
    }

    fn contains(&self, v: &Version) -> bool {
        let lower = match &self.lower {
            Lower::Unbounded => true,
            Lower::AtLeast(b) => precedence(v, b) != Ordering::Less,
            Lower::Above(b) => precedence(v, b) == Ordering::Greater,
            Lower::CoreAtLeast(b) => (v.major, v.minor, v.patch) >= (b.major, b.minor, b.patch),
            Lower::Empty => false,
        };
        let upper = match &self.upper {
            Upper::Unbounded => true,
            Upper::Below(b) => precedence(v, b) == Ordering::Less,
            Upper::CoreBelow(b) => (v.major, v.minor, v.patch) < (b.major, b.minor, b.patch),
            Upper::AtMost(b) => precedence(v, b) != Ordering::Greater,
        };
        lower && upper
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn normalisation() {
        let cases = [
            (">=1.0.0 <2.0.0", ">=1.0.0, <2.0.0"),
            (">=1.0.0, <2.0.0", ">=1.0.0, <2.0.0"),
            (">=1.0.0,<2.0.0", ">=1.0.0, <2.0.0"),
            (">= 1.0.0   < 2.0.0", ">=1.0.0, <2.0.0"),
            ("  ^1.2 ", "^1.2"),
            ("1.*", "1.*"),
            ("*", "*"),
            ("1.2.x", "1.2.x"),
        ];
        for (input, expected) in cases {
            assert_eq!(normalise(input).as_deref(), Ok(expected), "{input}");
        }
        let errors = [
            ("", RangeError::Empty),
            ("   ", RangeError::Empty),
            ("^1 || ^2", RangeError::Alternatives),
            ("1.0.0 - 2.0.0", RangeError::HyphenRange),
            ("1.2.3", RangeError::BareVersion("1.2.3".into())),
            (">=1.0.0 2.0.0", RangeError::BareVersion("2.0.0".into())),
            (">= <2", RangeError::DanglingOperator(">=".into())),
            (">=1.0.0 <", RangeError::DanglingOperator("<".into())),
        ];
        for (input, expected) in errors {
            assert_eq!(normalise(input), Err(expected), "{input}");
        }
        assert!(matches!(
            SemverRange::parse(">=1.0"),
            Ok(r) if r.req().comparators.len() == 1
        ));
        for bad in [">=x", ">=1.0.0.0", ">=v1.0.0", "~>1.2", ">=01.0.0", "*, <2.0.0"] {
            assert!(matches!(SemverRange::parse(bad), Err(RangeError::Syntax { .. })), "{bad}");
        }
    }

    /// (range, version, included when pre-releases are excluded, included when included).
    #[test]
    fn table() {
        let cases = [
            (">=1.0.0 <2.0.0", "1.4.2", true, true),
            (">=1.0.0 <2.0.0", "2.0.0", false, false),
            (">=1.0.0 <2.0.0", "0.9.9", false, false),
            (">=1.0.0 <2.0.0", "1.5.0-beta", false, true),
            (">=1.0.0 <2.0.0", "2.0.0-rc.1", false, false),
            (">=1.0.0 <2.0.0", "1.0.0-rc.1", false, false),
            (">=1.0.0 <2.0.0", "1.4.2+build.7", true, true),
            ("<2.0.0-rc.3", "2.0.0-rc.1", false, true),
            ("<2.0.0-rc.3", "2.0.0-rc.3", false, false),
            ("<=2.0.0", "2.0.0-rc.1", false, true),
            (">=2.0.0-rc.1", "2.0.0-rc.2", false, true),
            (">=2.0.0-rc.1", "2.0.0-beta", false, false),
            ("=2.0.0-rc.1", "2.0.0-rc.1", false, true),
            ("=1.2.3", "1.2.3", true, true),
            ("=1.2.3", "1.2.3-beta", false, false),
            ("=1.2", "1.2.9", true, true),
            ("=1.2", "1.2.9-beta", false, true),
            ("=1.2", "1.3.0-beta", false, false),
            ("1.*", "1.9.0", true, true),
            ("1.*", "1.9.0-alpha", false, true),
            ("1.*", "2.0.0-alpha", false, false),
            ("1.*", "1.0.0-alpha", false, false),
            ("*", "0.0.1", true, true),
            ("*", "3.0.0-alpha", false, true),
            ("^1.2.3", "1.9.0", true, true),
            ("^1.2.3", "2.0.0-alpha", false, false),
            ("^1.2.3", "1.2.3-alpha", false, false),
            ("^1.2.3", "1.2.4-alpha", false, true),
            ("^0.2.3", "0.3.0", false, false),
            ("^0.0.3", "0.0.4", false, false),
            ("~1.2.3", "1.2.9", true, true),
            ("~1.2.3", "1.3.0-alpha", false, false),
            (">1.2", "1.2.9", false, false),
            (">1.2", "1.3.0", true, true),
            (">1.2", "1.3.0-alpha", false, true),
            (">=2.0.0-rc.1 <2.0.0", "2.0.0-rc.2", false, true),
            (">=2.0.0-rc.1 <2.0.0", "2.0.0", false, false),
            (">=1.0.0 <2.0.0-0", "2.0.0-0", false, false),
            (">1.2.3", "1.2.4-alpha", false, true),
            ("<1.2", "1.2.0-alpha", false, false),
            ("<1.2", "1.1.9-alpha", false, true),
            ("<=1.2", "1.2.9", true, true),
            ("<=1.2", "1.3.0-alpha", false, false),
            // `^0.x.y` with x > 0 is `>=0.x.y <0.(x+1).0`, not just `0.x.y`.
            ("^0.2.3", "0.2.3", true, true),
            ("^0.2.3", "0.2.4", true, true),
            ("^0.2.3", "0.2.9-rc.1", false, true),
            ("^0.2.3", "0.2.2", false, false),
            ("^0.2.3", "0.3.0-rc.1", false, false),
            ("^0.0.3", "0.0.3", true, true),
            ("^0.0.3", "0.0.4-alpha", false, false),
            ("^0.2", "0.2.9", true, true),
            ("^0.2", "0.3.0", false, false),
            ("^0.0", "0.0.9", true, true),
            ("^0.0", "0.1.0", false, false),
            ("^0", "0.9.9", true, true),
            ("^0", "1.0.0", false, false),
            ("^1.2.3", "1.2.3", true, true),
            ("^1.2.3", "1.2.2", false, false),
            ("~1.2", "1.2.9", true, true),
            ("~1.2", "1.3.0", false, false),
            ("~1", "1.9.9", true, true),
            ("~1", "2.0.0-alpha", false, false),
            // A pre-release named exactly, or as an inclusive upper bound, never admits the
            // release it precedes.
            ("=2.0.0-rc.1", "2.0.0", false, false),
            ("=2.0.0-rc.1", "2.0.0-rc.2", false, false),
            ("=2.0.0-rc.1", "2.0.0-rc.0", false, false),
            ("<=2.0.0-rc.1", "2.0.0", false, false),
            ("<=2.0.0-rc.1", "2.0.0-rc.1", false, true),
            ("<=2.0.0-rc.1", "2.0.0-beta", false, true),
            ("<=2.0.0-rc.1", "2.0.0-rc.2", false, false),
            ("<=2.0.0-rc.1", "1.9.0", true, true),
            // `>` a pre-release: the later pre-releases of the same version and the release.
            (">1.2.3-alpha", "1.2.3", true, true),
            (">1.2.3-alpha", "1.2.3-beta", false, true),
            (">1.2.3-alpha", "1.2.3-alpha", false, false),
            (">1.2.3-alpha", "1.2.2", false, false),
            (">=1.2.3-alpha", "1.2.3-alpha", false, true),
            ("<1.2.3-beta", "1.2.3-alpha", false, true),
            ("<1.2.3-beta", "1.2.3", false, false),
            ("<1.2.3-beta", "1.2.2", true, true),
            ("<2.0.0", "1.9.9", true, true),
            ("<=2.0.0", "2.0.0", true, true),
            ("<=2.0.0", "2.0.1", false, false),
        ];
        for (range, version, excluded, included) in cases {
            let r = SemverRange::parse(range).unwrap();
            let version = v(version);
            assert_eq!(r.contains(&version, false), excluded, "{range} {version}");
            assert_eq!(r.contains(&version, true), included, "{range} {version} +pre");
        }
    }

    #[test]
    fn ranges_are_equal_when_written_alike() {
        assert_eq!(SemverRange::parse("^1.2").unwrap(), SemverRange::parse("^1.2").unwrap());
        assert_ne!(SemverRange::parse("^1.2").unwrap(), SemverRange::parse("^1.3").unwrap());
    }

    #[test]
    fn overflow_does_not_panic() {
        let max = u64::MAX;
        let r = SemverRange::parse(&format!(">{max}.{max}")).unwrap();
        assert!(!r.contains(&release(max, max, max), false));
        let r = SemverRange::parse(&format!("^{max}.{max}.{max}")).unwrap();
        assert!(r.contains(&release(max, max, max), false));
        let r = SemverRange::parse(&format!("~{max}.{max}")).unwrap();
        assert!(r.contains(&release(max, max, 0), false));
    }

    fn comparator() -> impl Strategy<Value = String> {
        let op = prop::sample::select(vec!["=", ">", ">=", "<", "<=", "~", "^", ""]);
        let n = 0u64..4;
        let pre = prop::sample::select(vec!["", "-alpha", "-rc.1", "-0"]);
        (op, n.clone(), prop::option::of(n.clone()), prop::option::of(n), pre).prop_map(
            |(op, major, minor, patch, pre)| match (minor, patch) {
                (Some(minor), Some(patch)) if op.is_empty() => {
                    format!("={major}.{minor}.{patch}{pre}")
                }
                (Some(minor), Some(patch)) => format!("{op}{major}.{minor}.{patch}{pre}"),
                (Some(minor), None) if op.is_empty() => format!("{major}.{minor}.*"),
                (Some(minor), None) => format!("{op}{major}.{minor}"),
                (None, _) if op.is_empty() => format!("{major}.*"),
                (None, _) => format!("{op}{major}"),
            },
        )
    }

    proptest! {
        /// For releases the interval rule is exactly the semver crate's.
        #[test]
        fn releases_agree_with_semver_crate(
            comparators in prop::collection::vec(comparator(), 1..3),
            major in 0u64..5, minor in 0u64..5, patch in 0u64..5,
        ) {
            let range = comparators.join(" ");
            if let Ok(r) = SemverRange::parse(&range) {
                let version = release(major, minor, patch);
                prop_assert_eq!(r.contains(&version, false), r.req().matches(&version));
                prop_assert_eq!(r.contains(&version, true), r.req().matches(&version));
            }
        }

        /// Whatever the semver crate admits among pre-releases, we admit too when included
        /// (we are never stricter than its special case when asked for pre-releases).
        #[test]
        fn prereleases_never_excluded_by_mistake(
            comparators in prop::collection::vec(comparator(), 1..3),
            major in 0u64..5, minor in 0u64..5, patch in 0u64..5,
            pre in prop::sample::select(vec!["alpha", "rc.1", "0"]),
        ) {
            let range = comparators.join(" ");
            if let Ok(r) = SemverRange::parse(&range) {
                let mut version = release(major, minor, patch);
                version.pre = Prerelease::new(pre).unwrap();
                prop_assert!(!r.contains(&version, false));
                if r.req().matches(&version) {
                    prop_assert!(r.contains(&version, true), "{} {}", range, version);
                }
            }
        }
    }
}
