//! What every page's layout (`web/templates/layouts/base.html`) shows: the title, who is
//! signed in, where they are, the messages waiting for them and the form token; plus the
//! small view types the shared components (`web/templates/components/`) take.

use wharf_db::accounts::Person;

use crate::{assets, links, session::Flash};

/// The layout's data.
#[derive(Debug, Clone)]
pub struct Shell {
    /// The page's title (before " · Wharf").
    pub title: String,
    /// Who is signed in: their name, or their email.
    pub person: Option<String>,
    /// Their email (shown beside the name).
    pub email: Option<String>,
    /// Where they act, e.g. "Acme · owner", when the page is in an organization or customer.
    pub context: Option<String>,
    /// The top navigation, after the brand.
    pub nav: Vec<NavItem>,
    /// The sections of the organization or customer the page is in (a second bar under the
    /// header; empty outside one).
    pub sections: Vec<NavItem>,
    /// Messages from the previous page.
    pub flashes: Vec<Flash>,
    /// The form token.
    pub csrf: String,
    /// Which navigation item is the current page (its `href`).
    pub current: String,
}

/// A link in the top navigation.
#[derive(Debug, Clone)]
pub struct NavItem {
    /// What it says.
    pub label: String,
    /// Where it goes.
    pub href: String,
}

impl Shell {
    /// The shell for a visitor (signed in or not).
    pub fn new(title: String, person: Option<&Person>, flashes: Vec<Flash>, csrf: &str) -> Self {
        let nav = match person {
            Some(_) => vec![
                NavItem { label: "Home".into(), href: "/".into() },
                NavItem { label: "Switch".into(), href: links::CHOOSE.into() },
                NavItem { label: "Account".into(), href: links::ACCOUNT.into() },
            ],
            None => Vec::new(),
        };
        Shell {
            title,
            person: person.map(|p| p.name.clone().unwrap_or_else(|| p.email.clone())),
            email: person.map(|p| p.email.clone()),
            context: None,
            nav,
            sections: Vec::new(),
            flashes,
            csrf: csrf.to_owned(),
            current: String::new(),
        }
    }

    /// A shell with no one signed in and no forms (error pages).
    pub fn bare(title: &str) -> Self {
        Shell::new(title.to_owned(), None, Vec::new(), "")
    }

    /// Marks `href` as the current navigation item.
    pub fn at(mut self, href: &str) -> Self {
        self.current = href.to_owned();
        self
    }

    /// Sets the section navigation of the organization or customer the page is in.
    pub fn with_sections(mut self, sections: Vec<NavItem>) -> Self {
        self.sections = sections;
        self
    }

    /// Names where the page acts (shown in the header).
    pub fn in_context(mut self, context: String) -> Self {
        self.context = Some(context);
        self
    }

    /// The URL of static file `name` (see [`assets::url`]).
    pub fn asset(&self, name: &str) -> &'static str {
        assets::url(name)
    }

    /// The htmx request headers carrying the form token, as JSON for `hx-headers`.
    pub fn htmx_headers(&self) -> String {
        serde_json::json!({ crate::csrf::HEADER: self.csrf }).to_string()
    }

    /// Whether `href` is the current page.
    pub fn is_current(&self, href: &str) -> bool {
        self.current == href
    }

    /// Whether `href` is the current page's section: the current page is `href` or below it
    /// (an organization's home is current only for itself).
    pub fn in_section(&self, href: &str, home: bool) -> bool {
        if home {
            return self.current == href;
        }
        self.current == href || self.current.strip_prefix(href).is_some_and(|r| r.starts_with('/'))
    }
}

/// One field of a form: what was typed (never a password) and what is wrong with it.
#[derive(Debug, Clone, Default)]
pub struct Field {
    /// What the person typed, shown again.
    pub value: String,
    /// What is wrong with it, if anything.
    pub error: Option<String>,
}

impl Field {
    /// A field showing `value`.
    pub fn with(value: impl Into<String>) -> Self {
        Field { value: value.into(), error: None }
    }

    /// Sets the field's error.
    pub fn fail(&mut self, message: impl Into<String>) {
        self.error = Some(message.into());
    }

    /// Whether the field has an error.
    pub fn is_invalid(&self) -> bool {
        self.error.is_some()
    }
}

/// The links under a paged table (`components/ui.html`'s `pagination`): keyset pages go
/// forward from a cursor, and back to the first page.
#[derive(Debug, Clone, Default)]
pub struct Pages {
    /// The first page, when this is not it.
    pub previous: Option<String>,
    /// The next page, when there is one.
    pub next: Option<String>,
    /// What this page shows.
    pub summary: String,
}
