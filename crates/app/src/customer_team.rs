//! A customer's admins managing their own users from the customer portal: change a user's
//! role, remove a user (their personal tokens for the customer are revoked with them;
//! service tokens stay). The last admin can be neither demoted nor removed. Each change is
//! in the vendor's audit log under the customer user who made it (`customer_user.role`,
//! `customer_user.remove`), and revoked tokens stop working on this instance before the
//! call returns (the database's notification tells the others).
//!
//! Who may do this (a customer admin) is checked by the caller; everything is scoped to the
//! actor's organization and the customer named. Inviting is
//! [`crate::Accounts::invite_customer_user`].

use serde_json::json;
use uuid::Uuid;
use wharf_auth::principal::CustomerRole;
use wharf_db::customer_portal::{self, TeamChange};

use crate::{
    App,
    actions::{ActionError, Actor},
};

/// Why a team change was refused (nothing changed).
#[derive(Debug, thiserror::Error)]
pub enum TeamError {
    /// Not a user of this customer.
    #[error("not found")]
    NotFound,
    /// The customer's last admin.
    #[error("a customer keeps at least one admin")]
    LastAdmin,
    /// The database failed.
    #[error(transparent)]
    Action(#[from] ActionError),
}

fn outcome(change: TeamChange) -> Result<(String, Vec<Uuid>), TeamError> {
    match change {
        TeamChange::Done { before, revoked } => Ok((before, revoked)),
        TeamChange::NotFound => Err(TeamError::NotFound),
        TeamChange::LastAdmin => Err(TeamError::LastAdmin),
    }
}

/// Gives `user_id` the role `role` in customer `customer_id`.
pub async fn change_role(
    app: &App,
    actor: &Actor,
    customer_id: Uuid,
    user_id: Uuid,
    role: CustomerRole,
) -> Result<(), TeamError> {
    let change = customer_portal::set_user_role(
        &app.pool,
        actor.org_id,
        customer_id,
        user_id,
        role.as_str(),
    )
    .await
    .map_err(ActionError::from)?;
    let (before, _) = outcome(change)?;
    app.audit.action(
        actor,
        "customer_user.role",
        format!("user:{user_id}"),
        None,
        json!({ "customer_id": customer_id, "before": before, "after": role.as_str() }),
    );
    Ok(())
}

/// Removes `user_id` from customer `customer_id`, revoking their personal tokens for it.
/// Returns how many tokens were revoked.
pub async fn remove_user(
    app: &App,
    actor: &Actor,
    customer_id: Uuid,
    user_id: Uuid,
) -> Result<usize, TeamError> {
    let change = customer_portal::remove_user(&app.pool, actor.org_id, customer_id, user_id)
        .await
        .map_err(ActionError::from)?;
    let (before, revoked) = outcome(change)?;
    for token in &revoked {
        app.credentials.invalidate_locally(&format!("token:{token}"));
    }
    app.audit.action(
        actor,
        "customer_user.remove",
        format!("user:{user_id}"),
        None,
        json!({ "customer_id": customer_id, "role": before, "revoked_tokens": revoked }),
    );
    Ok(revoked.len())
}
