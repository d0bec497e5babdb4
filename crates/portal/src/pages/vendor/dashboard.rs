//! The vendor organization's dashboard, `/vendor/{slug}`.

use askama::Template;
use axum::{
    extract::{Path, State},
    response::Response,
};
use wharf_app::accounts::VendorMembership;

use super::VendorScope;
use crate::{
    Portal,
    error::PageError,
    pages::{home::registry_host, page},
    shell::Shell,
    visitor::SignedIn,
};

#[derive(Template)]
#[template(path = "vendor/home.html")]
struct VendorHome {
    shell: Shell,
    membership: VendorMembership,
    login_command: String,
    push_command: String,
}

/// `GET /vendor/{slug}`: a vendor organization's home, for its members.
pub(crate) async fn dashboard_get(
    State(portal): State<Portal>,
    Path(slug): Path<String>,
    who: SignedIn,
) -> Result<Response, PageError> {
    let scope = VendorScope::of(&portal, who, &slug).await?;
    let host = registry_host(&portal);
    let slug = scope.slug();
    page(&VendorHome {
        shell: scope.shell(scope.membership.name.clone(), "").await?,
        login_command: format!(
            "echo \"$WHARF_TOKEN\" | docker login {host} -u {slug} --password-stdin"
        ),
        push_command: format!(
            "docker tag my-app:1.0 {host}/{slug}/my-app:1.0 && docker push {host}/{slug}/my-app:1.0"
        ),
        membership: scope.membership.clone(),
    })
}
