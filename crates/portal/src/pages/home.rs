//! Where a signed-in person lands: `/` (their home, or sign-in for everyone else),
//! and `/choose` (pick which vendor organization or customer to act for, and switch later).
//! The homes themselves are [`super::vendor::dashboard`] and [`super::customer::home`].
//!
//! Which organization or customer a page acts for is in its URL, and membership is checked
//! on every request: a removed member or a disabled customer's user gets the 404 page at
//! the next request, on every instance; a slug they do not belong to looks like one that
//! does not exist.

use askama::Template;
use axum::{
    extract::State,
    response::{IntoResponse, Redirect, Response},
};
use wharf_app::accounts::{CustomerMembership, VendorMembership};

use super::page;
use crate::{
    Portal,
    error::PageError,
    links,
    shell::Shell,
    visitor::{SignedIn, Visitor},
};

/// `GET /`: the signed-in person's home (their only membership, or the chooser); everyone
/// else signs in.
pub(crate) async fn root_get(
    State(portal): State<Portal>,
    visitor: Visitor,
) -> Result<Response, PageError> {
    let Some((person, _)) = &visitor.signed_in else {
        return Ok(Redirect::to(links::SIGN_IN).into_response());
    };
    let (vendor, customer) = portal.app.accounts.memberships(person.id).await?;
    let to = match (vendor.as_slice(), customer.as_slice()) {
        ([only], []) => links::vendor_home(&only.slug),
        ([], [only]) => links::customer_home(&only.organization_slug, only.customer_id),
        _ => links::CHOOSE.to_owned(),
    };
    Ok(Redirect::to(&to).into_response())
}

#[derive(Template)]
#[template(path = "account/choose.html")]
struct ChoosePage {
    shell: Shell,
    vendor: Vec<(String, VendorMembership)>,
    customer: Vec<(String, CustomerMembership)>,
    is_instance_admin: bool,
}

/// `GET /choose`.
pub(crate) async fn choose_get(
    State(portal): State<Portal>,
    who: SignedIn,
) -> Result<Response, PageError> {
    let (vendor, customer) = portal.app.accounts.memberships(who.person.id).await?;
    page(&ChoosePage {
        shell: who.visitor.shell("Choose where to work").await?.at(links::CHOOSE),
        vendor: vendor.into_iter().map(|m| (links::vendor_home(&m.slug), m)).collect(),
        customer: customer
            .into_iter()
            .map(|m| (links::customer_home(&m.organization_slug, m.customer_id), m))
            .collect(),
        is_instance_admin: who.person.is_instance_admin,
    })
}

/// The registry's host as clients name it (`host[:port]` of the public URL).
pub fn registry_host(portal: &Portal) -> String {
    let url = &portal.settings.public_url;
    match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_owned(),
        (None, _) => "localhost".to_owned(),
    }
}
