//! Licenses: a validity window, an expiry policy, a suspended flag and grants.
//!
//! Owns what a license is and what state it is in at a given instant (the clock is a
//! parameter). It does not match tags or walk manifests; [`crate::decide`] does.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{decision::DenyReason, grant::Grant};

/// A license's identifier (the database's UUID as a `u128`). `Display` prints it in the
/// hyphenated UUID form.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LicenseId(pub u128);

impl fmt::Display for LicenseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex = format!("{:032x}", self.0);
        write!(
            f,
            "{}-{}-{}-{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        )
    }
}

impl fmt::Debug for LicenseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LicenseId({self})")
    }
}

/// What a license grants after `expires_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpiryPolicy {
    /// Nothing after expiry.
    Revoke,
    /// After expiry, whatever was pushed before `expires_at` stays available; nothing newer.
    KeepReleased,
}

/// Why a license was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LicenseError {
    /// `expires_at` is not after `starts_at`.
    #[error("expires_at: must be later than starts_at")]
    ExpiresBeforeStart,
}

impl LicenseError {
    /// The JSON field the error is about.
    #[must_use]
    pub fn field(&self) -> &'static str {
        match self {
            Self::ExpiresBeforeStart => "expires_at",
        }
    }
}

/// A validated license.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct License {
    id: LicenseId,
    starts_at: OffsetDateTime,
    expires_at: Option<OffsetDateTime>,
    expiry_policy: ExpiryPolicy,
    suspended: bool,
    grants: Vec<Grant>,
}

/// A license's state at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LicenseState {
    /// Suspended by the vendor: grants nothing, whatever the dates.
    Suspended,
    /// `now < starts_at`: grants nothing yet.
    NotStarted,
    /// `starts_at <= now` and (no expiry or `now < expires_at`): grants fully.
    Active,
    /// Expired with [`ExpiryPolicy::Revoke`]: grants nothing.
    Expired,
    /// Expired with [`ExpiryPolicy::KeepReleased`]: grants what was pushed before `cutoff`.
    KeepsReleased {
        /// The license's `expires_at`.
        cutoff: OffsetDateTime,
    },
}

/// How far in push time a grant reaches: everything, or only what was pushed before an
/// instant. `Before(_) < Unlimited`, and a later cutoff reaches further.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Reach {
    /// Only what was pushed strictly before the instant.
    Before(OffsetDateTime),
    /// Everything.
    Unlimited,
}

impl Reach {
    /// Whether something pushed at `pushed_at` is within reach.
    pub(crate) fn admits(self, pushed_at: OffsetDateTime) -> bool {
        match self {
            Self::Before(cutoff) => pushed_at < cutoff,
            Self::Unlimited => true,
        }
    }
}

impl License {
    /// Validates a license: `expires_at`, when given, must be later than `starts_at`.
    pub fn new(
        id: LicenseId,
        starts_at: OffsetDateTime,
        expires_at: Option<OffsetDateTime>,
        expiry_policy: ExpiryPolicy,
        suspended: bool,
        grants: Vec<Grant>,
    ) -> Result<Self, LicenseError> {
        if expires_at.is_some_and(|e| e <= starts_at) {
            return Err(LicenseError::ExpiresBeforeStart);
        }
        Ok(Self { id, starts_at, expires_at, expiry_policy, suspended, grants })
    }

    /// The identifier.
    #[must_use]
    pub fn id(&self) -> LicenseId {
        self.id
    }

    /// Start of validity (inclusive).
    #[must_use]
    pub fn starts_at(&self) -> OffsetDateTime {
        self.starts_at
    }

    /// End of validity (exclusive), if any.
    #[must_use]
    pub fn expires_at(&self) -> Option<OffsetDateTime> {
        self.expires_at
    }

    /// What happens after expiry.
    #[must_use]
    pub fn expiry_policy(&self) -> ExpiryPolicy {
        self.expiry_policy
    }

    /// Whether the vendor suspended the license.
    #[must_use]
    pub fn is_suspended(&self) -> bool {
        self.suspended
    }

    /// The grants, in the order given (a [`crate::GrantRef`] points into this list).
    #[must_use]
    pub fn grants(&self) -> &[Grant] {
        &self.grants
    }

    /// The license's state at `now`.
    #[must_use]
    pub fn state_at(&self, now: OffsetDateTime) -> LicenseState {
        if self.suspended {
            return LicenseState::Suspended;
        }
        if now < self.starts_at {
            return LicenseState::NotStarted;
        }
        match self.expires_at {
            Some(expires_at) if expires_at <= now => match self.expiry_policy {
                ExpiryPolicy::Revoke => LicenseState::Expired,
                ExpiryPolicy::KeepReleased => LicenseState::KeepsReleased { cutoff: expires_at },
            },
            _ => LicenseState::Active,
        }
    }

    /// The first instant after `now` at which [`License::state_at`] changes, if any.
    #[must_use]
    pub fn next_change_after(&self, now: OffsetDateTime) -> Option<OffsetDateTime> {
        if self.suspended {
            return None;
        }
        [Some(self.starts_at), self.expires_at].into_iter().flatten().filter(|t| *t > now).min()
    }
}

impl LicenseState {
    /// Whether this state grants at all (active, or keeping released versions).
    #[must_use]
    pub fn grants_anything(&self) -> bool {
        matches!(self, Self::Active | Self::KeepsReleased { .. })
    }

    /// How far a grant of a license in this state reaches for something pushed at
    /// `pushed_at`, or why it does not.
    pub(crate) fn admit(
        self,
        license: LicenseId,
        pushed_at: OffsetDateTime,
    ) -> Result<Reach, DenyReason> {
        match self {
            Self::Active => Ok(Reach::Unlimited),
            Self::KeepsReleased { cutoff } if pushed_at < cutoff => Ok(Reach::Before(cutoff)),
            Self::KeepsReleased { .. } => Err(DenyReason::PushedAfterExpiry { license }),
            Self::Suspended | Self::NotStarted | Self::Expired => {
                Err(self.denial(license).unwrap_or(DenyReason::NoGrantForRepository))
            }
        }
    }

    /// Why a license in this state grants nothing at all; `None` when it grants something.
    pub(crate) fn denial(self, license: LicenseId) -> Option<DenyReason> {
        match self {
            Self::Suspended => Some(DenyReason::LicenseSuspended { license }),
            Self::NotStarted => Some(DenyReason::LicenseNotStarted { license }),
            Self::Expired => Some(DenyReason::LicenseExpired { license }),
            Self::Active | Self::KeepsReleased { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use time::{Duration, macros::datetime};

    use super::*;
    use crate::selector::TagSelector;

    const START: OffsetDateTime = datetime!(2026-01-01 0:00 UTC);
    const END: OffsetDateTime = datetime!(2027-01-01 0:00 UTC);

    fn license(policy: ExpiryPolicy, suspended: bool) -> License {
        License::new(LicenseId(7), START, Some(END), policy, suspended, vec![]).unwrap()
    }

    #[test]
    fn states_around_the_window() {
        let eps = Duration::nanoseconds(1);
        let revoke = license(ExpiryPolicy::Revoke, false);
        let keep = license(ExpiryPolicy::KeepReleased, false);
        let cases = [
            (START - eps, LicenseState::NotStarted, LicenseState::NotStarted),
            (START, LicenseState::Active, LicenseState::Active),
            (END - eps, LicenseState::Active, LicenseState::Active),
            (END, LicenseState::Expired, LicenseState::KeepsReleased { cutoff: END }),
            (
                END + Duration::days(400),
                LicenseState::Expired,
                LicenseState::KeepsReleased { cutoff: END },
            ),
        ];
        for (now, r, k) in cases {
            assert_eq!(revoke.state_at(now), r, "{now}");
            assert_eq!(keep.state_at(now), k, "{now}");
        }
        let suspended = license(ExpiryPolicy::KeepReleased, true);
        assert_eq!(suspended.state_at(START), LicenseState::Suspended);
        assert_eq!(suspended.next_change_after(START - eps), None);
        assert_eq!(revoke.next_change_after(START - eps), Some(START));
        assert_eq!(revoke.next_change_after(START), Some(END));
        assert_eq!(revoke.next_change_after(END), None);
    }

    #[test]
    fn keep_released_admits_only_before_expiry() {
        let state = LicenseState::KeepsReleased { cutoff: END };
        let id = LicenseId(1);
        assert_eq!(state.admit(id, END - Duration::nanoseconds(1)), Ok(Reach::Before(END)));
        assert_eq!(state.admit(id, END), Err(DenyReason::PushedAfterExpiry { license: id }));
        assert_eq!(LicenseState::Active.admit(id, END), Ok(Reach::Unlimited));
        assert!(Reach::Before(END).admits(END - Duration::nanoseconds(1)));
        assert!(!Reach::Before(END).admits(END));
        assert!(!Reach::Before(END).admits(END + Duration::days(1)));
        assert!(Reach::Unlimited.admits(END + Duration::days(1)));
        assert!(Reach::Before(END) < Reach::Unlimited);
        assert!(Reach::Before(START) < Reach::Before(END));
    }

    #[test]
    fn expiry_must_follow_start() {
        for expires in [START, START - Duration::seconds(1)] {
            let err = License::new(
                LicenseId(1),
                START,
                Some(expires),
                ExpiryPolicy::Revoke,
                false,
                vec![],
            )
            .unwrap_err();
            assert_eq!(err, LicenseError::ExpiresBeforeStart);
            assert_eq!(err.field(), "expires_at");
        }
        assert!(
            License::new(LicenseId(1), START, None, ExpiryPolicy::Revoke, false, vec![]).is_ok()
        );
    }

    #[test]
    fn accessors() {
        let grant = Grant::new("acme", "acme/app", TagSelector::all(), None, None).unwrap();
        let kept = License::new(
            LicenseId(0xab),
            START,
            Some(END),
            ExpiryPolicy::KeepReleased,
            true,
            vec![grant.clone()],
        )
        .unwrap();
        assert_eq!(kept.id(), LicenseId(0xab));
        assert_eq!((kept.starts_at(), kept.expires_at()), (START, Some(END)));
        assert_eq!(kept.expiry_policy(), ExpiryPolicy::KeepReleased);
        assert!(kept.is_suspended());
        assert_eq!(kept.grants(), [grant]);
        let open =
            License::new(LicenseId(1), END, None, ExpiryPolicy::Revoke, false, vec![]).unwrap();
        assert_eq!((open.starts_at(), open.expires_at()), (END, None));
        assert_eq!(open.expiry_policy(), ExpiryPolicy::Revoke);
        assert!(!open.is_suspended());
        assert!(open.grants().is_empty());
        for (state, grants) in [
            (LicenseState::Active, true),
            (LicenseState::KeepsReleased { cutoff: END }, true),
            (LicenseState::Suspended, false),
            (LicenseState::NotStarted, false),
            (LicenseState::Expired, false),
        ] {
            assert_eq!(state.grants_anything(), grants, "{state:?}");
        }
    }

    #[test]
    fn id_display() {
        assert_eq!(
            LicenseId(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef).to_string(),
            "01234567-89ab-cdef-0123-456789abcdef"
        );
        assert_eq!(
            format!("{:?}", LicenseId(0xab)),
            "LicenseId(00000000-0000-0000-0000-0000000000ab)"
        );
    }
}
