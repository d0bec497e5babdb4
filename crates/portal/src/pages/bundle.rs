//! The air-gap bundle download, the same in both portals (the customer's
//! `/customer/{slug}/{id}/bundle`, the vendor's `/vendor/{slug}/customers/{id}/bundle`): a
//! form to choose repositories and tags among those the customer can pull now (or
//! everything), the customer's registry host for the import commands, a plain tar or a
//! zstd-compressed one, and optionally the `wharf-bundle.json` of the previous bundle for an
//! incremental one; answered with the
//! bundle itself as a download ([`wharf_app::export`], the same export as `wharf export` and
//! the API), or with the form again and the message beside the field.

use axum::{
    body::Body,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use time::OffsetDateTime;
use wharf_app::{
    entitled::entitled_repositories,
    export::{self, ExportError, Exporter, Selection},
};
use wharf_db::{accounts, customers::Customer};

use crate::{Portal, csrf::PageUpload, error::PageError, shell::Field};

/// A repository the customer can pull, offered as a choice.
#[derive(Debug, Clone)]
pub struct RepositoryChoice {
    /// Full name.
    pub name: String,
    /// How many tags of it the customer can pull.
    pub tags: usize,
    /// A few of them, newest names last, for the hint.
    pub examples: String,
    /// Whether it was chosen.
    pub checked: bool,
    /// The checkbox's id.
    pub id: String,
}

/// The form, as shown.
#[derive(Debug, Clone)]
pub struct BundleForm {
    /// Where it posts.
    pub action: String,
    /// The repositories the customer can pull.
    pub repositories: Vec<RepositoryChoice>,
    /// An error about the repositories chosen.
    pub repositories_error: Option<String>,
    /// Only these tags (comma- or space-separated).
    pub tags: Field,
    /// The customer's registry host, for `IMPORT.md`.
    pub registry: Field,
    /// Whether zstd compression was chosen (a `.tar.zst`, of a size unknown in advance).
    pub zstd: bool,
    /// An error about the previous bundle's file.
    pub since_error: Option<String>,
    /// An error about the whole request (a disabled customer).
    pub error: Option<String>,
    /// The entitlements could not be read: say so rather than offer nothing.
    pub unavailable: bool,
}

impl BundleForm {
    /// An empty form for `customer`, posting to `action`.
    pub async fn new(portal: &Portal, customer: &Customer, action: String) -> Self {
        let view = portal.app.credentials.entitlements();
        let now = OffsetDateTime::now_utc();
        let (repositories, unavailable) =
            match entitled_repositories(&portal.app.pool, view, customer, now).await {
                Ok(entitled) => (
                    entitled
                        .into_iter()
                        .enumerate()
                        .map(|(i, r)| RepositoryChoice {
                            examples: examples(&r.tags),
                            tags: r.tags.len(),
                            name: r.name,
                            checked: false,
                            id: format!("repository-{i}"),
                        })
                        .collect(),
                    false,
                ),
                Err(_) => (Vec::new(), true),
            };
        BundleForm {
            action,
            repositories,
            repositories_error: None,
            tags: Field::default(),
            registry: Field::default(),
            zstd: false,
            since_error: None,
            error: None,
            unavailable,
        }
    }

    /// What "everything" is: "3 tags in 1 repository".
    pub fn everything(&self) -> String {
        let tags: usize = self.repositories.iter().map(|r| r.tags).sum();
        let repositories = self.repositories.len();
        let plural = |n: usize, word: &str, words: &str| {
            format!("{n} {}", if n == 1 { word } else { words })
        };
        format!(
            "{} in {}",
            plural(tags, "tag", "tags"),
            plural(repositories, "repository", "repositories")
        )
    }
}

/// The last few tag names, for a hint of what a repository holds.
fn examples(tags: &[String]) -> String {
    let shown: Vec<&str> = tags.iter().rev().take(3).map(String::as_str).collect();
    let more = tags.len().saturating_sub(shown.len());
    let mut text = shown.join(", ");
    if more > 0 {
        text.push_str(&format!(" and {more} more"));
    }
    text
}

/// What a submitted form comes to.
#[derive(Debug)]
pub enum Submitted {
    /// The bundle, streaming.
    Download(Response),
    /// The form again, with what is wrong (answer it with 422).
    Invalid(Box<BundleForm>),
}

/// Largest registry host accepted (a host, a port and a path prefix).
const MAX_REGISTRY: usize = 255;

/// Exports what `upload` asks of `customer` of vendor `slug`, made `by`: the download, or
/// the form again with the message beside the field. Nothing is written for a refused form.
pub async fn submit(
    portal: &Portal,
    slug: &str,
    customer: &Customer,
    action: String,
    upload: &PageUpload,
    by: Exporter,
) -> Result<Submitted, PageError> {
    let chosen: Vec<String> = upload.all("repository").map(str::to_owned).collect();
    let tags_text = upload.value("tags");
    let registry_text = upload.value("registry").trim();
    let compression = export::Compression::parse(upload.value("compression"));
    // The form is read again (with what the customer can pull) only when it is refused: a
    // download asks the entitlements once, in `export::plan`.
    let shown = &chosen;
    let refused = |error: Refusal| async move {
        let mut form = BundleForm::new(portal, customer, action).await;
        for choice in &mut form.repositories {
            choice.checked = shown.contains(&choice.name);
        }
        form.tags = Field::with(tags_text);
        form.registry = Field::with(registry_text);
        form.zstd = compression == Some(export::Compression::Zstd);
        match error {
            Refusal::Repositories(message) => form.repositories_error = Some(message),
            Refusal::Tags(message) => form.tags.fail(message),
            Refusal::Registry(message) => form.registry.fail(message),
            Refusal::Since(message) => form.since_error = Some(message),
            Refusal::Form(message) => form.error = Some(message),
        }
        Ok(Submitted::Invalid(Box::new(form)))
    };
    let mut tags: Vec<String> = tags_text
        .split([',', ' ', '\n', '\t'])
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect();
    tags.sort_unstable();
    tags.dedup();
    let registry = registry_text
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    if registry.len() > MAX_REGISTRY
        || !registry.chars().all(|c| c.is_ascii_alphanumeric() || ".-_:/".contains(c))
    {
        return refused(Refusal::Registry(
            "A registry host like registry.example.internal:5000, without spaces".into(),
        ))
        .await;
    }
    let Some(compression) = compression else {
        return refused(Refusal::Form("Choose a plain tar or a .tar.zst".into())).await;
    };
    let since = match upload.file("since").map(|bytes| std::str::from_utf8(bytes)) {
        None => None,
        Some(Ok(text)) => Some(text.to_owned()),
        Some(Err(_)) => {
            return refused(Refusal::Since(
                "This file is not a wharf-bundle.json: choose the one inside your last bundle"
                    .into(),
            ))
            .await;
        }
    };
    let selection = Selection {
        repositories: chosen.clone(),
        tags,
        since,
        registry: (!registry.is_empty()).then_some(registry),
        compression,
    };
    let org = accounts::find_organization(&portal.app.pool, slug)
        .await?
        .filter(|org| org.id == customer.organization_id)
        .ok_or(PageError::NotFound)?;
    let error = match export::plan(&portal.app.pool, &org, customer, selection).await {
        Ok(plan) => {
            let headers = export::download_headers(&plan).map_err(PageError::internal)?;
            let body = export::stream(portal.app.pool.clone(), portal.app.blobs.clone(), plan, by);
            return Ok(Submitted::Download((headers, Body::from_stream(body)).into_response()));
        }
        Err(ExportError::NoSuchRepository(message)) => Refusal::Repositories(message),
        Err(ExportError::NoSuchTag(message)) => Refusal::Tags(message),
        Err(ExportError::Since(message)) => Refusal::Since(message),
        Err(err @ ExportError::Disabled(_)) => Refusal::Form(err.to_string()),
        Err(ExportError::Unavailable | ExportError::Write(_)) => {
            return Err(PageError::Unavailable);
        }
        Err(ExportError::Content(message)) => return Err(PageError::internal(message)),
    };
    refused(error).await
}

/// Why a submitted form is shown again, and beside which field.
enum Refusal {
    Repositories(String),
    Tags(String),
    Registry(String),
    Since(String),
    Form(String),
}

/// The status a refused form is shown again with.
pub const INVALID: StatusCode = StatusCode::UNPROCESSABLE_ENTITY;
