//! Vendor writes to customers, licenses and customer access tokens: one function per action.
//!
//! Owns validating and performing every change a vendor makes to its customers. The JSON API
//! calls these functions and the vendor portal will call the same ones, so one place decides
//! what is valid (grants by `wharf-entitlements`' [`GrantSpec::validate`], license dates by
//! [`License::new`], token names by `wharf_auth::token::check_name`) and one place sees every
//! write: each successful action ends in [`VendorActions::applied`], which records it in the
//! audit log and applies it to this instance's in-memory views at once (the database's
//! notification brings it to every other instance, and this one again, a moment later), so
//! a client that writes and then pulls never sees the old state.
//!
//! Roles are checked by the caller before an action runs. Everything here is scoped to the
//! actor's organization: an id of another organization behaves exactly like an unknown one
//! ([`ActionError::NotFound`]). Reads are not here; they go straight to `wharf-db`.

use std::{fmt, sync::Arc};

use time::OffsetDateTime;
use uuid::Uuid;
use wharf_auth::token::{self, PlaintextToken, TokenKind};
use wharf_db::{
    DbError, PgPool, customers,
    customers::Customer,
    licenses::{self, LicenseInput, LicenseRecord},
    tokens::{self, AccessToken, NewToken, TokenOwner},
};
use wharf_entitlements::{ExpiryPolicy, Grant, GrantSpec, License, LicenseId};

use crate::{audit::AuditLog, credentials::Credentials};

/// The longest customer or license name accepted, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// The longest license notes accepted, in characters.
pub const MAX_NOTES_CHARS: usize = 4000;

/// Who performs an action: a vendor member, directly (portal) or through a vendor API token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The vendor organization every action is scoped to.
    pub org_id: Uuid,
    /// Its slug (the first path segment of its repositories; grants are checked against it).
    pub org_slug: String,
    /// The member acting, when known (recorded as the creator of the tokens it issues).
    pub user_id: Option<Uuid>,
    /// The vendor API token used, if any.
    pub token_id: Option<Uuid>,
    /// Where the request came from, for the audit log.
    pub request: RequestMeta,
}

/// What the audit log records about the request behind an action.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestMeta {
    /// The connection's peer address.
    pub peer: Option<std::net::IpAddr>,
    /// `X-Forwarded-For`, as sent (believed only from trusted proxies, by the recorder).
    pub forwarded_for: Option<String>,
    /// `User-Agent`.
    pub user_agent: Option<String>,
    /// `X-Request-Id`.
    pub request_id: Option<String>,
}

/// Why an action was refused. Nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// The input is invalid; `field` names it as in the JSON body (`grants[0].tags.range`).
    #[error("{field}: {message}")]
    Invalid {
        /// The field.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The customer, license or token does not exist in the actor's organization.
    #[error("not found")]
    NotFound,
    /// The change conflicts with existing data (a customer name in use).
    #[error("{field}: {message}")]
    Conflict {
        /// The field.
        field: String,
        /// What it conflicts with.
        message: String,
    },
    /// The database failed.
    #[error("database: {0}")]
    Database(#[from] DbError),
}

impl ActionError {
    fn invalid(field: impl Into<String>, message: impl fmt::Display) -> Self {
        Self::Invalid { field: field.into(), message: message.to_string() }
    }
}

/// A change that was made, as the audit log and the views are told about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A customer was created.
    CustomerCreated(Customer),
    /// A customer was renamed, disabled or enabled.
    CustomerUpdated {
        /// The state before (read just before the change).
        before: Option<Customer>,
        /// The state after.
        after: Customer,
    },
    /// A customer was deleted, with its licenses and tokens.
    CustomerDeleted {
        /// The customer.
        customer_id: Uuid,
        /// Its name (read just before the deletion).
        name: Option<String>,
    },
    /// A license was created.
    LicenseCreated(LicenseRecord),
    /// A license was replaced.
    LicenseReplaced {
        /// The state before (read just before the change).
        before: Option<Box<LicenseRecord>>,
        /// The state after.
        after: LicenseRecord,
    },
    /// A license was deleted.
    LicenseDeleted {
        /// The license.
        license_id: Uuid,
        /// Its customer.
        customer_id: Uuid,
        /// What it was.
        before: Box<LicenseRecord>,
    },
    /// A customer access token was issued (never its plaintext).
    CustomerTokenIssued(AccessToken),
    /// A customer access token was revoked (or already was).
    CustomerTokenRevoked {
        /// The token.
        token_id: Uuid,
        /// Its customer.
        customer_id: Uuid,
    },
    /// A vendor API token was issued (never its plaintext) for a member.
    VendorTokenIssued {
        /// The token as lists show it.
        token: AccessToken,
        /// The member's email.
        member_email: String,
    },
    /// A vendor API token was revoked by the member it acts as.
    VendorTokenRevoked {
        /// The token.
        token_id: Uuid,
    },
    /// A repository's tags were made immutable or mutable.
    RepositoryImmutability {
        /// Its name.
        repository: String,
        /// Immutable before.
        before: bool,
        /// Immutable now.
        after: bool,
    },
    /// A tag was deleted (not its manifest).
    TagDeleted {
        /// The repository.
        repository: String,
        /// The tag.
        tag: String,
    },
    /// A manifest was deleted, with the tags pointing at it.
    ManifestDeleted {
        /// The repository.
        repository: String,
        /// Its digest.
        digest: String,
    },
    /// A repository was made public or private.
    RepositoryVisibility {
        /// Its name.
        repository: String,
        /// Public before.
        before: bool,
        /// Public now.
        after: bool,
    },
}

/// A license as a vendor writes it, before validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LicenseForm {
    /// Display name.
    pub name: String,
    /// Start of validity (inclusive).
    pub starts_at: OffsetDateTime,
    /// End of validity (exclusive), if any; must be later than `starts_at`.
    pub expires_at: Option<OffsetDateTime>,
    /// What happens after expiry.
    pub on_expiry: ExpiryPolicy,
    /// Whether it is suspended.
    pub suspended: bool,
    /// Free-form notes.
    pub notes: String,
    /// The grants, in order.
    pub grants: Vec<GrantSpec>,
}

/// A customer token just issued: the stored row and the plaintext, shown once.
#[derive(Debug)]
pub struct IssuedToken {
    /// The token as lists show it.
    pub token: AccessToken,
    /// The token itself; nothing keeps it after this.
    pub plaintext: PlaintextToken,
}

/// The vendor write actions, over one database, recorded in one audit log and applied to
/// this instance's views.
#[derive(Debug, Clone)]
pub struct VendorActions {
    pool: PgPool,
    audit: Arc<AuditLog>,
    /// `None` in a process that keeps no views (an operator command): the database's
    /// notification brings the change to every server.
    credentials: Option<Arc<Credentials>>,
}

impl VendorActions {
    /// Actions writing to `pool`, recording every change in `audit` and applying it to the
    /// views of `credentials`.
    pub fn new(pool: PgPool, audit: Arc<AuditLog>, credentials: Arc<Credentials>) -> Self {
        Self { pool, audit, credentials: Some(credentials) }
    }

    /// Actions for a process that serves no requests (`wharf admin`), so keeps no views.
    pub fn for_command(pool: PgPool, audit: Arc<AuditLog>) -> Self {
        Self { pool, audit, credentials: None }
    }

    /// Records `change` in the audit log and applies it to this instance's revocation and
    /// entitlement views before the action returns.
    fn applied(&self, actor: &Actor, change: Change) {
        self.audit.change(actor, &change);
        let payload = match &change {
            Change::CustomerUpdated { after, .. } if after.disabled => {
                format!("customer:{}", after.id)
            }
            Change::CustomerDeleted { customer_id, .. } => format!("customer:{customer_id}"),
            Change::LicenseCreated(license) | Change::LicenseReplaced { after: license, .. } => {
                format!("entitlements:{}", license.customer_id)
            }
            Change::LicenseDeleted { customer_id, .. } => format!("entitlements:{customer_id}"),
            Change::CustomerTokenRevoked { token_id, .. }
            | Change::VendorTokenRevoked { token_id } => {
                format!("token:{token_id}")
            }
            Change::RepositoryVisibility { repository, .. }
            | Change::TagDeleted { repository, .. }
            | Change::ManifestDeleted { repository, .. } => format!("repository:{repository}"),
            Change::CustomerCreated(_)
            | Change::CustomerUpdated { .. }
            | Change::CustomerTokenIssued(_)
            | Change::VendorTokenIssued { .. }
            | Change::RepositoryImmutability { .. } => return,
        };
        if let Some(credentials) = &self.credentials {
            credentials.invalidate_locally(&payload);
        }
    }

    /// Creates a customer named `name` (trimmed; 1 to 200 characters). A name the
    /// organization already uses is a [`ActionError::Conflict`] on `name`.
    pub async fn create_customer(
        &self,
        actor: &Actor,
        name: &str,
    ) -> Result<Customer, ActionError> {
        let name = check_name("name", name)?;
        let customer = customers::create(&self.pool, actor.org_id, name)
            .await
            .map_err(|err| name_conflict(err, name))?;
        self.applied(actor, Change::CustomerCreated(customer.clone()));
        Ok(customer)
    }

    /// Renames and/or disables or enables a customer (`None` keeps the value), atomically.
    /// Disabling stops its tokens at once.
    pub async fn update_customer(
        &self,
        actor: &Actor,
        id: Uuid,
        name: Option<&str>,
        disabled: Option<bool>,
    ) -> Result<Customer, ActionError> {
        let name = name.map(|n| check_name("name", n)).transpose()?;
        let before = customers::get(&self.pool, actor.org_id, id).await?;
        let customer = customers::update(&self.pool, actor.org_id, id, name, disabled)
            .await
            .map_err(|err| name_conflict(err, name.unwrap_or_default()))?
            .ok_or(ActionError::NotFound)?;
        self.applied(actor, Change::CustomerUpdated { before, after: customer.clone() });
        Ok(customer)
    }

    /// Deletes a customer with its licenses and tokens (usage history keeps its name).
    pub async fn delete_customer(&self, actor: &Actor, id: Uuid) -> Result<(), ActionError> {
        let name = customers::get(&self.pool, actor.org_id, id).await?.map(|c| c.name);
        if !customers::delete(&self.pool, actor.org_id, id).await? {
            return Err(ActionError::NotFound);
        }
        self.applied(actor, Change::CustomerDeleted { customer_id: id, name });
        Ok(())
    }

    /// Creates a license for customer `customer_id`.
    pub async fn create_license(
        &self,
        actor: &Actor,
        customer_id: Uuid,
        form: &LicenseForm,
    ) -> Result<LicenseRecord, ActionError> {
        let (name, grants) = validate_license(&actor.org_slug, form)?;
        let input = license_input(form, name, &grants);
        let license = licenses::create(&self.pool, actor.org_id, customer_id, &input)
            .await?
            .ok_or(ActionError::NotFound)?;
        self.applied(actor, Change::LicenseCreated(license.clone()));
        Ok(license)
    }

    /// Replaces every field of a license and all its grants.
    pub async fn replace_license(
        &self,
        actor: &Actor,
        id: Uuid,
        form: &LicenseForm,
    ) -> Result<LicenseRecord, ActionError> {
        let (name, grants) = validate_license(&actor.org_slug, form)?;
        let input = license_input(form, name, &grants);
        let before = licenses::get(&self.pool, actor.org_id, id).await?.map(Box::new);
        let license = licenses::replace(&self.pool, actor.org_id, id, &input)
            .await?
            .ok_or(ActionError::NotFound)?;
        self.applied(actor, Change::LicenseReplaced { before, after: license.clone() });
        Ok(license)
    }

    /// Deletes a license and its grants.
    pub async fn delete_license(&self, actor: &Actor, id: Uuid) -> Result<(), ActionError> {
        let license =
            licenses::get(&self.pool, actor.org_id, id).await?.ok_or(ActionError::NotFound)?;
        if !licenses::delete(&self.pool, actor.org_id, id).await? {
            return Err(ActionError::NotFound);
        }
        self.applied(
            actor,
            Change::LicenseDeleted {
                license_id: id,
                customer_id: license.customer_id,
                before: Box::new(license),
            },
        );
        Ok(())
    }

    /// Issues an access token (`wharf_cst_…`) for customer `customer_id`, named `name`,
    /// expiring at `expires_at` (in the future) or never.
    pub async fn issue_customer_token(
        &self,
        actor: &Actor,
        customer_id: Uuid,
        name: &str,
        expires_at: Option<OffsetDateTime>,
    ) -> Result<IssuedToken, ActionError> {
        token::check_name(name).map_err(|err| ActionError::invalid("name", err))?;
        if expires_at.is_some_and(|at| at <= OffsetDateTime::now_utc()) {
            return Err(ActionError::invalid("expires_at", "must be in the future"));
        }
        customers::get(&self.pool, actor.org_id, customer_id)
            .await?
            .ok_or(ActionError::NotFound)?;
        let generated = token::generate(TokenKind::CustomerAccess);
        let new = NewToken {
            organization_id: actor.org_id,
            owner: TokenOwner::Customer { customer_id },
            created_by: actor.user_id,
            name,
            hash: generated.hash.as_bytes(),
            display_prefix: &generated.display_prefix,
            expires_at,
        };
        // A customer deleted in between fails the foreign key: answered as unknown.
        let stored = tokens::insert(&self.pool, &new).await.map_err(|err| match err {
            DbError::Sqlx(wharf_db::sqlx::Error::Database(db)) if db.is_foreign_key_violation() => {
                ActionError::NotFound
            }
            other => ActionError::Database(other),
        })?;
        self.applied(actor, Change::CustomerTokenIssued(stored.clone()));
        Ok(IssuedToken { token: stored, plaintext: generated.plaintext })
    }

    /// Issues a vendor API token (`wharf_vnd_…`) acting as member `member_email` of the
    /// organization, named `name`, read-only or with the member's role, expiring at
    /// `expires_at` (in the future) or never. Returns the member's role too.
    pub async fn issue_vendor_token(
        &self,
        actor: &Actor,
        member_email: &str,
        name: &str,
        read_only: bool,
        expires_at: Option<OffsetDateTime>,
    ) -> Result<(IssuedToken, String), ActionError> {
        token::check_name(name).map_err(|err| ActionError::invalid("name", err))?;
        if expires_at.is_some_and(|at| at <= OffsetDateTime::now_utc()) {
            return Err(ActionError::invalid("expires_at", "must be in the future"));
        }
        let email = crate::accounts::validate::normalize_email(member_email)
            .map_err(|err| ActionError::invalid("member", err.message))?;
        let user = wharf_db::accounts::find_user_by_email(&self.pool, &email)
            .await?
            .ok_or_else(|| ActionError::invalid("member", format!("no user with email {email}")))?;
        let member = wharf_db::accounts::find_member(&self.pool, actor.org_id, user.id)
            .await?
            .ok_or_else(|| {
                ActionError::invalid(
                    "member",
                    format!("{email} is not a member of {}", actor.org_slug),
                )
            })?;
        let generated = token::generate(TokenKind::VendorApi);
        let new = NewToken {
            organization_id: actor.org_id,
            owner: TokenOwner::Vendor { user_id: user.id, read_only },
            created_by: actor.user_id,
            name,
            hash: generated.hash.as_bytes(),
            display_prefix: &generated.display_prefix,
            expires_at,
        };
        let stored = tokens::insert(&self.pool, &new).await?;
        self.applied(
            actor,
            Change::VendorTokenIssued { token: stored.clone(), member_email: email },
        );
        Ok((IssuedToken { token: stored, plaintext: generated.plaintext }, member.role))
    }

    /// Makes repository `name` of the organization public (anyone may pull it) or private.
    /// Takes effect on the next pull on every instance.
    pub async fn set_repository_visibility(
        &self,
        actor: &Actor,
        name: &str,
        public: bool,
    ) -> Result<(), ActionError> {
        let repository = self.own_repository(actor, name).await?;
        if !wharf_db::registry::repositories::set_public(&self.pool, repository.id, public).await? {
            return Err(ActionError::NotFound);
        }
        let change = Change::RepositoryVisibility {
            repository: repository.name,
            before: repository.public,
            after: public,
        };
        self.applied(actor, change);
        Ok(())
    }

    /// Revokes the acting member's own vendor API token `id` (another member's token, or a
    /// customer token, is not found). Takes effect at once, on every instance.
    pub async fn revoke_own_vendor_token(
        &self,
        actor: &Actor,
        id: Uuid,
    ) -> Result<(), ActionError> {
        let user_id = actor.user_id.ok_or(ActionError::NotFound)?;
        if !tokens::revoke_vendor(&self.pool, actor.org_id, user_id, id).await? {
            return Err(ActionError::NotFound);
        }
        self.applied(actor, Change::VendorTokenRevoked { token_id: id });
        Ok(())
    }

    /// Makes the tags of repository `name` of the organization immutable (a push that would
    /// move an existing tag is refused with DENIED) or mutable again.
    pub async fn set_repository_immutability(
        &self,
        actor: &Actor,
        name: &str,
        immutable: bool,
    ) -> Result<(), ActionError> {
        let repository = self.own_repository(actor, name).await?;
        if !wharf_db::registry::repositories::set_immutable_tags(
            &self.pool,
            repository.id,
            immutable,
        )
        .await?
        {
            return Err(ActionError::NotFound);
        }
        let change = Change::RepositoryImmutability {
            repository: repository.name,
            before: repository.immutable_tags,
            after: immutable,
        };
        self.applied(actor, change);
        Ok(())
    }

    /// Deletes tag `tag` of repository `name` (its manifest stays, reachable by digest).
    /// Customers stop seeing it at their next request, on every instance.
    pub async fn delete_tag(
        &self,
        actor: &Actor,
        name: &str,
        tag: &str,
    ) -> Result<(), ActionError> {
        let repository = self.own_repository(actor, name).await?;
        if !wharf_db::registry::tags::delete(&self.pool, repository.id, tag).await? {
            return Err(ActionError::NotFound);
        }
        self.applied(
            actor,
            Change::TagDeleted { repository: repository.name, tag: tag.to_owned() },
        );
        Ok(())
    }

    /// Deletes manifest `digest` of repository `name` with the tags pointing at it (its blobs
    /// go at the next garbage collection if nothing else uses them).
    pub async fn delete_manifest(
        &self,
        actor: &Actor,
        name: &str,
        digest: &str,
    ) -> Result<(), ActionError> {
        let repository = self.own_repository(actor, name).await?;
        if !wharf_db::registry::manifests::delete(&self.pool, repository.id, digest).await? {
            return Err(ActionError::NotFound);
        }
        self.applied(
            actor,
            Change::ManifestDeleted { repository: repository.name, digest: digest.to_owned() },
        );
        Ok(())
    }

    /// Repository `name`, if the actor's organization owns it.
    async fn own_repository(
        &self,
        actor: &Actor,
        name: &str,
    ) -> Result<wharf_db::registry::repositories::Repository, ActionError> {
        wharf_db::registry::repositories::find(&self.pool, name)
            .await?
            .filter(|r| r.organization_id == actor.org_id)
            .ok_or(ActionError::NotFound)
    }

    /// Revokes an access token of one of the organization's customers (vendor tokens are not
    /// found here). Revoking a revoked token changes nothing and succeeds.
    pub async fn revoke_customer_token(&self, actor: &Actor, id: Uuid) -> Result<(), ActionError> {
        let customer_id =
            tokens::revoke(&self.pool, actor.org_id, tokens::RevokeScope::AnyCustomer, id)
                .await?
                .ok_or(ActionError::NotFound)?;
        self.applied(actor, Change::CustomerTokenRevoked { token_id: id, customer_id });
        Ok(())
    }
}

/// A customer or license name: trimmed, 1 to [`MAX_NAME_CHARS`] characters, no control
/// characters.
fn check_name<'a>(field: &str, name: &'a str) -> Result<&'a str, ActionError> {
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err(ActionError::invalid(field, "must not be empty"));
    }
    if trimmed.chars().count() > MAX_NAME_CHARS {
        return Err(ActionError::invalid(
            field,
            format!("must be at most {MAX_NAME_CHARS} characters"),
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(ActionError::invalid(field, "must not contain control characters"));
    }
    Ok(trimmed)
}

fn name_conflict(err: DbError, name: &str) -> ActionError {
    match err {
        DbError::Conflict(_) => ActionError::Conflict {
            field: "name".to_owned(),
            message: format!("a customer named {name:?} already exists"),
        },
        other => ActionError::Database(other),
    }
}

/// Validates a license form for organization `org_slug`: its name, its notes, its dates (by
/// [`License::new`]) and each grant (by [`GrantSpec::validate`]; errors are reported as
/// `grants[i].<field>`). Returns the trimmed name and the validated grants.
pub fn validate_license<'a>(
    org_slug: &str,
    form: &'a LicenseForm,
) -> Result<(&'a str, Vec<Grant>), ActionError> {
    let name = check_name("name", &form.name)?;
    if form.notes.chars().count() > MAX_NOTES_CHARS {
        return Err(ActionError::invalid(
            "notes",
            format!("must be at most {MAX_NOTES_CHARS} characters"),
        ));
    }
    let grants = form
        .grants
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            spec.validate(org_slug).map_err(|err| {
                let field = format!("grants[{i}].{}", err.field());
                // The message reads `<field>: <problem>`; keep the problem only.
                let text = err.to_string();
                let problem = text.split_once(": ").map_or(text.as_str(), |(_, p)| p).to_owned();
                ActionError::Invalid { field, message: problem }
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    License::new(
        LicenseId(0),
        form.starts_at,
        form.expires_at,
        form.on_expiry,
        form.suspended,
        grants.clone(),
    )
    .map_err(|err| {
        let text = err.to_string();
        let problem = text.split_once(": ").map_or(text.as_str(), |(_, p)| p).to_owned();
        ActionError::Invalid { field: err.field().to_owned(), message: problem }
    })?;
    Ok((name, grants))
}

fn license_input<'a>(
    form: &'a LicenseForm,
    name: &'a str,
    grants: &'a [Grant],
) -> LicenseInput<'a> {
    LicenseInput {
        name,
        starts_at: form.starts_at,
        expires_at: form.expires_at,
        on_expiry: form.on_expiry,
        suspended: form.suspended,
        notes: &form.notes,
        grants,
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;
    use wharf_entitlements::TagSelectorSpec;

    use super::*;

    fn form(grants: Vec<GrantSpec>) -> LicenseForm {
        LicenseForm {
            name: " Gold ".into(),
            starts_at: datetime!(2026-01-01 0:00 UTC),
            expires_at: Some(datetime!(2027-01-01 0:00 UTC)),
            on_expiry: ExpiryPolicy::KeepReleased,
            suspended: false,
            notes: String::new(),
            grants,
        }
    }

    fn grant(repository: &str, tags: TagSelectorSpec) -> GrantSpec {
        GrantSpec {
            repository: repository.into(),
            tags,
            published_after: None,
            published_before: None,
        }
    }

    fn field_of(result: Result<(&str, Vec<Grant>), ActionError>) -> (String, String) {
        match result {
            Err(ActionError::Invalid { field, message }) => (field, message),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn valid_licenses_pass_with_a_trimmed_name() {
        let f = form(vec![
            grant(
                "acme/app",
                TagSelectorSpec::Semver {
                    range: ">=1.0.0 <2.0.0".into(),
                    allow_v_prefix: false,
                    include_prereleases: false,
                },
            ),
            grant("acme/charts/*", TagSelectorSpec::All),
        ]);
        let (name, grants) = validate_license("acme", &f).unwrap();
        assert_eq!(name, "Gold");
        assert_eq!(grants.len(), 2);
    }

    #[test]
    fn errors_name_the_field_in_the_request() {
        let semver = |range: &str| TagSelectorSpec::Semver {
            range: range.into(),
            allow_v_prefix: false,
            include_prereleases: false,
        };
        let cases: Vec<(LicenseForm, &str)> = vec![
            (
                form(vec![
                    grant("acme/app", TagSelectorSpec::All),
                    grant("acme/app", semver(">=1 <")),
                ]),
                "grants[1].tags.range",
            ),
            (
                form(vec![grant("acme/app", TagSelectorSpec::Glob { pattern: "1.[0-9]".into() })]),
                "grants[0].tags.pattern",
            ),
            (form(vec![grant("globex/app", TagSelectorSpec::All)]), "grants[0].repository"),
            (form(vec![grant("acme/app*", TagSelectorSpec::All)]), "grants[0].repository"),
            (
                form(vec![grant(
                    "acme/app",
                    TagSelectorSpec::Exact { values: vec!["ok".into(), "a/b".into()] },
                )]),
                "grants[0].tags.values[1]",
            ),
            (
                LicenseForm { expires_at: Some(datetime!(2025-01-01 0:00 UTC)), ..form(vec![]) },
                "expires_at",
            ),
            (LicenseForm { name: "  ".into(), ..form(vec![]) }, "name"),
            (LicenseForm { name: "x".repeat(201), ..form(vec![]) }, "name"),
            (LicenseForm { notes: "x".repeat(4001), ..form(vec![]) }, "notes"),
        ];
        for (f, expected) in cases {
            let (field, message) = field_of(validate_license("acme", &f));
            assert_eq!(field, expected, "{f:?}");
            assert!(!message.is_empty() && !message.starts_with(&field), "{message}");
        }
    }
}
