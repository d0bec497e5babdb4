//! The messages Wharf sends, each as a plain-text and an HTML part rendered from
//! `web/templates/email/` (askama: the `.html` templates escape every value, the `.txt` ones
//! write them as they are).

use askama::Template;
use secrecy::{ExposeSecret, SecretString};
use time::{OffsetDateTime, UtcOffset, macros::format_description};
use uuid::Uuid;

use super::{MailAbout, MailError, OutgoingMail};

/// An invitation to send, in the inviting vendor's name.
#[derive(Debug, Clone)]
pub struct InvitationMail {
    /// The invited address.
    pub to: String,
    /// The link that accepts the invitation (holds its token).
    pub link: SecretString,
    /// The vendor organization's display name (for a sign-up invitation, the instance's).
    pub vendor_name: String,
    /// Who invited, as they are shown (a name or an address); `None` for an operator.
    pub inviter_name: Option<String>,
    /// What accepting does, completing "invited you to …": `join Acme as admin`, `get Acme's
    /// software as a user of Globex`.
    pub what: String,
    /// When the invitation expires.
    pub expires_at: OffsetDateTime,
    /// The organization it is sent for (none for a sign-up invitation).
    pub organization_id: Option<Uuid>,
    /// The invitation.
    pub invitation_id: Uuid,
}

/// A password-reset link to send.
#[derive(Debug, Clone)]
pub struct PasswordResetMail {
    /// The account's address.
    pub to: String,
    /// The link that sets a new password (holds its token).
    pub link: SecretString,
    /// When the link expires.
    pub expires_at: OffsetDateTime,
    /// The account.
    pub user_id: Uuid,
}

#[derive(Template)]
#[template(path = "email/invitation.txt")]
struct InvitationText<'a> {
    link: &'a str,
    vendor_name: &'a str,
    inviter_name: Option<&'a str>,
    what: &'a str,
    expires: &'a str,
}

#[derive(Template)]
#[template(path = "email/invitation.html")]
struct InvitationHtml<'a> {
    link: &'a str,
    vendor_name: &'a str,
    inviter_name: Option<&'a str>,
    what: &'a str,
    expires: &'a str,
}

#[derive(Template)]
#[template(path = "email/password_reset.txt")]
struct PasswordResetText<'a> {
    to: &'a str,
    link: &'a str,
    expires: &'a str,
}

#[derive(Template)]
#[template(path = "email/password_reset.html")]
struct PasswordResetHtml<'a> {
    to: &'a str,
    link: &'a str,
    expires: &'a str,
}

/// The invitation message: subject "<vendor> invited you to Wharf", From "<vendor> via
/// Wharf" at the configured address.
pub fn invitation_mail(mail: InvitationMail) -> Result<OutgoingMail, MailError> {
    let vendor = one_line(&mail.vendor_name, 200);
    let inviter = mail.inviter_name.as_deref().map(|name| one_line(name, 200));
    let what = one_line(&mail.what, 500);
    let expires = when(mail.expires_at);
    let link = mail.link.expose_secret();
    let text = InvitationText {
        link,
        vendor_name: &vendor,
        inviter_name: inviter.as_deref(),
        what: &what,
        expires: &expires,
    }
    .render()
    .map_err(|_| MailError::Render)?;
    let html = InvitationHtml {
        link,
        vendor_name: &vendor,
        inviter_name: inviter.as_deref(),
        what: &what,
        expires: &expires,
    }
    .render()
    .map_err(|_| MailError::Render)?;
    Ok(OutgoingMail {
        to: mail.to,
        sender_name: Some(format!("{vendor} via Wharf")),
        subject: format!("{vendor} invited you to Wharf"),
        text: SecretString::from(text),
        html: SecretString::from(html),
        organization_id: mail.organization_id,
        about: MailAbout::Invitation(mail.invitation_id),
    })
}

/// The password-reset message: subject "Reset your Wharf password", From the configured
/// mailbox.
pub fn password_reset_mail(mail: PasswordResetMail) -> Result<OutgoingMail, MailError> {
    let expires = when(mail.expires_at);
    let link = mail.link.expose_secret();
    let to = one_line(&mail.to, 320);
    let text = PasswordResetText { to: &to, link, expires: &expires }
        .render()
        .map_err(|_| MailError::Render)?;
    let html = PasswordResetHtml { to: &to, link, expires: &expires }
        .render()
        .map_err(|_| MailError::Render)?;
    Ok(OutgoingMail {
        to: mail.to,
        sender_name: None,
        subject: "Reset your Wharf password".to_owned(),
        text: SecretString::from(text),
        html: SecretString::from(html),
        organization_id: None,
        about: MailAbout::PasswordReset(mail.user_id),
    })
}

/// `text` on one line (control characters, line breaks included, become spaces; runs of
/// spaces one), at most `max` characters: names go into headers and sentences.
fn one_line(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max));
    let mut space = false;
    for c in text.trim().chars().take(max) {
        if c.is_control() || c.is_whitespace() {
            if !space {
                out.push(' ');
            }
            space = true;
        } else {
            out.push(c);
            space = false;
        }
    }
    out
}

/// A time as the messages state it: `13 December 2026, 14:05 UTC`.
fn when(at: OffsetDateTime) -> String {
    let format =
        format_description!("[day padding:none] [month repr:long] [year], [hour]:[minute] UTC");
    at.to_offset(UtcOffset::UTC).format(&format).unwrap_or_else(|_| at.to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use time::macros::datetime;

    use super::*;

    fn invitation(vendor: &str) -> OutgoingMail {
        invitation_mail(InvitationMail {
            to: "new@globex.test".into(),
            link: "https://wharf.example.com/invitations/wharf_inv_abc?x=1&y=2".into(),
            vendor_name: vendor.into(),
            inviter_name: Some("Ada <ada@acme.test>".into()),
            what: format!("get {vendor}'s software as a user of Globex"),
            expires_at: datetime!(2026-12-13 14:05 UTC),
            organization_id: Some(Uuid::nil()),
            invitation_id: Uuid::nil(),
        })
        .unwrap()
    }

    #[test]
    fn an_invitation_names_the_vendor_and_carries_the_link() {
        let mail = invitation("Acme");
        assert_eq!(mail.subject, "Acme invited you to Wharf");
        assert_eq!(mail.sender_name.as_deref(), Some("Acme via Wharf"));
        let text = mail.text.expose_secret();
        assert!(
            text.starts_with("Ada <ada@acme.test> invited you to get Acme's software"),
            "{text}"
        );
        assert!(text.contains("\nhttps://wharf.example.com/invitations/wharf_inv_abc?x=1&y=2\n"));
        assert!(text.contains("expires on 13 December 2026, 14:05 UTC"), "{text}");
        let html = mail.html.expose_secret();
        assert!(
            html.contains(
                r#"href="https://wharf.example.com/invitations/wharf_inv_abc?x=1&#38;y=2""#
            ),
            "{html}"
        );
        assert!(html.contains("Ada &#60;ada@acme.test&#62; invited you"), "{html}");
        assert!(html.contains(r#"<html lang="en">"#));
    }

    #[test]
    fn vendor_names_are_escaped_in_html_and_kept_on_one_line() {
        let mail = invitation("<script>alert(1)</script>\r\nBcc: x@evil.test");
        let html = mail.html.expose_secret();
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"), "{html}");
        assert!(!mail.subject.contains(['\r', '\n']));
        assert_eq!(mail.subject, "<script>alert(1)</script> Bcc: x@evil.test invited you to Wharf");
        assert!(!mail.sender_name.unwrap().contains('\n'));
    }

    #[test]
    fn a_password_reset_is_not_in_a_vendor_name() {
        let mail = password_reset_mail(PasswordResetMail {
            to: "ada@acme.test".into(),
            link: "https://wharf.example.com/reset/tok".into(),
            expires_at: datetime!(2026-12-13 14:05 +01:00),
            user_id: Uuid::nil(),
        })
        .unwrap();
        assert_eq!(mail.subject, "Reset your Wharf password");
        assert_eq!(mail.sender_name, None);
        assert_eq!(mail.about, MailAbout::PasswordReset(Uuid::nil()));
        assert!(mail.text.expose_secret().contains("\nhttps://wharf.example.com/reset/tok\n"));
        assert!(mail.text.expose_secret().contains("13 December 2026, 13:05 UTC"));
        assert!(
            mail.html.expose_secret().contains(r#"href="https://wharf.example.com/reset/tok""#)
        );
        let debug = format!("{mail:?}");
        assert!(!debug.contains("reset/tok"), "{debug}");
    }
}
