//! wharf-auth: who is who.
//!
//! Owns password hashing (argon2id), access-token formats (prefix, randomness, checksum,
//! SHA-256 at rest), registry JWTs, principals and the credentials a request presents. No SQL
//! and no HTTP routing.
//!
//! Modules:
//! - [`authorization`]: the `Authorization` header, read in one place (Basic or Bearer).
//! - [`password`]: argon2id hashing, verification, rehash detection, dummy verification,
//!   password policy.
//! - [`token`]: vendor API tokens (`wharf_vnd_…`) and customer access tokens (`wharf_cst_…`):
//!   generation, format check with checksum, SHA-256 at rest.
//! - [`invitation`]: invitation tokens (`wharf_inv_…`), the secret of an invitation link:
//!   generation, format check, SHA-256 at rest.
//! - [`scope`]: Docker token-auth scopes, repository names, and the `access` intersection.
//! - [`jwt`]: ES256 registry bearer tokens: key generation and loading, signing, verifying.
//! - [`principal`]: who is calling, and what a principal may do on a repository.
//! - [`throttle`]: in-memory counters of failed authentications per client address and per
//!   account (registry token logins and portal sign-ins each keep their own).
//!
//! Everything here is synchronous and pure apart from the CSPRNG; hash passwords inside
//! `tokio::task::spawn_blocking` (argon2id takes tens of milliseconds by design).

pub mod authorization;
pub mod invitation;
pub mod jwt;
pub mod password;
pub mod principal;
pub mod scope;
pub mod throttle;
pub mod token;
