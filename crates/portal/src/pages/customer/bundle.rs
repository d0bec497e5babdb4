//! The customer's air-gap bundle (`/customer/{slug}/{id}/bundle`): for a network that cannot
//! reach this registry, everything the customer can pull (or a choice of it), as one
//! download to carry across and import with skopeo or oras ([`crate::pages::bundle`]). Any
//! user of the customer may download: it holds only what their tokens could pull.

use askama::Template;
use axum::{
    extract::{Path, State},
    response::Response,
};
use wharf_app::export::Exporter;
use wharf_db::customers;

use super::{super::branding::BrandView, CustomerScope};
use crate::{
    Portal,
    csrf::PageUpload,
    error::PageError,
    pages::{
        bundle::{self, BundleForm, Submitted},
        page, page_with,
    },
    shell::Shell,
    visitor::Visitor,
};

#[derive(Template)]
#[template(path = "customer/bundle.html")]
struct BundlePage {
    shell: Shell,
    brand: BrandView,
    form: BundleForm,
}

async fn customer(
    portal: &Portal,
    scope: &CustomerScope,
) -> Result<customers::Customer, PageError> {
    customers::get(&portal.app.pool, scope.org_id(), scope.customer_id())
        .await?
        .ok_or(PageError::NotFound)
}

/// `GET /customer/{slug}/{customer_id}/bundle`.
pub(crate) async fn bundle_get(
    State(portal): State<Portal>,
    Path((slug, customer_id)): Path<(String, String)>,
    visitor: Visitor,
) -> Result<Response, PageError> {
    let scope = CustomerScope::enter(&portal, visitor, &slug, &customer_id).await?;
    let customer = customer(&portal, &scope).await?;
    let form = BundleForm::new(&portal, &customer, scope.path("/bundle")).await;
    page(&BundlePage {
        shell: scope.shell("Air-gap bundle", "/artifacts").await?,
        brand: scope.brand(),
        form,
    })
}

/// `POST /customer/{slug}/{customer_id}/bundle`: the bundle, or the form with its errors.
pub(crate) async fn bundle_post(
    State(portal): State<Portal>,
    Path((slug, customer_id)): Path<(String, String)>,
    upload: PageUpload,
) -> Result<Response, PageError> {
    let scope = CustomerScope::enter(&portal, upload.visitor.clone(), &slug, &customer_id).await?;
    let customer = customer(&portal, &scope).await?;
    let by = Exporter::of(&scope.actor(), &portal.app.audit);
    match bundle::submit(&portal, &slug, &customer, scope.path("/bundle"), &upload, by).await? {
        Submitted::Download(response) => Ok(response),
        Submitted::Invalid(form) => page_with(
            bundle::INVALID,
            &BundlePage {
                shell: scope.shell("Air-gap bundle", "/artifacts").await?,
                brand: scope.brand(),
                form: *form,
            },
        ),
    }
}
