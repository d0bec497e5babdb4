//! The `Authorization` request header: the one place Wharf reads it.
//!
//! Owns telling Basic credentials (an access token as the password, at `/token` and on `/v2`)
//! from a Bearer token (a registry bearer token on `/v2`, a vendor API token on `/api/v1`),
//! with the `headers` crate's parsers: the scheme is matched case-insensitively (RFC 9110,
//! section 11.1), so `BASIC x` and `bearer x` are what they say on every path; a request with
//! two `Authorization` headers is refused, never guessed at (whichever comes first). It decides
//! nothing about whether the credentials are good (that is the caller's, with
//! [`crate::token`] and [`crate::jwt`]).

use headers::{Authorization as Header, HeaderMapExt as _, authorization};
use http::HeaderMap;
use secrecy::SecretString;

/// Credentials presented in an `Authorization` header.
#[derive(Debug)]
pub enum Presented {
    /// `Basic`: a user name (any value; a throttling key only) and a password (an access
    /// token), never printed.
    Basic {
        /// The user name.
        user: String,
        /// The password.
        password: SecretString,
    },
    /// `Bearer`: a token.
    Bearer(BearerToken),
}

/// A bearer token as presented, kept in the request's own header value (no copy on the
/// request path, where every registry GET presents one) and never printed.
pub struct BearerToken(authorization::Bearer);

impl BearerToken {
    /// The token, for checking it.
    pub fn expose(&self) -> &str {
        self.0.token().trim()
    }
}

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerToken(<redacted>)")
    }
}

/// The header is there but is not Basic or Bearer credentials Wharf can read, or it is there
/// twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the Authorization header is neither Basic nor Bearer credentials")]
pub struct Unreadable;

impl Presented {
    /// The credentials in `headers`: `Ok(None)` when there is no `Authorization` header.
    pub fn from_headers(headers: &HeaderMap) -> Result<Option<Self>, Unreadable> {
        let mut values = headers.get_all(http::header::AUTHORIZATION).iter();
        if values.next().is_none() {
            return Ok(None);
        }
        // Two of them: which one the client meant cannot be known, so neither is taken.
        if values.next().is_some() {
            return Err(Unreadable);
        }
        if let Some(Header(basic)) = headers.typed_get::<Header<authorization::Basic>>() {
            let user = basic.username().to_owned();
            let password = SecretString::from(basic.password().to_owned());
            return Ok(Some(Self::Basic { user, password }));
        }
        if let Some(Header(bearer)) = headers.typed_get::<Header<authorization::Bearer>>() {
            return Ok(Some(Self::Bearer(BearerToken(bearer))));
        }
        Err(Unreadable)
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret as _;

    use super::*;

    fn presented(value: &str) -> Result<Option<Presented>, Unreadable> {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::AUTHORIZATION, value.parse().unwrap());
        Presented::from_headers(&headers)
    }

    fn basic(value: &str) -> Option<(String, String)> {
        match presented(value) {
            Ok(Some(Presented::Basic { user, password })) => {
                Some((user, password.expose_secret().to_owned()))
            }
            _ => None,
        }
    }

    fn bearer(value: &str) -> Option<String> {
        match presented(value) {
            Ok(Some(Presented::Bearer(token))) => Some(token.expose().to_owned()),
            _ => None,
        }
    }

    #[test]
    fn schemes_are_case_insensitive() {
        // "user:wharf_cst_x" in base64
        for scheme in ["Basic", "basic", "BASIC", "bAsIc"] {
            assert_eq!(
                basic(&format!("{scheme} dXNlcjp3aGFyZl9jc3RfeA==")),
                Some(("user".into(), "wharf_cst_x".into())),
                "{scheme}"
            );
        }
        for scheme in ["Bearer", "bearer", "BEARER"] {
            assert_eq!(bearer(&format!("{scheme} abc.def.ghi")), Some("abc.def.ghi".into()));
        }
    }

    #[test]
    fn tokens_are_never_printed() {
        let debug = format!("{:?}", presented("Bearer s3cret.token.here"));
        assert!(!debug.contains("s3cret"), "{debug}");
        let debug = format!("{:?}", presented("Basic dXNlcjp3aGFyZl9jc3RfeA=="));
        assert!(!debug.contains("wharf_cst_x"), "{debug}");
    }

    #[test]
    fn a_password_may_contain_colons_and_the_user_may_be_empty() {
        // ":a:b" in base64
        assert_eq!(basic("Basic OmE6Yg=="), Some((String::new(), "a:b".into())));
    }

    #[test]
    fn two_authorization_headers_are_never_guessed_at() {
        let basic = "Basic dXNlcjp3aGFyZl9jc3RfeA==";
        let bearer = "Bearer abc.def.ghi";
        for (first, second) in [(basic, bearer), (bearer, basic), (bearer, bearer), (basic, "x")] {
            let mut headers = HeaderMap::new();
            headers.append(http::header::AUTHORIZATION, first.parse().unwrap());
            headers.append(http::header::AUTHORIZATION, second.parse().unwrap());
            assert!(
                matches!(Presented::from_headers(&headers), Err(Unreadable)),
                "{first} then {second}"
            );
        }
    }

    #[test]
    fn no_header_is_none_and_anything_else_is_unreadable() {
        assert!(matches!(Presented::from_headers(&HeaderMap::new()), Ok(None)));
        for junk in ["Digest abc", "Basic", "Basic !!!notbase64", "Bearer", "token", ""] {
            assert!(matches!(presented(junk), Err(Unreadable)), "{junk:?}");
        }
    }
}
