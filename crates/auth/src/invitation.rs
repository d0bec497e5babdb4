//! Link tokens: the secret in an invitation link and in a password-reset link.
//!
//! Owns how these tokens look, how it is generated and how a presented string is
//! checked before any lookup. Same shape as access tokens (see [`crate::token`]): the product
//! prefix [`INVITATION_PREFIX`] (`wharf_inv_`), 32 random base62 characters (about 190 bits)
//! and a 6-character CRC32 checksum, 48 ASCII characters in all, URL-safe as is. Only the
//! SHA-256 of the full text is stored; the text is shown once, to whoever issued the
//! invitation. Expiry, single use and revocation are the database's and the account
//! service's business.
//!
//! Invitation tokens are not access tokens: [`crate::token::parse`] refuses them (unknown
//! prefix), so one can never be used to log in to the registry.

use crate::token::{self, PREFIX_LEN, PlaintextToken, TokenHash};

/// Prefix of every invitation token. Never change it.
pub const INVITATION_PREFIX: &str = "wharf_inv_";

/// Prefix of every password-reset token. Never change it.
pub const PASSWORD_RESET_PREFIX: &str = "wharf_pwr_";

/// A freshly generated invitation token.
#[derive(Debug, Clone)]
pub struct GeneratedInvitation {
    /// The clear text, shown once (in the invitation link). `Debug` redacts it.
    pub plaintext: PlaintextToken,
    /// SHA-256 of the clear text, to store.
    pub hash: TokenHash,
}

/// Generates a new invitation token from the thread-local CSPRNG.
pub fn generate() -> GeneratedInvitation {
    generate_with(INVITATION_PREFIX)
}

/// Generates a new password-reset token (same shape, prefix `wharf_pwr_`).
pub fn generate_password_reset() -> GeneratedInvitation {
    generate_with(PASSWORD_RESET_PREFIX)
}

fn generate_with(prefix: &str) -> GeneratedInvitation {
    let text = token::random_text(prefix);
    let hash = token::hash(&text);
    GeneratedInvitation { plaintext: PlaintextToken::new(text), hash }
}

/// Checks the format of a presented invitation token (prefix, length, charset, checksum)
/// and returns the hash to look up; `None` for anything that is not one, without saying why
/// (every bad invitation gets the same answer).
pub fn parse(presented: &str) -> Option<TokenHash> {
    parse_with(INVITATION_PREFIX, presented)
}

/// Checks a presented password-reset token like [`parse`] does an invitation's.
pub fn parse_password_reset(presented: &str) -> Option<TokenHash> {
    parse_with(PASSWORD_RESET_PREFIX, presented)
}

fn parse_with(prefix: &str, presented: &str) -> Option<TokenHash> {
    let presented = presented.trim();
    if !presented.is_ascii() || !presented.starts_with(prefix) {
        return None;
    }
    token::check_after_prefix(presented).ok()?;
    Some(token::hash(presented))
}

const _: () = assert!(INVITATION_PREFIX.len() == PREFIX_LEN);
const _: () = assert!(PASSWORD_RESET_PREFIX.len() == PREFIX_LEN);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let generated = generate();
        let text = generated.plaintext.expose_secret();
        assert!(text.starts_with("wharf_inv_"), "{text}");
        assert_eq!(text.len(), token::TOKEN_LEN);
        assert!(text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'), "URL-safe");
        assert_eq!(parse(text), Some(generated.hash));
        assert_eq!(parse(&format!(" {text}\n")), Some(generated.hash), "pasted with spaces");
        assert_ne!(generate().hash, generated.hash);
    }

    #[test]
    fn malformed_tokens_are_refused_without_a_lookup() {
        let text = generate().plaintext.expose_secret().to_owned();
        let mut typo = text.clone().into_bytes();
        typo[20] = if typo[20] == b'a' { b'b' } else { b'a' };
        let typo = String::from_utf8(typo).unwrap();
        for bad in [
            "",
            "wharf_inv_",
            &text[..text.len() - 1],
            &format!("{text}0"),
            &typo,
            &text.replacen("wharf_inv_", "wharf_vnd_", 1),
            &text.to_uppercase(),
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn reset_tokens_and_invitations_never_stand_in_for_each_other() {
        let reset = generate_password_reset();
        let text = reset.plaintext.expose_secret();
        assert!(text.starts_with("wharf_pwr_"), "{text}");
        assert_eq!(parse_password_reset(text), Some(reset.hash));
        assert_eq!(parse(text), None);
        let invitation = generate();
        assert_eq!(parse_password_reset(invitation.plaintext.expose_secret()), None);
        assert_eq!(token::parse(text), Err(token::TokenFormatError::UnknownPrefix));
    }

    #[test]
    fn invitations_are_not_access_tokens() {
        let text = generate().plaintext.expose_secret().to_owned();
        assert_eq!(token::parse(&text), Err(token::TokenFormatError::UnknownPrefix));
        let access = token::generate(token::TokenKind::VendorApi);
        assert_eq!(parse(access.plaintext.expose_secret()), None);
    }

    #[test]
    fn debug_is_redacted() {
        let generated = generate();
        let debug = format!("{generated:?}");
        assert!(!debug.contains(&generated.plaintext.expose_secret()[PREFIX_LEN..]), "{debug}");
    }
}
