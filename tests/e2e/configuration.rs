//! docs/configuration.md and .env.example stay true to `wharf --help`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use wharf_e2e::run_wharf;

/// Environment variables named in `[env: NAME...]` by the help of every command.
fn variables_in_help() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let commands: [&[&str]; 13] = [
        &["serve"],
        &["migrate"],
        &["gc"],
        &["embedded-postgres"],
        &["admin", "create-org"],
        &["admin", "create-user"],
        &["admin", "create-token"],
        &["admin", "reset-password"],
        &["admin", "invite-member"],
        &["admin", "invite-customer-user"],
        &["admin", "invite-signup"],
        &["admin", "set-visibility"],
        &["signing-key", "rotate"],
    ];
    for command in commands {
        let out = run_wharf(&[command, &["--help"]].concat(), &[]);
        assert!(out.status.success(), "{}", out.stderr);
        for piece in out.stdout.split("[env: ").skip(1) {
            let name: String = piece
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            names.insert(name);
        }
    }
    assert!(names.len() > 5, "help lists variables: {names:?}");
    names
}

/// Names that look like ours (`WHARF_*`, `DATABASE_URL`) in a text.
fn variables_in(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (i, _) in text.match_indices("WHARF_").chain(text.match_indices("DATABASE_URL")) {
        let name: String = text[i..]
            .chars()
            .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        names.insert(name);
    }
    names
}

fn repo_file(path: &str) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    std::fs::read_to_string(root.join(path)).unwrap()
}

#[test]
fn configuration_doc_lists_exactly_the_variables_of_the_cli() {
    let help = variables_in_help();
    let documented = variables_in(&repo_file("docs/configuration.md"));
    let missing: Vec<_> = help.difference(&documented).collect();
    let stale: Vec<_> = documented.difference(&help).collect();
    assert!(missing.is_empty(), "undocumented in docs/configuration.md: {missing:?}");
    assert!(stale.is_empty(), "docs/configuration.md names variables the CLI lacks: {stale:?}");
}

#[test]
fn env_example_lists_exactly_the_variables_of_the_cli() {
    let help = variables_in_help();
    let example = variables_in(&repo_file(".env.example"));
    assert_eq!(help, example, ".env.example and the CLI disagree");
}
