//! Principals (who is calling) and what a principal may do on a repository.
//!
//! Owns the [`Principal`] type, vendor [`Role`]s and the pure rule [`repository_rights`]:
//! vendors act within their own organization by role, customers pull what their entitlements
//! allow and never write. It does not decide entitlements (that is `wharf-entitlements`, passed
//! in as a closure), look anything up, or authenticate credentials.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::scope::{Action, ActionSet, all_repository_actions};

/// A vendor member's role in their organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, including billing, members and deleting the organization.
    Owner,
    /// Everything but ownership: members, customers, licenses, repositories.
    Admin,
    /// Push, pull and delete artifacts; read customers and usage.
    Developer,
    /// Read only.
    Viewer,
}

impl Role {
    /// Every role, most powerful first.
    pub const ALL: [Role; 4] = [Role::Owner, Role::Admin, Role::Developer, Role::Viewer];

    /// The stored and displayed form: `owner`, `admin`, `developer` or `viewer`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Developer => "developer",
            Role::Viewer => "viewer",
        }
    }

    /// Whether members with this role may write to the organization's repositories.
    pub const fn can_write_artifacts(self) -> bool {
        match self {
            Role::Owner | Role::Admin | Role::Developer => true,
            Role::Viewer => false,
        }
    }

    /// Whether members with this role may manage customers, their licenses and their access
    /// tokens (create, change, delete, issue, revoke). Everyone may read them.
    pub const fn can_manage_customers(self) -> bool {
        match self {
            Role::Owner | Role::Admin => true,
            Role::Developer | Role::Viewer => false,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

/// A role name that is not `owner`, `admin`, `developer` or `viewer`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role `{0}`: expected `owner`, `admin`, `developer` or `viewer`")]
pub struct UnknownRole(pub String);

/// A customer user's role within their customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CustomerRole {
    /// Manages the customer's users and access tokens.
    Admin,
    /// Uses the customer portal and creates access tokens of their own.
    Member,
}

impl CustomerRole {
    /// Both roles, most powerful first.
    pub const ALL: [CustomerRole; 2] = [CustomerRole::Admin, CustomerRole::Member];

    /// The stored and displayed form: `admin` or `member`.
    pub const fn as_str(self) -> &'static str {
        match self {
            CustomerRole::Admin => "admin",
            CustomerRole::Member => "member",
        }
    }
}

impl fmt::Display for CustomerRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for CustomerRole {
    type Err = UnknownCustomerRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or_else(|| UnknownCustomerRole(s.to_owned()))
    }
}

/// A customer role name that is not `admin` or `member`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown customer role `{0}`: expected `admin` or `member`")]
pub struct UnknownCustomerRole(pub String);

/// Who is making a request, once their credentials have been checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Principal {
    /// A vendor organization member signed in to the portal.
    VendorMember {
        /// The user.
        user_id: Uuid,
        /// The vendor organization.
        org_id: Uuid,
        /// The member's role in that organization.
        role: Role,
    },
    /// A vendor API token (`wharf_vnd_…`).
    VendorApiToken {
        /// The access token's id.
        token_id: Uuid,
        /// The vendor organization.
        org_id: Uuid,
        /// The current role of the member who created the token (a token never has more
        /// rights than its creator has now).
        role: Role,
        /// A token created read-only: pull only, whatever the role.
        read_only: bool,
    },
    /// A customer access token (`wharf_cst_…`).
    CustomerToken {
        /// The access token's id.
        token_id: Uuid,
        /// The vendor organization the customer buys from.
        org_id: Uuid,
        /// The customer.
        customer_id: Uuid,
    },
    /// No credentials.
    Anonymous,
}

impl Principal {
    /// The organization the principal belongs to (vendors) or buys from (customers).
    pub fn org_id(&self) -> Option<Uuid> {
        match self {
            Principal::VendorMember { org_id, .. }
            | Principal::VendorApiToken { org_id, .. }
            | Principal::CustomerToken { org_id, .. } => Some(*org_id),
            Principal::Anonymous => None,
        }
    }

    /// The access token the principal authenticated with, if any (for revocation checks and
    /// last-used updates).
    pub fn token_id(&self) -> Option<Uuid> {
        match self {
            Principal::VendorApiToken { token_id, .. }
            | Principal::CustomerToken { token_id, .. } => Some(*token_id),
            Principal::VendorMember { .. } | Principal::Anonymous => None,
        }
    }

    /// Whether this is a vendor member or vendor API token.
    pub fn is_vendor(&self) -> bool {
        matches!(self, Principal::VendorMember { .. } | Principal::VendorApiToken { .. })
    }

    /// The customer a customer token belongs to.
    pub fn customer_id(&self) -> Option<Uuid> {
        match self {
            Principal::CustomerToken { customer_id, .. } => Some(*customer_id),
            _ => None,
        }
    }

    /// How the principal is named in a registry bearer token's `sub` and in the registry's
    /// records: `user:<id>`, `token:<id>` or `anonymous`.
    pub fn subject(&self) -> String {
        match self {
            Principal::VendorMember { user_id, .. } => format!("user:{user_id}"),
            Principal::VendorApiToken { token_id, .. }
            | Principal::CustomerToken { token_id, .. } => format!("token:{token_id}"),
            Principal::Anonymous => "anonymous".to_owned(),
        }
    }
}

/// The facts about a repository that [`repository_rights`] needs. The caller resolves them
/// from the repository name (its first segment is the owning organization's slug); a
/// repository that does not exist yet (first push) is described by its would-be owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RepositoryOwnership {
    /// The organization that owns the repository's namespace (from the slug in its name).
    pub org_id: Uuid,
    /// Whether the vendor explicitly made the repository public (anyone may pull).
    pub public: bool,
}

/// The actions `principal` holds on a repository.
///
/// - Vendor member or vendor API token of the owning organization: owner, admin and developer
///   get pull, push and delete; viewer, and any read-only token, pull only.
/// - Vendors get nothing in another organization's namespace (except pull if public).
/// - Customer token: pull only, and only if the repository belongs to the customer's vendor
///   organization and `customer_has_active_grant` (the entitlement decision of
///   `wharf-entitlements` for this repository, evaluated lazily) returns true. Customers never
///   push, delete or mount.
/// - Anyone, including anonymous callers: pull on a public repository.
pub fn repository_rights(
    principal: &Principal,
    repository: RepositoryOwnership,
    customer_has_active_grant: impl FnOnce() -> bool,
) -> ActionSet {
    let mut rights = match principal {
        Principal::VendorMember { org_id, role, .. } if *org_id == repository.org_id => {
            vendor_rights(*role, false)
        }
        Principal::VendorApiToken { org_id, role, read_only, .. }
            if *org_id == repository.org_id =>
        {
            vendor_rights(*role, *read_only)
        }
        Principal::CustomerToken { org_id, .. }
            if *org_id == repository.org_id && customer_has_active_grant() =>
        {
            ActionSet::from([Action::Pull])
        }
        Principal::VendorMember { .. }
        | Principal::VendorApiToken { .. }
        | Principal::CustomerToken { .. }
        | Principal::Anonymous => ActionSet::new(),
    };
    if repository.public {
        rights.insert(Action::Pull);
    }
    rights
}

fn vendor_rights(role: Role, read_only: bool) -> ActionSet {
    if role.can_write_artifacts() && !read_only {
        all_repository_actions()
    } else {
        ActionSet::from([Action::Pull])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Action::{Delete, Pull, Push};

    const ORG: Uuid = Uuid::from_u128(1);
    const OTHER_ORG: Uuid = Uuid::from_u128(2);

    fn facts(org_id: Uuid, public: bool) -> RepositoryOwnership {
        RepositoryOwnership { org_id, public }
    }

    fn member(org_id: Uuid, role: Role) -> Principal {
        Principal::VendorMember { user_id: Uuid::from_u128(10), org_id, role }
    }

    fn api_token(org_id: Uuid, role: Role, read_only: bool) -> Principal {
        Principal::VendorApiToken { token_id: Uuid::from_u128(20), org_id, role, read_only }
    }

    fn customer(org_id: Uuid) -> Principal {
        Principal::CustomerToken {
            token_id: Uuid::from_u128(30),
            org_id,
            customer_id: Uuid::from_u128(40),
        }
    }

    fn set(actions: &[Action]) -> ActionSet {
        actions.iter().copied().collect()
    }

    #[test]
    fn role_names() {
        for role in Role::ALL {
            assert_eq!(role.to_string().parse::<Role>().unwrap(), role);
            assert_eq!(serde_json::to_value(role).unwrap(), serde_json::json!(role.as_str()));
        }
        assert_eq!("developer".parse::<Role>().unwrap(), Role::Developer);
        let err = "Owner".parse::<Role>().unwrap_err();
        assert!(err.to_string().contains("unknown role `Owner`"), "{err}");
        for role in CustomerRole::ALL {
            assert_eq!(role.to_string().parse::<CustomerRole>().unwrap(), role);
        }
        assert_eq!("member".parse::<CustomerRole>().unwrap(), CustomerRole::Member);
        assert!("owner".parse::<CustomerRole>().is_err(), "vendor roles are not customer roles");
    }

    #[test]
    fn only_owners_and_admins_manage_customers() {
        let managers: Vec<Role> =
            Role::ALL.into_iter().filter(|r| r.can_manage_customers()).collect();
        assert_eq!(managers, [Role::Owner, Role::Admin]);
    }

    #[test]
    fn rights_table() {
        let all = set(&[Pull, Push, Delete]);
        let pull = set(&[Pull]);
        let none = set(&[]);
        let cases: Vec<(&str, Principal, RepositoryOwnership, bool, ActionSet)> = vec![
            ("owner in own org", member(ORG, Role::Owner), facts(ORG, false), false, all.clone()),
            ("admin in own org", member(ORG, Role::Admin), facts(ORG, false), false, all.clone()),
            (
                "developer in own org",
                member(ORG, Role::Developer),
                facts(ORG, false),
                false,
                all.clone(),
            ),
            (
                "viewer in own org",
                member(ORG, Role::Viewer),
                facts(ORG, false),
                false,
                pull.clone(),
            ),
            (
                "owner in another org",
                member(OTHER_ORG, Role::Owner),
                facts(ORG, false),
                false,
                none.clone(),
            ),
            (
                "owner in another org, public repo",
                member(OTHER_ORG, Role::Owner),
                facts(ORG, true),
                false,
                pull.clone(),
            ),
            (
                "admin token",
                api_token(ORG, Role::Admin, false),
                facts(ORG, false),
                false,
                all.clone(),
            ),
            (
                "read-only admin token",
                api_token(ORG, Role::Admin, true),
                facts(ORG, false),
                false,
                pull.clone(),
            ),
            (
                "viewer token",
                api_token(ORG, Role::Viewer, false),
                facts(ORG, false),
                false,
                pull.clone(),
            ),
            (
                "token of another org",
                api_token(OTHER_ORG, Role::Owner, false),
                facts(ORG, false),
                false,
                none.clone(),
            ),
            ("customer with grant", customer(ORG), facts(ORG, false), true, pull.clone()),
            ("customer without grant", customer(ORG), facts(ORG, false), false, none.clone()),
            (
                "customer with grant claimed for another vendor's repo",
                customer(OTHER_ORG),
                facts(ORG, false),
                true,
                none.clone(),
            ),
            ("customer, public repo", customer(ORG), facts(ORG, true), false, pull.clone()),
            ("anonymous", Principal::Anonymous, facts(ORG, false), true, none.clone()),
            ("anonymous, public repo", Principal::Anonymous, facts(ORG, true), false, pull.clone()),
        ];
        for (name, principal, repository, grant, expected) in cases {
            assert_eq!(repository_rights(&principal, repository, || grant), expected, "{name}");
        }
    }

    #[test]
    fn grant_closure_only_called_for_customers_of_the_owner() {
        let mut called = false;
        repository_rights(&member(ORG, Role::Owner), facts(ORG, false), || {
            called = true;
            true
        });
        assert!(!called);
        repository_rights(&customer(OTHER_ORG), facts(ORG, false), || {
            called = true;
            true
        });
        assert!(!called);
        repository_rights(&customer(ORG), facts(ORG, false), || {
            called = true;
            true
        });
        assert!(called);
    }

    #[test]
    fn accessors() {
        assert_eq!(customer(ORG).org_id(), Some(ORG));
        assert_eq!(customer(ORG).token_id(), Some(Uuid::from_u128(30)));
        assert_eq!(member(ORG, Role::Owner).token_id(), None);
        assert_eq!(Principal::Anonymous.org_id(), None);
        assert!(api_token(ORG, Role::Viewer, true).is_vendor());
        assert!(!customer(ORG).is_vendor());
    }

    #[test]
    fn serde_shape() {
        let json = serde_json::to_value(customer(ORG)).unwrap();
        assert_eq!(json["kind"], "customer_token");
        let back: Principal = serde_json::from_value(json).unwrap();
        assert_eq!(back, customer(ORG));
    }
}
