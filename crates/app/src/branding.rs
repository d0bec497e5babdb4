//! A vendor's branding of its customer portal: title, logo, primary colour, welcome text, the
//! registry host shown in commands, and whether customers see their own pull history.
//!
//! Owns validating branding, turning it into what pages may safely use, and every change to
//! it (audited as `settings.update` and `settings.logo`). Nothing a vendor supplies reaches a
//! page unchecked:
//! - the welcome text is Markdown rendered by pulldown-cmark with raw HTML dropped, then
//!   cleaned by ammonia's allow-list (no images, links `http`/`https`/`mailto` only, every
//!   link `rel="noopener noreferrer nofollow"`) — [`render_markdown`];
//! - the colour must be `#rrggbb` and becomes a stylesheet ([`theme_css`]), never inline
//!   style, with text colours chosen (or darkened) for WCAG AA contrast;
//! - the logo's type is sniffed from its bytes (PNG, JPEG, SVG), never from its name, it is
//!   at most [`MAX_LOGO_BYTES`], and it is served from a Wharf path named after its SHA-256
//!   (`/branding/{slug}/logo.{sha256}`) under a CSP that forbids script ([`LOGO_CSP`]).
//!
//! SQL is `wharf_db::branding`'s; roles are checked by the caller (admins and owners).

use pulldown_cmark::{Event, Options, Parser};
use serde_json::json;
use sha2::{Digest as _, Sha256};
use wharf_db::{
    PgPool,
    branding::{self, BrandingRow, BrandingUpdate},
};

use crate::{
    actions::{ActionError, Actor},
    audit::AuditLog,
};

/// The largest logo accepted.
pub const MAX_LOGO_BYTES: usize = 256 * 1024;
/// The longest portal title, in characters.
pub const MAX_TITLE_CHARS: usize = 100;
/// The longest welcome text, in characters.
pub const MAX_WELCOME_CHARS: usize = 20_000;
/// The Content-Security-Policy a logo is served with: an SVG opened directly can neither run
/// script nor load anything.
pub const LOGO_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; sandbox";

/// Branding as a vendor submits it, before validation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BrandingForm {
    /// The organization's name.
    pub org_name: String,
    /// The portal's title (empty: the organization's name).
    pub title: String,
    /// `#rrggbb` or empty (Wharf's colours).
    pub primary_color: String,
    /// Welcome text in Markdown.
    pub welcome_markdown: String,
    /// `host[:port]` shown in commands, or empty (the public URL's).
    pub registry_host: String,
    /// Whether customers see their own pull history.
    pub show_pull_history: bool,
}

impl BrandingForm {
    /// The form showing `row`.
    pub fn of(org_name: &str, row: &BrandingRow) -> Self {
        BrandingForm {
            org_name: org_name.to_owned(),
            title: row.title.clone(),
            primary_color: row.primary_color.clone().unwrap_or_default(),
            welcome_markdown: row.welcome_markdown.clone(),
            registry_host: row.registry_host.clone().unwrap_or_default(),
            show_pull_history: row.show_pull_history,
        }
    }

    /// Checks every field; the first problem of each field, named as in the JSON API
    /// (`organization_name`, `title`, `primary_color`, `welcome_markdown`, `registry_host`).
    pub fn validate(&self) -> Result<BrandingRow, Vec<(&'static str, String)>> {
        let mut errors = Vec::new();
        if let Err(err) = crate::accounts::validate::check_org_name(self.org_name.trim()) {
            errors.push(("organization_name", format!("must be {}", err.message)));
        }
        let title = self.title.trim();
        if title.chars().count() > MAX_TITLE_CHARS {
            errors.push(("title", format!("must be at most {MAX_TITLE_CHARS} characters")));
        } else if title.chars().any(char::is_control) {
            errors.push(("title", "must not contain control characters".into()));
        }
        let color = match check_color(&self.primary_color) {
            Ok(color) => color,
            Err(message) => {
                errors.push(("primary_color", message));
                None
            }
        };
        if self.welcome_markdown.chars().count() > MAX_WELCOME_CHARS {
            errors.push((
                "welcome_markdown",
                format!("must be at most {MAX_WELCOME_CHARS} characters"),
            ));
        }
        let host = match check_host(&self.registry_host) {
            Ok(host) => host,
            Err(message) => {
                errors.push(("registry_host", message));
                None
            }
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(BrandingRow {
            title: title.to_owned(),
            primary_color: color,
            welcome_markdown: self.welcome_markdown.replace("\r\n", "\n"),
            registry_host: host,
            show_pull_history: self.show_pull_history,
            ..BrandingRow::default()
        })
    }
}

/// `#rrggbb` (any case; stored lower-case), or nothing for an empty value.
pub fn check_color(value: &str) -> Result<Option<String>, String> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    let ok = value.len() == 7
        && value.starts_with('#')
        && value[1..].bytes().all(|b| b.is_ascii_hexdigit());
    if ok {
        Ok(Some(value.to_ascii_lowercase()))
    } else {
        Err("must be a colour like #0a5cad".into())
    }
}

/// A registry host as clients name it: `host` or `host:port`, letters, digits, dots and
/// dashes; nothing for an empty value.
pub fn check_host(value: &str) -> Result<Option<String>, String> {
    let value = value.trim().to_ascii_lowercase();
    if value.is_empty() {
        return Ok(None);
    }
    let (host, port) = match value.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (value.as_str(), None),
    };
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|n| n > 0));
    if host_ok && port_ok {
        Ok(Some(value))
    } else {
        Err("must be a host name, optionally with a port (registry.example.com:5000)".into())
    }
}

/// The welcome text as safe HTML: CommonMark with raw HTML and images dropped, then
/// cleaned by an allow-list (paragraphs, headings, lists, emphasis, code, quotes, rules,
/// tables and links to `http`, `https` and `mailto` only).
pub fn render_markdown(markdown: &str) -> String {
    let mut options = Options::empty();
    options.insert(Options::ENABLE_TABLES);
    options.insert(Options::ENABLE_STRIKETHROUGH);
    let parser = Parser::new_ext(markdown, options).map(|event| match event {
        // Raw HTML is shown as text, never as markup.
        Event::Html(html) | Event::InlineHtml(html) => Event::Text(html),
        other => other,
    });
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, parser);
    sanitize(&html)
}

fn sanitize(html: &str) -> String {
    let tags = [
        "p",
        "br",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "ul",
        "ol",
        "li",
        "em",
        "strong",
        "del",
        "code",
        "pre",
        "blockquote",
        "hr",
        "a",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
    ];
    ammonia::Builder::empty()
        .add_tags(tags)
        .add_tag_attributes("a", ["href"])
        .add_tag_attributes("ol", ["start"])
        .url_schemes(["http", "https", "mailto"].into_iter().collect())
        .link_rel(Some("noopener noreferrer nofollow"))
        .url_relative(ammonia::UrlRelative::Deny)
        .clean(html)
        .to_string()
}

/// Why a logo was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogoError {
    /// Larger than [`MAX_LOGO_BYTES`].
    #[error("is larger than 256 KiB")]
    TooLarge,
    /// Not a PNG, JPEG or SVG image (by its bytes).
    #[error("must be a PNG, JPEG or SVG image")]
    UnknownType,
}

/// The content type of a logo, from its bytes: PNG and JPEG by their signatures, SVG as
/// UTF-8 text whose first element is `<svg` (after an XML declaration, comments or a
/// doctype).
pub fn sniff_logo(bytes: &[u8]) -> Result<&'static str, LogoError> {
    if bytes.len() > MAX_LOGO_BYTES {
        return Err(LogoError::TooLarge);
    }
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Ok("image/png");
    }
    if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        return Ok("image/jpeg");
    }
    let text = std::str::from_utf8(bytes).map_err(|_| LogoError::UnknownType)?;
    let mut rest = text.trim_start_matches('\u{feff}').trim_start();
    loop {
        let skip = if rest.starts_with("<?") {
            "?>"
        } else if rest.starts_with("<!--") {
            "-->"
        } else if rest.starts_with("<!") {
            ">"
        } else {
            break;
        };
        let end = rest.find(skip).ok_or(LogoError::UnknownType)?;
        rest = rest[end + skip.len()..].trim_start();
    }
    let is_svg = rest
        .strip_prefix("<svg")
        .is_some_and(|after| after.starts_with(|c: char| c.is_whitespace() || c == '>'));
    if is_svg && !text.contains('\0') { Ok("image/svg+xml") } else { Err(LogoError::UnknownType) }
}

/// The SHA-256 of `bytes`, lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The stylesheet that applies `color` (`#rrggbb`) to Pico's primary variables. Text in the
/// colour (links) is darkened until it has a 4.5:1 contrast with the white page; text on it
/// (buttons) is near-black on a light colour, else white on the colour darkened to 4.5:1.
pub fn theme_css(color: &str) -> String {
    scoped_css(":root:not([data-theme=dark]), [data-theme=light]", color)
}

/// The same variables for the elements of class `brand-preview` only (the Settings page's
/// preview of a colour not saved yet).
pub fn preview_css(color: &str) -> String {
    scoped_css(".brand-preview", color)
}

fn scoped_css(selector: &str, color: &str) -> String {
    let rgb = parse_rgb(color).unwrap_or((0x01, 0x72, 0xad));
    let white = (255, 255, 255);
    let mut text = rgb;
    while contrast(text, white) < 4.5 {
        text = scale(text, 0.9);
    }
    let ink = (0x1b, 0x1f, 0x24);
    let mut rgb = rgb;
    let inverse = if contrast(rgb, ink) >= 4.5 && contrast(rgb, ink) > contrast(rgb, white) {
        ink
    } else {
        // Buttons are darkened until white text on them reads at 4.5:1.
        while contrast(rgb, white) < 4.5 {
            rgb = scale(rgb, 0.9);
        }
        white
    };
    let hover = scale(rgb, 0.85);
    let hex = |(r, g, b): (u8, u8, u8)| format!("#{r:02x}{g:02x}{b:02x}");
    let (r, g, b) = rgb;
    format!(
        "{selector} {{\n  \
         --pico-primary: {text};\n  \
         --pico-primary-background: {bg};\n  \
         --pico-primary-border: {bg};\n  \
         --pico-primary-underline: rgba({r}, {g}, {b}, 0.5);\n  \
         --pico-primary-hover: {text_hover};\n  \
         --pico-primary-hover-background: {hover};\n  \
         --pico-primary-hover-border: {hover};\n  \
         --pico-primary-hover-underline: {text_hover};\n  \
         --pico-primary-focus: rgba({r}, {g}, {b}, 0.35);\n  \
         --pico-primary-inverse: {inverse};\n\
         }}\n",
        text = hex(text),
        text_hover = hex(scale(text, 0.85)),
        bg = hex(rgb),
        hover = hex(hover),
        inverse = hex(inverse),
    )
}

/// A short, stable name for the stylesheet of `color` (its URL changes when it does).
pub fn theme_hash(color: &str) -> String {
    sha256_hex(theme_css(color).as_bytes())[..16].to_owned()
}

fn parse_rgb(color: &str) -> Option<(u8, u8, u8)> {
    let hex = color.strip_prefix('#')?;
    if hex.len() != 6 {
        return None;
    }
    let byte = |i: usize| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok();
    Some((byte(0)?, byte(2)?, byte(4)?))
}

fn scale((r, g, b): (u8, u8, u8), factor: f64) -> (u8, u8, u8) {
    let f = |c: u8| (f64::from(c) * factor).round().clamp(0.0, 255.0) as u8;
    (f(r), f(g), f(b))
}

fn luminance((r, g, b): (u8, u8, u8)) -> f64 {
    let channel = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c <= 0.03928 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
    };
    0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)
}

/// The WCAG contrast ratio of two colours.
fn contrast(a: (u8, u8, u8), b: (u8, u8, u8)) -> f64 {
    let (la, lb) = (luminance(a), luminance(b));
    let (hi, lo) = if la > lb { (la, lb) } else { (lb, la) };
    (hi + 0.05) / (lo + 0.05)
}

/// The organization's branding as pages use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Branding {
    /// The organization's slug.
    pub slug: String,
    /// The organization's name.
    pub org_name: String,
    /// What is stored.
    pub row: BrandingRow,
}

impl Branding {
    /// The portal's title: the vendor's, else the organization's name.
    pub fn title(&self) -> &str {
        if self.row.title.is_empty() { &self.org_name } else { &self.row.title }
    }

    /// The welcome text as sanitized HTML (empty without one).
    pub fn welcome_html(&self) -> String {
        render_markdown(&self.row.welcome_markdown)
    }

    /// The theme stylesheet's path, when a colour is set.
    pub fn theme_path(&self) -> Option<String> {
        let color = self.row.primary_color.as_deref()?;
        Some(format!("/branding/{}/theme.{}.css", self.slug, theme_hash(color)))
    }

    /// The logo's path, when there is one.
    pub fn logo_path(&self) -> Option<String> {
        let sha = self.row.logo_sha256.as_deref()?;
        Some(format!("/branding/{}/logo.{sha}", self.slug))
    }

    /// The host shown in commands: the vendor's, else `default` (the public URL's).
    pub fn registry_host(&self, default: &str) -> String {
        self.row.registry_host.clone().unwrap_or_else(|| default.to_owned())
    }
}

/// The branding of the organization `slug`, with its id; `None` for an unknown slug.
pub async fn find(
    pool: &PgPool,
    slug: &str,
) -> Result<Option<(uuid::Uuid, Branding)>, wharf_db::DbError> {
    Ok(branding::find_by_slug(pool, slug).await?.map(|org| {
        (org.organization_id, Branding { slug: org.slug, org_name: org.name, row: org.branding })
    }))
}

/// Stores the branding settings of the actor's organization (the logo is kept), audited as
/// `settings.update` with what changed. Invalid input changes nothing
/// ([`ActionError::Invalid`] on the first field in error).
pub async fn update(
    pool: &PgPool,
    audit: &AuditLog,
    actor: &Actor,
    form: &BrandingForm,
) -> Result<BrandingRow, ActionError> {
    let valid = form.validate().map_err(|errors| {
        let (field, message) = errors.into_iter().next().unwrap_or(("title", String::new()));
        ActionError::Invalid { field: field.to_owned(), message }
    })?;
    let before = branding::get(pool, actor.org_id).await?;
    let name = form.org_name.trim();
    let before_name = branding::rename_organization(pool, actor.org_id, name).await?;
    let after = branding::update(
        pool,
        actor.org_id,
        &BrandingUpdate {
            title: &valid.title,
            primary_color: valid.primary_color.as_deref(),
            welcome_markdown: &valid.welcome_markdown,
            registry_host: valid.registry_host.as_deref(),
            show_pull_history: valid.show_pull_history,
        },
    )
    .await?;
    audit.action(
        actor,
        "settings.update",
        format!("organization:{}", actor.org_id),
        Some(actor.org_slug.clone()),
        json!({
            "before": summary(&before_name, &before),
            "after": summary(name, &after),
        }),
    );
    Ok(after)
}

/// Replaces the logo of the actor's organization with `bytes` (sniffed, size-checked), or
/// removes it (`None`); audited as `settings.logo`. Returns the new logo's SHA-256.
pub async fn set_logo(
    pool: &PgPool,
    audit: &AuditLog,
    actor: &Actor,
    bytes: Option<&[u8]>,
) -> Result<Option<String>, ActionError> {
    let logo = match bytes {
        Some(bytes) => {
            let content_type = sniff_logo(bytes).map_err(|err| ActionError::Invalid {
                field: "logo".into(),
                message: err.to_string(),
            })?;
            Some((bytes, content_type, sha256_hex(bytes)))
        }
        None => None,
    };
    branding::set_logo(pool, actor.org_id, logo.as_ref().map(|(b, c, s)| (*b, *c, s.as_str())))
        .await?;
    let detail = match &logo {
        Some((bytes, content_type, sha)) => {
            json!({ "content_type": content_type, "size": bytes.len(), "sha256": sha })
        }
        None => json!({ "removed": true }),
    };
    audit.action(
        actor,
        "settings.logo",
        format!("organization:{}", actor.org_id),
        Some(actor.org_slug.clone()),
        detail,
    );
    Ok(logo.map(|(_, _, sha)| sha))
}

fn summary(org_name: &str, row: &BrandingRow) -> serde_json::Value {
    json!({
        "organization_name": org_name,
        "title": row.title,
        "primary_color": row.primary_color,
        "welcome_markdown_chars": row.welcome_markdown.chars().count(),
        "registry_host": row.registry_host,
        "show_pull_history": row.show_pull_history,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_keeps_text_and_drops_script_images_and_bad_links() {
        let html = render_markdown(
            "# Hi\n\n**Welcome** to [docs](https://example.com) and [x](javascript:alert(1))\n\n\
             <img src=x onerror=alert(1)>\n\n![logo](https://example.com/a.png)\n\n\
             <script>alert(1)</script>\n\n[mail](mailto:a@example.com)",
        );
        assert!(html.contains("<strong>Welcome</strong>"), "{html}");
        assert!(html.contains(r#"href="https://example.com""#), "{html}");
        assert!(html.contains(r#"href="mailto:a@example.com""#), "{html}");
        assert!(!html.contains("javascript:"), "{html}");
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("<script"), "{html}");
        assert!(html.contains("&lt;img"), "raw HTML is shown as text: {html}");
        assert!(html.contains("noopener"), "{html}");
    }

    #[test]
    fn colours_are_rrggbb_only() {
        assert_eq!(check_color("#0A5CAD"), Ok(Some("#0a5cad".into())));
        assert_eq!(check_color(" "), Ok(None));
        for bad in ["0a5cad", "#0a5", "#0a5cag", "red", "#0a5cad;}", "#0a5cad0"] {
            assert!(check_color(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hosts_are_host_and_port() {
        assert_eq!(
            check_host("Registry.Example.com:5000"),
            Ok(Some("registry.example.com:5000".into()))
        );
        assert_eq!(check_host(""), Ok(None));
        for bad in
            ["https://x.com", "x.com/path", "x..com", "-x.com", "x.com:0", "x.com:99999", "a b"]
        {
            assert!(check_host(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn logos_are_sniffed_from_their_bytes() {
        assert_eq!(sniff_logo(b"\x89PNG\r\n\x1a\nrest"), Ok("image/png"));
        assert_eq!(sniff_logo(&[0xff, 0xd8, 0xff, 0xe0]), Ok("image/jpeg"));
        assert_eq!(
            sniff_logo(
                b"<?xml version=\"1.0\"?>\n<!-- c -->\n<svg xmlns=\"http://www.w3.org/2000/svg\"/>"
            ),
            Ok("image/svg+xml")
        );
        assert_eq!(sniff_logo(b"<html><svg></svg></html>"), Err(LogoError::UnknownType));
        assert_eq!(sniff_logo(b"GIF89a"), Err(LogoError::UnknownType));
        assert_eq!(sniff_logo(&vec![0xff; MAX_LOGO_BYTES + 1]), Err(LogoError::TooLarge));
    }

    #[test]
    fn theme_text_has_aa_contrast() {
        for color in ["#ffff00", "#0172ad", "#000000", "#ffffff", "#ff8800"] {
            let css = theme_css(color);
            let text = css.split("--pico-primary: ").nth(1).and_then(|s| s.get(..7)).unwrap();
            let rgb = parse_rgb(text).unwrap();
            assert!(contrast(rgb, (255, 255, 255)) >= 4.5, "{color} -> {text}");
            let inverse =
                css.split("--pico-primary-inverse: ").nth(1).and_then(|s| s.get(..7)).unwrap();
            let bg =
                css.split("--pico-primary-background: ").nth(1).and_then(|s| s.get(..7)).unwrap();
            assert!(
                contrast(parse_rgb(bg).unwrap(), parse_rgb(inverse).unwrap()) >= 4.5,
                "{bg} on {inverse}"
            );
        }
    }
}
