//! Every path the pages link or redirect to, built in one place, and the check on
//! `?next=` redirect targets.
//!
//! Links that carry a secret (reset, invitation and sign-up links) put it in the last path
//! segment under one of [`SECRET_PREFIXES`], so [`redact_secret`] can keep it out of logs.

use std::borrow::Cow;

use uuid::Uuid;

/// `/sign-in`.
pub const SIGN_IN: &str = "/sign-in";
/// `/sign-out` (POST).
pub const SIGN_OUT: &str = "/sign-out";
/// `/choose`: pick which organization or customer to act for.
pub const CHOOSE: &str = "/choose";
/// `/account`: password and sessions.
pub const ACCOUNT: &str = "/account";
/// `/account/password` (POST).
pub const ACCOUNT_PASSWORD: &str = "/account/password";
/// `/account/sessions/end-others`: confirm (GET) and end (POST) every other session.
pub const END_OTHER_SESSIONS: &str = "/account/sessions/end-others";
/// `/forgot-password`.
pub const FORGOT_PASSWORD: &str = "/forgot-password";
/// `/sign-up`.
pub const SIGN_UP: &str = "/sign-up";

/// Path prefixes whose next segment is a secret.
pub const SECRET_PREFIXES: [&str; 3] = ["/reset-password/", "/invitation/", "/sign-up/"];

/// `/reset-password/{token}`.
pub fn reset_password(token: &str) -> String {
    format!("/reset-password/{token}")
}

/// `/invitation/{token}`.
pub fn invitation(token: &str) -> String {
    format!("/invitation/{token}")
}

/// `/sign-up/{token}`: sign up with a sign-up invitation.
pub fn sign_up_invited(token: &str) -> String {
    format!("/sign-up/{token}")
}

/// `/account/sessions/{id}/end` (POST).
pub fn end_session(public_id: Uuid) -> String {
    format!("/account/sessions/{public_id}/end")
}

/// A vendor organization's home, `/vendor/{slug}`.
pub fn vendor_home(slug: &str) -> String {
    format!("/vendor/{}", percent_encode_segment(slug))
}

/// A customer's home in the customer portal, `/customer/{vendor slug}/{customer id}`.
pub fn customer_home(vendor_slug: &str, customer_id: Uuid) -> String {
    format!("/customer/{}/{customer_id}", percent_encode_segment(vendor_slug))
}

/// The sign-in page that returns to `next` afterwards.
pub fn sign_in_then(next: &str) -> String {
    if next == "/" {
        return SIGN_IN.to_owned();
    }
    let query = serde_urlencoded::to_string([("next", next)]).unwrap_or_default();
    format!("{SIGN_IN}?{query}")
}

/// `next` if it is a path on this site (`/…`, not `//…`, no scheme, no backslash, no
/// control characters); `None` otherwise, so a redirect never leaves the site.
pub fn safe_next(next: &str) -> Option<&str> {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.contains('\\')
        && !next.chars().any(|c| c.is_control() || c.is_whitespace())
        && next.len() <= 2048;
    ok.then_some(next)
}

/// `path` with the secret segment of a secret-carrying link replaced by `…`.
pub fn redact_secret(path: &str) -> Cow<'_, str> {
    for prefix in SECRET_PREFIXES {
        if let Some(rest) = path.strip_prefix(prefix)
            && !rest.is_empty()
        {
            let tail = rest.find('/').map_or("", |i| &rest[i..]);
            return Cow::Owned(format!("{prefix}…{tail}"));
        }
    }
    Cow::Borrowed(path)
}

/// Slugs are `[a-z0-9._-]`, safe as they are; anything else is encoded anyway.
fn percent_encode_segment(segment: &str) -> Cow<'_, str> {
    if segment.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)) {
        Cow::Borrowed(segment)
    } else {
        Cow::Owned(segment.bytes().map(|b| format!("%{b:02X}")).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_the_site() {
        for good in ["/", "/account", "/vendor/acme?tab=x", "/a/b#c"] {
            assert_eq!(safe_next(good), Some(good), "{good}");
        }
        for bad in [
            "//evil.test",
            "https://evil.test",
            "http:/evil.test",
            "/\\evil.test",
            "/x\\y",
            "evil.test",
            "",
            "/\nLocation: x",
            "/ x",
            "javascript:alert(1)",
        ] {
            assert_eq!(safe_next(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn secrets_in_paths_are_redacted() {
        assert_eq!(redact_secret("/reset-password/wharf_pwr_abc"), "/reset-password/…");
        assert_eq!(redact_secret("/invitation/wharf_inv_abc"), "/invitation/…");
        assert_eq!(redact_secret("/sign-up/wharf_inv_abc"), "/sign-up/…");
        assert_eq!(redact_secret("/sign-up"), "/sign-up");
        assert_eq!(redact_secret("/account"), "/account");
        assert_eq!(redact_secret("/invitation/x/extra"), "/invitation/…/extra");
    }

    #[test]
    fn sign_in_keeps_where_to_go() {
        assert_eq!(sign_in_then("/"), "/sign-in");
        assert_eq!(sign_in_then("/account?a=b"), "/sign-in?next=%2Faccount%3Fa%3Db");
    }
}
