//! The pages, one module per area; each handler is named after its page and method
//! (`sign_in_get`, `sign_in_post`). Templates live in `web/templates/<area>/`.
//!
//! Every write is a POST whose form carries the form token ([`crate::csrf::PageForm`]);
//! a form with errors is shown again with each error beside its field and what was typed
//! (never a password), with status 422 (400 for a form that cannot be read).

pub mod account;
pub mod branding;
pub mod bundle;
pub mod customer;
pub mod home;
pub mod invitation;
pub mod invitations;
pub mod password_reset;
pub mod sign_in;
pub mod sign_up;
pub mod vendor;

use askama::Template;
use axum::{
    Router,
    http::StatusCode,
    response::{Html, IntoResponse, Response},
    routing::{get, post},
};

use crate::{Portal, error::PageError, links};

/// The pages' routes (layers are added by [`crate::router`]).
pub fn routes() -> Router<Portal> {
    Router::new()
        .route("/", get(home::root_get))
        .route(links::SIGN_IN, get(sign_in::sign_in_get).post(sign_in::sign_in_post))
        .route(links::SIGN_OUT, post(sign_in::sign_out_post))
        .route(links::CHOOSE, get(home::choose_get))
        .route(
            "/vendor/{slug}/invitations",
            get(invitations::invitations_get).post(invitations::invitations_post),
        )
        .route("/vendor/{slug}/invitations/{id}/revoke", post(invitations::revoke_post))
        .route(links::ACCOUNT, get(account::account_get))
        .route(links::ACCOUNT_PASSWORD, post(account::password_post))
        .route(
            links::END_OTHER_SESSIONS,
            get(account::end_others_get).post(account::end_others_post),
        )
        .route("/account/sessions/{id}/end", post(account::end_one_post))
        .route(
            links::FORGOT_PASSWORD,
            get(password_reset::forgot_get).post(password_reset::forgot_post),
        )
        .route(
            "/reset-password/{token}",
            get(password_reset::reset_get).post(password_reset::reset_post),
        )
        .route(
            "/invitation/{token}",
            get(invitation::invitation_get).post(invitation::invitation_post),
        )
        .route(links::SIGN_UP, get(sign_up::sign_up_get).post(sign_up::sign_up_post))
        .route("/sign-up/{token}", get(sign_up::invited_get).post(sign_up::invited_post))
        .merge(vendor::routes())
        .merge(customer::routes())
        .merge(branding::routes())
}

/// A rendered page with status 200.
pub fn page(template: &impl Template) -> Result<Response, PageError> {
    page_with(StatusCode::OK, template)
}

/// A rendered page with `status` (a form shown again with its errors: 422).
pub fn page_with(status: StatusCode, template: &impl Template) -> Result<Response, PageError> {
    let html = template.render().map_err(PageError::internal)?;
    Ok((status, Html(html)).into_response())
}
