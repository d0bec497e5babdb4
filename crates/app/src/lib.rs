//! wharf-app: the application, what every front door shares, with no routing and no HTML.
//!
//! The three front doors — the registry (`/v2`, `wharf-registry`), the JSON API (`/api/v1`,
//! `wharf-api`) and the pages (`wharf-portal`) — and the operator commands of the binary all
//! act through this crate, so a rule is written once and a change made through one door is
//! seen at once by the others. It knows no routes, no HTML, no OCI error envelope and no
//! problem JSON: each front door turns the typed answers here into its own terms. SQL lives
//! in `wharf-db`, pure decisions in `wharf-entitlements` and `wharf-auth`.
//!
//! Modules:
//! - [`credentials`]: is this access token good, what does it hold (`/token`, Basic on `/v2`,
//!   the API), bearer tokens signed and verified, and the in-memory views every instance
//!   keeps current over Postgres LISTEN/NOTIFY: revoked tokens, disabled customers, who may
//!   pull what ([`credentials::entitlement_view`]).
//! - [`accounts`]: sign-up, invitations, sign-in.
//! - [`actions`]: every vendor write to customers, licenses and customer tokens, audited and
//!   applied to this instance's views before it returns.
//! - [`entitled`]: what a customer can pull now, from the same view the registry answers from.
//! - [`audit`], [`usage`]: the audit log and pull analytics, written off the request path by
//!   one [`batch::Batcher`].
//! - [`mail`]: invitations and password resets by email: an outbox in Postgres and a
//!   delivery worker with retries, safe with several instances.
//! - [`csv`]: CSV exports (formula-safe lines, streamed from a database cursor), for the
//!   API and the pages.
//! - [`metrics`]: the application's counters (the binary renders them with its own).
//! - [`App`]: all of it started together, for `wharf serve` and the tests.

pub mod accounts;
pub mod actions;
pub mod audit;
pub mod batch;
pub mod branding;
pub mod credentials;
pub mod csv;
pub mod customer_team;
pub mod entitled;
pub mod export;
pub mod mail;
pub mod metrics;
pub mod usage;

mod app;

pub use accounts::{
    AcceptError, Acceptance, AccountSettings, Accounts, CreateOrganizationError,
    DEFAULT_INVITATION_TTL, Field, FieldError, Founder, InvitationPreview, InviteError, Inviter,
    IssuedInvitation, Joined, LoginError, MemberAdded, OperatorError, OrganizationCreated,
    OrganizationRequest, SignedIn, SignedUp, SignupError, SignupMode, SignupRequest,
};
pub use app::{App, AppSettings, BackgroundTasks, USAGE_WRITER};
