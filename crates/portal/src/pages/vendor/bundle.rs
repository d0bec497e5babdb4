//! A customer's air-gap bundle from the vendor's side
//! (`/vendor/{slug}/customers/{id}/bundle`), for a customer whose network cannot reach the
//! registry: the same form and export as the customer's own page
//! ([`crate::pages::bundle`]), recorded as the member's. Owners and admins, like the rest of
//! a customer's page.

use askama::Template;
use axum::{
    Router,
    extract::{DefaultBodyLimit, Path, State},
    response::Response,
    routing::get,
};
use wharf_app::export::Exporter;

use super::{Need, VendorScope, customers::find};
use crate::{
    Portal,
    csrf::{MAX_UPLOAD_BYTES, PageUpload},
    error::PageError,
    pages::{
        bundle::{self, BundleForm, Submitted},
        page, page_with,
    },
    shell::Shell,
    visitor::Visitor,
};

/// The bundle page's route.
pub fn routes() -> Router<Portal> {
    Router::new().route(
        "/vendor/{slug}/customers/{id}/bundle",
        get(bundle_get).post(bundle_post).layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES)),
    )
}

#[derive(Template)]
#[template(path = "vendor/customer_bundle.html")]
struct BundlePage {
    shell: Shell,
    customer: String,
    customer_href: String,
    form: BundleForm,
}

async fn render(
    scope: &VendorScope,
    customer: &wharf_db::customers::Customer,
    form: BundleForm,
) -> Result<BundlePage, PageError> {
    Ok(BundlePage {
        shell: scope.shell(format!("Air-gap bundle for {}", customer.name), "/customers").await?,
        customer: customer.name.clone(),
        customer_href: super::customers::customer_path(scope, customer.id),
        form,
    })
}

/// `GET /vendor/{slug}/customers/{id}/bundle`.
pub(crate) async fn bundle_get(
    State(portal): State<Portal>,
    Path((slug, id)): Path<(String, String)>,
    visitor: Visitor,
) -> Result<Response, PageError> {
    let scope = VendorScope::enter(&portal, visitor, &slug).await?;
    scope.require(Need::Customers)?;
    let customer = find(&portal, &scope, &id).await?;
    let action = format!("{}/bundle", super::customers::customer_path(&scope, customer.id));
    let form = BundleForm::new(&portal, &customer, action).await;
    page(&render(&scope, &customer, form).await?)
}

/// `POST /vendor/{slug}/customers/{id}/bundle`: the bundle, or the form with its errors.
pub(crate) async fn bundle_post(
    State(portal): State<Portal>,
    Path((slug, id)): Path<(String, String)>,
    upload: PageUpload,
) -> Result<Response, PageError> {
    let scope = VendorScope::enter(&portal, upload.visitor.clone(), &slug).await?;
    scope.require(Need::Customers)?;
    let customer = find(&portal, &scope, &id).await?;
    let action = format!("{}/bundle", super::customers::customer_path(&scope, customer.id));
    let by = Exporter::of(&scope.actor(), &portal.app.audit);
    match bundle::submit(&portal, &slug, &customer, action, &upload, by).await? {
        Submitted::Download(response) => Ok(response),
        Submitted::Invalid(form) => {
            page_with(bundle::INVALID, &render(&scope, &customer, *form).await?)
        }
    }
}
