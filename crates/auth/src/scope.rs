//! Docker token-auth scopes: parsing `scope=` parameters, repository names, and the
//! intersection that becomes a registry token's `access` claim.
//!
//! Owns the grammar of `repository:acme/app:pull,push` and `registry:catalog:*`, and
//! [`intersect`]: what was asked ∩ what is held. The repository-name syntax is `wharf-oci`'s
//! ([`wharf_oci::name::check_repository_name`]); a scope's name may be a single component,
//! unlike a Wharf repository, so it has its own [`RepositoryName`] type. It decides
//! nothing about *who* holds what (that is [`crate::principal`] and `wharf-entitlements`) and
//! does no I/O.
//!
//! Grammar accepted (Docker token authentication specification):
//!
//! ```text
//! scope        = resourcetype ":" resourcename ":" action *( "," action )
//! resourcetype = "repository" | "repository(" class ")" | "registry"
//! action       = "pull" | "push" | "delete" | "*"
//! ```
//!
//! - Several scopes may come as repeated `scope` parameters or space-separated inside one
//!   parameter; [`parse_scopes`] accepts both and merges scopes for the same resource.
//! - A resource class (`repository(plugin):…`, used by Docker plugins) is tolerated and
//!   dropped: access is decided per repository name, whatever the class.
//! - `registry` resources: only `registry:catalog:*` exists.
//! - Anything else (unknown type or action, invalid name, empty action list) is an error,
//!   never silently widened or narrowed.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use wharf_oci::name::{SyntaxError, check_repository_name};

/// Maximum length of a repository name, in bytes (`wharf_oci::name::MAX_NAME_LEN`).
pub const MAX_REPOSITORY_NAME_LEN: usize = wharf_oci::name::MAX_NAME_LEN;

/// An action on a resource.
///
/// Ordered `pull < push < delete < *`, the order used when actions are listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    /// Read manifests, blobs, tags and referrers.
    Pull,
    /// Upload blobs and manifests (including cross-repository mount into this repository).
    Push,
    /// Delete manifests, tags and blobs.
    Delete,
    /// `*`: every action. On a repository it stands for pull, push and delete (see
    /// [`effective_actions`]); on `registry:catalog` it is the only action.
    All,
}

impl Action {
    /// The wire form: `pull`, `push`, `delete` or `*`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Action::Pull => "pull",
            Action::Push => "push",
            Action::Delete => "delete",
            Action::All => "*",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Action {
    type Err = ScopeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pull" => Ok(Action::Pull),
            "push" => Ok(Action::Push),
            "delete" => Ok(Action::Delete),
            "*" => Ok(Action::All),
            other => Err(ScopeError::UnknownAction(other.to_owned())),
        }
    }
}

impl Serialize for Action {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A set of actions, iterated in `pull, push, delete, *` order.
pub type ActionSet = BTreeSet<Action>;

/// Pull, push and delete: everything that can be done on a repository.
pub fn all_repository_actions() -> ActionSet {
    ActionSet::from([Action::Pull, Action::Push, Action::Delete])
}

/// The concrete actions a set stands for on a resource of `kind`: on a repository `*` is
/// replaced by pull, push and delete; on a registry resource the set is unchanged.
pub fn effective_actions(kind: ResourceKind, actions: &ActionSet) -> ActionSet {
    match kind {
        ResourceKind::Repository if actions.contains(&Action::All) => all_repository_actions(),
        ResourceKind::Repository | ResourceKind::Registry => actions.clone(),
    }
}

/// A repository name valid under the OCI distribution spec:
/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*`, at most
/// [`MAX_REPOSITORY_NAME_LEN`] bytes.
///
/// In Wharf the first path segment is the owning organization's slug ([`Self::org_slug`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RepositoryName(String);

impl RepositoryName {
    /// Validates `name` against the OCI grammar (one or more components).
    pub fn parse(name: &str) -> Result<Self, ScopeError> {
        check_repository_name(name).map_err(|err| ScopeError::InvalidRepositoryName {
            name: match err {
                SyntaxError::TooLong => truncate_for_message(name),
                SyntaxError::Empty | SyntaxError::InvalidComponent { .. } => name.to_owned(),
            },
            reason: err.reason(),
        })?;
        Ok(Self(name.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first path segment: in Wharf, the slug of the organization that owns the
    /// repository (`acme` in `acme/app`).
    pub fn org_slug(&self) -> &str {
        self.0.split('/').next().unwrap_or(&self.0)
    }

    /// Whether the name has at least two segments (`<org-slug>/<path>`), the only shape Wharf
    /// repositories have.
    pub fn has_org_and_path(&self) -> bool {
        self.0.contains('/')
    }
}

impl fmt::Display for RepositoryName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for RepositoryName {
    type Err = ScopeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl AsRef<str> for RepositoryName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// `name` for an error message, cut to 64 bytes (it may come from anyone).
fn truncate_for_message(name: &str) -> String {
    if name.len() <= 64 {
        return name.to_owned();
    }
    let mut end = 64;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &name[..end])
}

/// The type of resource a scope is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResourceKind {
    /// A repository (`repository:<name>:…`).
    Repository,
    /// The registry itself; only `registry:catalog:*` exists.
    Registry,
}

impl ResourceKind {
    /// The wire form: `repository` or `registry`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ResourceKind::Repository => "repository",
            ResourceKind::Registry => "registry",
        }
    }
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One resource and the actions asked for or granted on it.
///
/// Serialized as an entry of the registry token's `access` claim:
/// `{"type":"repository","name":"acme/app","actions":["pull","push"]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceScope {
    /// Repository or registry.
    #[serde(rename = "type")]
    pub kind: ResourceKind,
    /// A valid repository name, or `catalog` for the registry kind.
    pub name: String,
    /// The actions. Never empty in a parsed scope; may be empty only in hand-built values.
    pub actions: ActionSet,
}

impl ResourceScope {
    /// A repository scope.
    pub fn repository(name: &RepositoryName, actions: impl IntoIterator<Item = Action>) -> Self {
        Self {
            kind: ResourceKind::Repository,
            name: name.as_str().to_owned(),
            actions: actions.into_iter().collect(),
        }
    }

    /// `registry:catalog:*`.
    pub fn catalog() -> Self {
        Self {
            kind: ResourceKind::Registry,
            name: CATALOG.to_owned(),
            actions: ActionSet::from([Action::All]),
        }
    }

    /// The repository name, if this is a repository scope with a valid name.
    pub fn repository_name(&self) -> Option<RepositoryName> {
        match self.kind {
            ResourceKind::Repository => RepositoryName::parse(&self.name).ok(),
            ResourceKind::Registry => None,
        }
    }

    /// Whether this scope allows `action` (taking `*` into account).
    pub fn allows(&self, action: Action) -> bool {
        effective_actions(self.kind, &self.actions).contains(&action)
    }

    /// Whether this scope, read from the `access` claim of a bearer token, grants `action`:
    /// only when it names that action. `*` is a wildcard in what a client asks for, never in
    /// what a token grants (Wharf issues none on repositories), so a claim carrying it grants
    /// nothing.
    pub fn grants(&self, action: Action) -> bool {
        action != Action::All && self.actions.contains(&action)
    }

    fn same_resource(&self, other: &Self) -> bool {
        self.kind == other.kind && self.name == other.name
    }
}

const CATALOG: &str = "catalog";

impl fmt::Display for ResourceScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:", self.kind, self.name)?;
        for (i, action) in self.actions.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(action.as_str())?;
        }
        Ok(())
    }
}

impl FromStr for ResourceScope {
    type Err = ScopeError;

    /// Parses one scope, e.g. `repository:acme/app:pull,push`.
    fn from_str(scope: &str) -> Result<Self, Self::Err> {
        let malformed = || ScopeError::Malformed(truncate_for_message(scope));
        let (kind_text, rest) = scope.split_once(':').ok_or_else(malformed)?;
        // The name may not contain ':' in Wharf, but split at the last ':' like the Docker
        // spec so that `localhost:5000/app` is reported as an invalid name, not as garbage.
        let (name, actions_text) = rest.rsplit_once(':').ok_or_else(malformed)?;
        let kind = parse_kind(kind_text)?;
        if actions_text.is_empty() {
            return Err(ScopeError::NoActions(truncate_for_message(scope)));
        }
        let actions = actions_text.split(',').map(str::parse).collect::<Result<ActionSet, _>>()?;
        match kind {
            ResourceKind::Repository => {
                RepositoryName::parse(name)?;
            }
            ResourceKind::Registry => {
                if name != CATALOG {
                    return Err(ScopeError::UnknownRegistryResource(truncate_for_message(name)));
                }
                if actions != ActionSet::from([Action::All]) {
                    return Err(ScopeError::CatalogActions);
                }
            }
        }
        Ok(Self { kind, name: name.to_owned(), actions })
    }
}

fn parse_kind(text: &str) -> Result<ResourceKind, ScopeError> {
    let base = match text.split_once('(') {
        Some((base, class)) => {
            let class = class
                .strip_suffix(')')
                .ok_or_else(|| ScopeError::UnknownResourceType(truncate_for_message(text)))?;
            let class_ok = !class.is_empty()
                && class.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !class_ok || base != "repository" {
                return Err(ScopeError::UnknownResourceType(truncate_for_message(text)));
            }
            base
        }
        None => text,
    };
    match base {
        "repository" => Ok(ResourceKind::Repository),
        "registry" => Ok(ResourceKind::Registry),
        _ => Err(ScopeError::UnknownResourceType(truncate_for_message(text))),
    }
}

/// Parses every `scope` query parameter of a token request.
///
/// Each parameter may hold several scopes separated by spaces. Scopes for the same resource
/// are merged (their actions united), in order of first appearance. No parameter, or only
/// blank ones, gives an empty list (as `docker login` sends).
pub fn parse_scopes<'a>(
    params: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<ResourceScope>, ScopeError> {
    let mut scopes: Vec<ResourceScope> = Vec::new();
    for param in params {
        for text in param.split_ascii_whitespace() {
            let scope: ResourceScope = text.parse()?;
            match scopes.iter_mut().find(|s| s.same_resource(&scope)) {
                Some(existing) => existing.actions.extend(scope.actions),
                None => scopes.push(scope),
            }
        }
    }
    Ok(scopes)
}

/// The `access` claim: for each requested resource, the requested actions the principal
/// holds according to `granted`.
///
/// - `*` stands for pull, push and delete on a repository, on either side: asking `*` gets
///   every action held, listed explicitly; holding `*` grants whatever is asked.
/// - Resources with no remaining action are dropped. Never an error: a principal with nothing
///   gets an empty `access` list (uniform denial).
/// - Several `granted` entries for one resource are united; duplicate requested resources are
///   merged; the result follows the order of first request.
pub fn intersect(requested: &[ResourceScope], granted: &[ResourceScope]) -> Vec<ResourceScope> {
    intersect_with(requested, |resource| {
        granted
            .iter()
            .filter(|g| g.same_resource(resource))
            .flat_map(|g| g.actions.iter().copied())
            .collect()
    })
}

/// For each requested resource, **every** action the principal holds on it, whatever actions
/// were asked (resources with none are still dropped).
///
/// An alternative to [`intersect_with`] for clients that reuse one token for a whole session:
/// oras-py, for one, starts a push with a pull-scoped request and only re-authenticates after a
/// 403, so a pull-only token would make its push fail. Never grants a resource that was not
/// requested.
pub fn all_held_with(
    requested: &[ResourceScope],
    held: impl FnMut(&ResourceScope) -> ActionSet,
) -> Vec<ResourceScope> {
    let widened: Vec<ResourceScope> = requested
        .iter()
        .map(|scope| ResourceScope { actions: ActionSet::from([Action::All]), ..scope.clone() })
        .collect();
    intersect_with(&widened, held)
}

/// Like [`intersect`], with the held actions of each requested resource computed on demand by
/// `held` (e.g. from [`crate::principal::repository_rights`]). `held` receives the requested
/// resource and is called once per distinct resource.
pub fn intersect_with(
    requested: &[ResourceScope],
    mut held: impl FnMut(&ResourceScope) -> ActionSet,
) -> Vec<ResourceScope> {
    let mut merged: Vec<ResourceScope> = Vec::new();
    for scope in requested {
        match merged.iter_mut().find(|s| s.same_resource(scope)) {
            Some(existing) => existing.actions.extend(scope.actions.iter().copied()),
            None => merged.push(scope.clone()),
        }
    }
    merged
        .into_iter()
        .filter_map(|scope| {
            let held = effective_actions(scope.kind, &held(&scope));
            let wanted = effective_actions(scope.kind, &scope.actions);
            let actions: ActionSet = wanted.intersection(&held).copied().collect();
            (!actions.is_empty()).then_some(ResourceScope { actions, ..scope })
        })
        .collect()
}

/// Why a scope parameter was rejected. Messages are safe to return to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    /// Not of the form `type:name:actions`.
    #[error("malformed scope `{0}`: expected `type:name:action[,action…]`")]
    Malformed(String),
    /// A resource type other than `repository` (with an optional class) or `registry`.
    #[error("unsupported resource type `{0}`: expected `repository` or `registry`")]
    UnknownResourceType(String),
    /// An action other than `pull`, `push`, `delete` or `*`.
    #[error("unsupported action `{0}`: expected `pull`, `push`, `delete` or `*`")]
    UnknownAction(String),
    /// `type:name:` with nothing after the last colon.
    #[error("scope `{0}` names no action")]
    NoActions(String),
    /// A `registry:` scope for something other than `catalog`.
    #[error("unsupported registry resource `{0}`: only `registry:catalog:*` exists")]
    UnknownRegistryResource(String),
    /// `registry:catalog:` with actions other than `*`.
    #[error("the catalog scope must be `registry:catalog:*`")]
    CatalogActions,
    /// The repository name does not follow the OCI syntax.
    #[error("invalid repository name `{name}`: {reason}")]
    InvalidRepositoryName {
        /// The offending name (shortened if very long).
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(name: &str, actions: &[Action]) -> ResourceScope {
        ResourceScope {
            kind: ResourceKind::Repository,
            name: name.to_owned(),
            actions: actions.iter().copied().collect(),
        }
    }

    use Action::{All, Delete, Pull, Push};

    #[test]
    fn repository_names() {
        let valid = [
            "a",
            "acme/app",
            "acme/team/app",
            "acme/my-app",
            "acme/my--app",
            "acme/my_app",
            "acme/my__app",
            "acme/my.app",
            "a1/b2.c3_d4__e5-f6---g7",
            "0/9",
        ];
        for name in valid {
            let parsed = RepositoryName::parse(name);
            assert!(parsed.is_ok(), "{name}: {parsed:?}");
        }
        let invalid = [
            "",
            "Acme/app",
            "acme/App",
            "acme//app",
            "/acme/app",
            "acme/app/",
            "acme/-app",
            "acme/app-",
            "acme/.app",
            "acme/app.",
            "acme/a..b",
            "acme/a___b",
            "acme/a._b",
            "acme/a-_b",
            "acme/a b",
            "acme/app:1.0",
            "localhost:5000/app",
            "acme/äpp",
            "acme\\app",
        ];
        for name in invalid {
            assert!(
                matches!(
                    RepositoryName::parse(name),
                    Err(ScopeError::InvalidRepositoryName { .. })
                ),
                "{name:?} was accepted"
            );
        }
    }

    #[test]
    fn repository_name_length_limit() {
        let at_limit = format!("acme/{}", "a".repeat(MAX_REPOSITORY_NAME_LEN - 5));
        assert_eq!(at_limit.len(), MAX_REPOSITORY_NAME_LEN);
        assert!(RepositoryName::parse(&at_limit).is_ok());
        let over = format!("{at_limit}a");
        let err = RepositoryName::parse(&over).unwrap_err();
        assert!(err.to_string().contains("longer than 255"), "{err}");
    }

    #[test]
    fn org_slug() {
        let name = RepositoryName::parse("acme/team/app").unwrap();
        assert_eq!(name.org_slug(), "acme");
        assert!(name.has_org_and_path());
        let single = RepositoryName::parse("app").unwrap();
        assert_eq!(single.org_slug(), "app");
        assert!(!single.has_org_and_path());
    }

    #[test]
    fn parse_single_scopes() {
        let cases: &[(&str, ResourceScope)] = &[
            ("repository:acme/app:pull", repo("acme/app", &[Pull])),
            ("repository:acme/app:pull,push", repo("acme/app", &[Pull, Push])),
            ("repository:acme/app:push,pull,pull", repo("acme/app", &[Pull, Push])),
            ("repository:acme/app:*", repo("acme/app", &[All])),
            ("repository:acme/app:delete", repo("acme/app", &[Delete])),
            ("repository(plugin):acme/app:pull", repo("acme/app", &[Pull])),
            ("repository(my-plugin_2):acme/app:pull", repo("acme/app", &[Pull])),
            ("registry:catalog:*", ResourceScope::catalog()),
        ];
        for (text, expected) in cases {
            assert_eq!(&text.parse::<ResourceScope>().unwrap(), expected, "{text}");
        }
    }

    #[test]
    fn parse_rejects_clearly() {
        let cases: &[(&str, &str)] = &[
            ("", "malformed scope"),
            ("repository", "malformed scope"),
            ("repository:acme/app", "malformed scope"),
            ("repository:acme/app:", "names no action"),
            ("repository:acme/app:pull,", "unsupported action ``"),
            ("repository:acme/app:read", "unsupported action `read`"),
            ("repository:acme/app:PULL", "unsupported action `PULL`"),
            ("repository:Acme/app:pull", "invalid repository name `Acme/app`"),
            ("repository:localhost:5000/app:pull", "invalid repository name `localhost:5000/app`"),
            ("repository::pull", "invalid repository name ``"),
            ("image:acme/app:pull", "unsupported resource type `image`"),
            ("repository():acme/app:pull", "unsupported resource type"),
            ("repository(plugin:acme/app:pull", "unsupported resource type"),
            ("repository(a.b):acme/app:pull", "unsupported resource type"),
            ("repository(a/b):acme/app:pull", "unsupported resource type"),
            ("registry(x):catalog:*", "unsupported resource type"),
            ("registry:users:*", "only `registry:catalog:*`"),
            ("registry:catalog:pull", "must be `registry:catalog:*`"),
        ];
        for (text, message) in cases {
            let err = text.parse::<ResourceScope>().unwrap_err();
            assert!(
                err.to_string().contains(message),
                "{text:?}: got `{err}`, expected `{message}`"
            );
        }
    }

    #[test]
    fn display_round_trips() {
        for text in [
            "repository:acme/app:pull",
            "repository:acme/app:pull,push,delete",
            "repository:acme/app:*",
            "registry:catalog:*",
        ] {
            let scope: ResourceScope = text.parse().unwrap();
            assert_eq!(scope.to_string(), text);
        }
        let scope: ResourceScope = "repository:acme/app:push,pull".parse().unwrap();
        assert_eq!(scope.to_string(), "repository:acme/app:pull,push");
    }

    #[test]
    fn parse_many_params() {
        let scopes = parse_scopes([
            "repository:acme/app:pull",
            "repository:acme/base:pull repository:acme/app:push",
            "  registry:catalog:*  ",
            "",
        ])
        .unwrap();
        assert_eq!(
            scopes,
            vec![
                repo("acme/app", &[Pull, Push]),
                repo("acme/base", &[Pull]),
                ResourceScope::catalog(),
            ]
        );
        assert_eq!(parse_scopes([]).unwrap(), vec![]);
        assert!(parse_scopes(["repository:acme/app:pull nonsense"]).is_err());
    }

    #[test]
    fn access_claim_serialization() {
        let scope = repo("acme/app", &[Push, Pull]);
        let json = serde_json::to_value(&scope).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"type": "repository", "name": "acme/app", "actions": ["pull", "push"]})
        );
        let back: ResourceScope = serde_json::from_value(json).unwrap();
        assert_eq!(back, scope);
        let catalog = serde_json::to_value(ResourceScope::catalog()).unwrap();
        assert_eq!(
            catalog,
            serde_json::json!({"type": "registry", "name": "catalog", "actions": ["*"]})
        );
        assert!(
            serde_json::from_value::<ResourceScope>(
                serde_json::json!({"type": "repository", "name": "a", "actions": ["fly"]})
            )
            .is_err()
        );
    }

    #[test]
    fn allows() {
        assert!(repo("a/b", &[All]).allows(Delete));
        assert!(repo("a/b", &[Pull]).allows(Pull));
        assert!(!repo("a/b", &[Pull]).allows(Push));
        assert!(ResourceScope::catalog().allows(All));
        assert!(!ResourceScope::catalog().allows(Pull));
    }

    #[test]
    fn grants_only_named_actions() {
        // Read from a token's `access` claim: `*` grants nothing, a named action only itself.
        let pull = repo("a/b", &[Pull]);
        assert!(pull.grants(Pull));
        assert!(!pull.grants(Push) && !pull.grants(Delete) && !pull.grants(All));
        let star = repo("a/b", &[All]);
        for action in [Pull, Push, Delete, All] {
            assert!(!star.grants(action), "{action}");
        }
        let mixed = repo("a/b", &[Pull, Push, All]);
        assert!(mixed.grants(Push) && !mixed.grants(Delete) && !mixed.grants(All));
        assert!(!ResourceScope::catalog().grants(All));
    }

    #[test]
    fn names_and_actions_as_text() {
        let name = RepositoryName::parse("acme/app").unwrap();
        assert_eq!(name.as_str(), "acme/app");
        assert_eq!(name.to_string(), "acme/app");
        assert_eq!(AsRef::<str>::as_ref(&name), "acme/app");
        assert_eq!(ResourceScope::repository(&name, [Pull]).repository_name(), Some(name.clone()));
        assert_eq!(ResourceScope::catalog().repository_name(), None);
        assert_eq!(
            [Pull, Push, Delete, All].map(|a| a.to_string()),
            ["pull", "push", "delete", "*"]
        );
    }

    #[test]
    fn long_input_is_cut_at_a_character_boundary() {
        // `é` takes bytes 63 and 64: the message keeps the 63 bytes before it.
        let scope = format!("{}é{}", "x".repeat(63), "y".repeat(20));
        assert_eq!(
            scope.parse::<ResourceScope>(),
            Err(ScopeError::Malformed(format!("{}…", "x".repeat(63))))
        );
        let ascii = "z".repeat(80);
        assert_eq!(
            ascii.parse::<ResourceScope>(),
            Err(ScopeError::Malformed(format!("{}…", "z".repeat(64))))
        );
    }

    #[test]
    fn intersect_table() {
        struct Case {
            name: &'static str,
            requested: Vec<ResourceScope>,
            granted: Vec<ResourceScope>,
            expected: Vec<ResourceScope>,
        }
        let cases = vec![
            Case {
                name: "nothing requested",
                requested: vec![],
                granted: vec![repo("acme/app", &[Pull])],
                expected: vec![],
            },
            Case {
                name: "nothing granted: empty access, not an error",
                requested: vec![repo("acme/app", &[Pull, Push])],
                granted: vec![],
                expected: vec![],
            },
            Case {
                name: "pull asked, pull held",
                requested: vec![repo("acme/app", &[Pull])],
                granted: vec![repo("acme/app", &[Pull])],
                expected: vec![repo("acme/app", &[Pull])],
            },
            Case {
                name: "push asked by a puller is dropped",
                requested: vec![repo("acme/app", &[Pull, Push])],
                granted: vec![repo("acme/app", &[Pull])],
                expected: vec![repo("acme/app", &[Pull])],
            },
            Case {
                name: "only what was asked, not everything held",
                requested: vec![repo("acme/app", &[Pull])],
                granted: vec![repo("acme/app", &[Pull, Push, Delete])],
                expected: vec![repo("acme/app", &[Pull])],
            },
            Case {
                name: "star asked gets every held action, explicitly",
                requested: vec![repo("acme/app", &[All])],
                granted: vec![repo("acme/app", &[Pull, Push])],
                expected: vec![repo("acme/app", &[Pull, Push])],
            },
            Case {
                name: "star held grants what is asked",
                requested: vec![repo("acme/app", &[Push, Delete])],
                granted: vec![repo("acme/app", &[All])],
                expected: vec![repo("acme/app", &[Push, Delete])],
            },
            Case {
                name: "star asked and held",
                requested: vec![repo("acme/app", &[All])],
                granted: vec![repo("acme/app", &[All])],
                expected: vec![repo("acme/app", &[Pull, Push, Delete])],
            },
            Case {
                name: "other repository grants nothing",
                requested: vec![repo("acme/app", &[Pull])],
                granted: vec![repo("acme/other", &[Pull]), repo("evil/app", &[Pull])],
                expected: vec![],
            },
            Case {
                name: "mixed: kept resources keep request order",
                requested: vec![
                    repo("acme/b", &[Pull]),
                    repo("acme/denied", &[Pull]),
                    repo("acme/a", &[Pull, Push]),
                ],
                granted: vec![repo("acme/a", &[Pull]), repo("acme/b", &[Pull, Push])],
                expected: vec![repo("acme/b", &[Pull]), repo("acme/a", &[Pull])],
            },
            Case {
                name: "duplicate requests merge, duplicate grants unite",
                requested: vec![repo("acme/app", &[Pull]), repo("acme/app", &[Push])],
                granted: vec![repo("acme/app", &[Pull]), repo("acme/app", &[Push])],
                expected: vec![repo("acme/app", &[Pull, Push])],
            },
            Case {
                name: "catalog granted",
                requested: vec![ResourceScope::catalog()],
                granted: vec![ResourceScope::catalog()],
                expected: vec![ResourceScope::catalog()],
            },
            Case {
                name: "catalog not granted",
                requested: vec![ResourceScope::catalog()],
                granted: vec![repo("catalog", &[All])],
                expected: vec![],
            },
            Case {
                name: "repository star does not grant the catalog",
                requested: vec![ResourceScope::catalog()],
                granted: vec![repo("acme/app", &[All])],
                expected: vec![],
            },
        ];
        for case in cases {
            assert_eq!(intersect(&case.requested, &case.granted), case.expected, "{}", case.name);
        }
    }

    #[test]
    fn all_held_grants_held_actions_on_requested_resources_only() {
        let requested = vec![
            repo("acme/app", &[Pull]),
            repo("acme/lib", &[Pull]),
            repo("acme/none", &[Pull]),
            ResourceScope::catalog(),
        ];
        let held = |resource: &ResourceScope| match resource.name.as_str() {
            "acme/app" => ActionSet::from([Pull, Push, Delete]),
            "acme/lib" => ActionSet::from([Pull]),
            "catalog" => ActionSet::from([All]),
            _ => ActionSet::new(),
        };
        assert_eq!(
            all_held_with(&requested, held),
            vec![
                repo("acme/app", &[Pull, Push, Delete]),
                repo("acme/lib", &[Pull]),
                ResourceScope::catalog(),
            ]
        );
        assert_eq!(all_held_with(&[], held), vec![]);
    }

    #[test]
    fn intersect_with_calls_once_per_resource() {
        let requested =
            vec![repo("acme/app", &[Pull]), repo("acme/app", &[Push]), repo("acme/lib", &[Pull])];
        let mut calls = Vec::new();
        let access = intersect_with(&requested, |resource| {
            calls.push(resource.name.clone());
            if resource.name == "acme/app" { ActionSet::from([Pull]) } else { ActionSet::new() }
        });
        assert_eq!(access, vec![repo("acme/app", &[Pull])]);
        assert_eq!(calls, vec!["acme/app", "acme/lib"]);
    }
}
