//! Checks of what people type when they create accounts and organizations: slugs, names,
//! emails and new passwords. The operator commands (`wharf admin`) use the same checks.
//!
//! Each returns a [`FieldError`] naming the form field, with a message meant for the person
//! filling the form (it never echoes the value, which the form still shows).

use secrecy::SecretString;
use wharf_auth::password::check_policy;
use wharf_oci::name::{ComponentError, MAX_ORG_SLUG_LEN, check_component};

use super::{Field, FieldError};

/// Longest organization slug.
pub const MAX_SLUG_LEN: usize = MAX_ORG_SLUG_LEN;
/// Longest organization name, in characters.
pub const MAX_ORG_NAME_CHARS: usize = 200;
/// Longest email address, in bytes.
pub const MAX_EMAIL_LEN: usize = 254;

/// Checks an organization slug: one OCI repository-name component
/// (`[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`, `wharf_oci`'s one grammar), at
/// most [`MAX_SLUG_LEN`] characters. The slug is the first path segment of every repository
/// of the organization.
pub fn check_slug(slug: &str) -> Result<(), FieldError> {
    let invalid = |message: &str| Err(FieldError::new(Field::OrgSlug, message));
    if slug.len() > MAX_SLUG_LEN {
        return invalid(&format!("at most {MAX_SLUG_LEN} characters"));
    }
    if slug.contains('/') {
        return invalid("it must not contain `/`");
    }
    match check_component(slug) {
        Ok(()) => Ok(()),
        Err(ComponentError::Empty) => invalid("it must not be empty"),
        // The reasons speak of repository-name components; a slug is exactly one.
        Err(err) => invalid(&err.reason().replace("a path component", "it")),
    }
}

/// Checks an organization's display name: 1 to [`MAX_ORG_NAME_CHARS`] characters, not only
/// spaces.
pub fn check_org_name(name: &str) -> Result<(), FieldError> {
    if name.trim().is_empty() || name.chars().count() > MAX_ORG_NAME_CHARS {
        return Err(FieldError::new(
            Field::OrgName,
            format!("1 to {MAX_ORG_NAME_CHARS} characters"),
        ));
    }
    Ok(())
}

/// Checks an email address lightly (one `@` with something on each side, no spaces or
/// control characters, at most [`MAX_EMAIL_LEN`] bytes) and returns it as Wharf stores it:
/// without surrounding white space, lower-case. Whether the address works is not checked.
pub fn normalize_email(email: &str) -> Result<String, FieldError> {
    let email = email.trim();
    let valid = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && email.len() <= MAX_EMAIL_LEN
                && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    };
    if !valid {
        return Err(FieldError::new(
            Field::Email,
            "enter an email address such as name@example.com",
        ));
    }
    Ok(email.to_lowercase())
}

/// Longest name of a person, in characters.
pub const MAX_PERSON_NAME_CHARS: usize = 200;

/// Checks the name a person gives: 1 to [`MAX_PERSON_NAME_CHARS`] characters, not only
/// spaces, no control characters.
pub fn check_person_name(name: &str) -> Result<(), FieldError> {
    let name = name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_PERSON_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(FieldError::new(
            Field::Name,
            format!("1 to {MAX_PERSON_NAME_CHARS} characters, no line breaks"),
        ));
    }
    Ok(())
}

/// Checks a newly chosen password against `wharf_auth::password::check_policy`.
pub fn check_new_password(password: &SecretString) -> Result<(), FieldError> {
    check_policy(password).map_err(|e| FieldError::new(Field::Password, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_follow_the_oci_component_syntax() {
        for good in ["acme", "a", "acme-inc", "acme--inc", "acme.io", "acme_inc", "a__b", "0x1"] {
            assert!(check_slug(good).is_ok(), "{good}");
        }
        let long = "a".repeat(64);
        for bad in
            ["", "Acme", "acme/", "acme/app", "-acme", "acme-", "a___b", "a..b", "ac me", &long]
        {
            let err = check_slug(bad).unwrap_err();
            assert_eq!(err.field, Field::OrgSlug, "{bad}");
        }
        assert!(check_slug(&"a".repeat(63)).is_ok());
        let err = check_slug("Acme").unwrap_err();
        assert_eq!(err.message, "it must start and end with a lower-case letter or digit");
        assert!(!err.message.contains("path component"), "{err}");
    }

    #[test]
    fn organization_names() {
        assert!(check_org_name("Acme Inc").is_ok());
        assert!(check_org_name(&"é".repeat(200)).is_ok());
        for bad in ["", "   ", &"x".repeat(201)] {
            assert_eq!(check_org_name(bad).unwrap_err().field, Field::OrgName, "{bad:?}");
        }
    }

    #[test]
    fn emails_are_checked_lightly_and_lower_cased() {
        assert_eq!(normalize_email("dev@acme.test").unwrap(), "dev@acme.test");
        assert_eq!(normalize_email("  Dev@Acme.TEST \n").unwrap(), "dev@acme.test");
        let long = format!("{}@acme.test", "a".repeat(250));
        for bad in ["", "dev", "@acme.test", "dev@", "a b@c.d", "a@b@c", "a\u{7}@b.c", &long] {
            assert_eq!(normalize_email(bad).unwrap_err().field, Field::Email, "{bad:?}");
        }
    }

    #[test]
    fn new_passwords_follow_the_policy() {
        assert!(check_new_password(&SecretString::from("long enough password")).is_ok());
        let err = check_new_password(&SecretString::from("short")).unwrap_err();
        assert_eq!(err.field, Field::Password);
        assert!(err.message.contains("at least 12 characters"), "{err}");
    }
}
