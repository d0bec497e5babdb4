//! `wharf admin …` as operators and their scripts use it: the commands, their output
//! contract (a token, an invitation or a generated password alone on the last line of
//! stdout), one-line failures that change nothing, and running them next to a live
//! `wharf serve` on the embedded default.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use secrecy::SecretString;
use sqlx::PgPool;
use wharf_app::{
    Acceptance, AccountSettings, Accounts, SignupMode, SignupRequest, audit::AuditLog,
};
use wharf_auth::{
    password::PasswordHasher,
    token::{self, TokenKind},
};
use wharf_e2e::{
    Finished, ServeOptions, Wharf, fresh_database, processes_mentioning, run_wharf, scratch_dir,
};

const OWNER_PASSWORD: &str = "correct horse battery staple";

/// Runs `wharf admin ARGS` against `url`.
fn admin(url: &str, args: &[&str]) -> Finished {
    admin_env(url, args, &[])
}

fn admin_env(url: &str, args: &[&str], env: &[(&str, &str)]) -> Finished {
    let mut all = vec!["admin"];
    all.extend_from_slice(args);
    let mut vars = vec![("DATABASE_URL", url)];
    vars.extend_from_slice(env);
    run_wharf(&all, &vars)
}

fn succeeded(out: &Finished) -> &Finished {
    assert!(
        out.status.success(),
        "exit {}:\nstdout:\n{}\nstderr:\n{}",
        out.status,
        out.stdout,
        out.stderr
    );
    out
}

fn last_line(out: &Finished) -> &str {
    out.stdout.lines().last().unwrap_or_default()
}

/// An organization `acme` whose owner is owner@acme.test.
fn create_acme(url: &str) {
    succeeded(&admin(
        url,
        &[
            "create-org",
            "--slug",
            "acme",
            "--name",
            "Acme Inc",
            "--owner-email",
            "owner@acme.test",
            "--owner-password",
            OWNER_PASSWORD,
        ],
    ));
}

async fn password_hash(pool: &PgPool, email: &str) -> String {
    sqlx::query_scalar("select password_hash from users where email = $1")
        .bind(email)
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn verifies(pool: &PgPool, email: &str, password: &str) -> bool {
    let stored = SecretString::from(password_hash(pool, email).await);
    let password = SecretString::from(password.to_owned());
    tokio::task::spawn_blocking(move || {
        PasswordHasher::recommended().unwrap().verify(&password, &stored).unwrap()
    })
    .await
    .unwrap()
}

async fn role_of(pool: &PgPool, org: &str, email: &str) -> Option<String> {
    sqlx::query_scalar(
        "select m.role from organization_members m
         join organizations o on o.id = m.organization_id
         join users u on u.id = m.user_id
         where o.slug = $1 and u.email = $2",
    )
    .bind(org)
    .bind(email)
    .fetch_optional(pool)
    .await
    .unwrap()
}

/// The operator's audit entries, oldest first: action, target name, detail.
async fn audited(pool: &PgPool) -> Vec<(String, Option<String>, serde_json::Value)> {
    sqlx::query_as(
        "select action, target_name, detail from audit_log where actor_kind = 'operator' order by id",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

/// Rows of every table the commands write, and every password hash.
async fn snapshot(pool: &PgPool) -> Vec<String> {
    let mut state = Vec::new();
    for table in [
        "organizations",
        "users",
        "organization_members",
        "access_tokens",
        "invitations",
        "audit_log",
    ] {
        let rows: Vec<String> = sqlx::query_scalar(&format!(
            "select row_to_json(t)::text from {table} t order by row_to_json(t)::text"
        ))
        .fetch_all(pool)
        .await
        .unwrap();
        state.push(format!("{table}: {rows:?}"));
    }
    state
}

#[tokio::test]
async fn create_org_and_users() {
    let url = fresh_database().await;
    create_acme(&url);
    let pool = PgPool::connect(&url).await.unwrap();
    let name: String = sqlx::query_scalar("select name from organizations where slug = 'acme'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(name, "Acme Inc");
    assert_eq!(role_of(&pool, "acme", "owner@acme.test").await.as_deref(), Some("owner"));
    assert!(verifies(&pool, "owner@acme.test", OWNER_PASSWORD).await);

    // A new user with a given password (from the environment here).
    let out = admin_env(
        &url,
        &["create-user", "--org", "acme", "--email", "Dev@Acme.test", "--role", "developer"],
        &[("WHARF_ADMIN_PASSWORD", "developer password")],
    );
    succeeded(&out);
    assert!(!out.stdout.contains("developer password"), "a given password is not echoed");
    assert_eq!(role_of(&pool, "acme", "dev@acme.test").await.as_deref(), Some("developer"));
    assert!(verifies(&pool, "dev@acme.test", "developer password").await);

    // A new user without a password gets a generated one, alone on the last line.
    let out = admin(
        &url,
        &["create-user", "--org", "acme", "--email", "v@acme.test", "--role", "viewer"],
    );
    let generated = last_line(succeeded(&out)).to_owned();
    assert!(generated.len() >= 20 && generated.chars().all(|c| c.is_ascii_alphanumeric()));
    assert!(verifies(&pool, "v@acme.test", &generated).await);
    assert!(!out.stderr.contains(&generated), "the password never reaches the logs");

    // An existing account joins another organization and keeps its password.
    let out = admin(
        &url,
        &["create-org", "--slug", "globex", "--name", "Globex", "--owner-email", "dev@acme.test"],
    );
    assert!(succeeded(&out).stdout.contains("password is unchanged"), "{}", out.stdout);
    assert_eq!(role_of(&pool, "globex", "dev@acme.test").await.as_deref(), Some("owner"));
    let out = admin(
        &url,
        &["create-user", "--org", "globex", "--email", "owner@acme.test", "--role", "admin"],
    );
    assert!(succeeded(&out).stdout.contains("password is unchanged"), "{}", out.stdout);
    assert_eq!(role_of(&pool, "globex", "owner@acme.test").await.as_deref(), Some("admin"));
    assert!(verifies(&pool, "dev@acme.test", "developer password").await);
    assert!(verifies(&pool, "owner@acme.test", OWNER_PASSWORD).await);

    // Every command left an entry: organizations created, members added, with their roles.
    let entries = audited(&pool).await;
    let actions: Vec<(&str, Option<&str>)> =
        entries.iter().map(|(a, name, _)| (a.as_str(), name.as_deref())).collect();
    assert_eq!(
        actions,
        [
            ("organization.create", Some("acme")),
            ("member.add", Some("dev@acme.test")),
            ("member.add", Some("v@acme.test")),
            ("organization.create", Some("globex")),
            ("member.add", Some("owner@acme.test")),
        ]
    );
    assert_eq!(entries[0].2["owner"], "owner@acme.test");
    assert_eq!(entries[1].2["role"], "developer");
    assert_eq!(entries[1].2["account"], "new");
    assert_eq!(entries[3].2["owner_account"], "existing");
    assert_eq!(entries[4].2["role"], "admin");
    assert_eq!(entries[4].2["account"], "existing");
}

#[tokio::test]
async fn create_token_prints_it_once_and_stores_only_its_hash() {
    let url = fresh_database().await;
    create_acme(&url);
    let out = admin(
        &url,
        &[
            "create-token",
            "--org",
            "acme",
            "--email",
            "owner@acme.test",
            "--name",
            "ci",
            "--read-only",
            "--expires-in-days",
            "30",
        ],
    );
    let plaintext = last_line(succeeded(&out)).to_owned();
    assert!(plaintext.starts_with("wharf_vnd_"), "{plaintext}");
    let parsed = token::parse(&plaintext).unwrap();
    assert_eq!(parsed.kind, TokenKind::VendorApi);
    assert_eq!(out.stdout.matches(&plaintext).count(), 1, "printed once:\n{}", out.stdout);
    assert!(!out.stderr.contains(&plaintext[10..]), "the token never reaches the logs");

    let pool = PgPool::connect(&url).await.unwrap();
    let (kind, name, hash, read_only, expires_in_days, display): (
        String,
        String,
        Vec<u8>,
        bool,
        f64,
        String,
    ) = sqlx::query_as(
        "select kind, name, token_hash, read_only,
                    extract(epoch from expires_at - created_at)::float8 / 86400, display_prefix
             from access_tokens",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((kind.as_str(), name.as_str(), read_only), ("vendor", "ci", true));
    assert_eq!(hash, parsed.hash.as_bytes().to_vec(), "stored as its SHA-256");
    assert!((expires_in_days - 30.0).abs() < 0.01, "{expires_in_days}");
    assert!(plaintext.starts_with(&display));

    // Neither the token nor its secret part appears in any column.
    let secret_part = &plaintext[display.len()..];
    let rows: Vec<String> = sqlx::query_scalar("select row_to_json(t)::text from access_tokens t")
        .fetch_all(&pool)
        .await
        .unwrap();
    for row in &rows {
        assert!(!row.contains(&plaintext) && !row.contains(secret_part), "{row}");
    }
    let anywhere: i64 = sqlx::query_scalar(
        "select count(*) from access_tokens t where row_to_json(t)::text like '%' || $1 || '%'",
    )
    .bind(secret_part)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(anywhere, 0);

    // A second token with the same name (a rotation), without expiry, for another member.
    succeeded(&admin(
        &url,
        &["create-user", "--org", "acme", "--email", "dev@acme.test", "--role", "developer"],
    ));
    let out =
        admin(&url, &["create-token", "--org", "acme", "--email", "dev@acme.test", "--name", "ci"]);
    let second = last_line(succeeded(&out)).to_owned();
    assert_ne!(second, plaintext);
    let count: i64 = sqlx::query_scalar(
        "select count(*) from access_tokens where expires_at is null and not read_only",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(count, 1);
}

#[tokio::test]
async fn reset_password_sets_a_given_or_generated_password() {
    let url = fresh_database().await;
    create_acme(&url);
    let pool = PgPool::connect(&url).await.unwrap();

    let out = admin(&url, &["reset-password", "--email", "OWNER@acme.test"]);
    let generated = last_line(succeeded(&out)).to_owned();
    assert!(generated.len() >= 20);
    assert!(verifies(&pool, "owner@acme.test", &generated).await);
    assert!(!verifies(&pool, "owner@acme.test", OWNER_PASSWORD).await);

    let out = admin(
        &url,
        &["reset-password", "--email", "owner@acme.test", "--password", "a brand new password"],
    );
    assert!(!succeeded(&out).stdout.contains("a brand new password"));
    assert!(verifies(&pool, "owner@acme.test", "a brand new password").await);
}

#[tokio::test]
async fn bad_input_fails_with_one_line_and_changes_nothing() {
    let url = fresh_database().await;
    create_acme(&url);
    succeeded(&admin(
        &url,
        &[
            "create-org",
            "--slug",
            "globex",
            "--name",
            "Globex",
            "--owner-email",
            "boss@globex.test",
        ],
    ));
    let pool = PgPool::connect(&url).await.unwrap();
    let before = snapshot(&pool).await;

    let pw = "a long enough password";
    let long_slug = "a".repeat(64);
    let cases: Vec<(Vec<&str>, &str)> = vec![
        // create-org
        (
            vec![
                "create-org",
                "--slug",
                "acme",
                "--name",
                "X",
                "--owner-email",
                "new@x.test",
                "--owner-password",
                pw,
            ],
            "already exists",
        ),
        (
            vec!["create-org", "--slug", "Acme", "--name", "X", "--owner-email", "new@x.test"],
            "invalid slug",
        ),
        (
            vec!["create-org", "--slug", "acme/app", "--name", "X", "--owner-email", "new@x.test"],
            "invalid slug",
        ),
        (
            vec!["create-org", "--slug=-acme", "--name", "X", "--owner-email", "new@x.test"],
            "invalid slug",
        ),
        (
            vec!["create-org", "--slug", "a___b", "--name", "X", "--owner-email", "new@x.test"],
            "invalid slug",
        ),
        (
            vec!["create-org", "--slug", &long_slug, "--name", "X", "--owner-email", "new@x.test"],
            "invalid slug",
        ),
        (
            vec![
                "create-org",
                "--slug",
                "initech",
                "--name",
                "X",
                "--owner-email",
                "new@x.test",
                "--owner-password",
                "short",
            ],
            "password",
        ),
        (
            vec!["create-org", "--slug", "initech", "--name", "X", "--owner-email", "not-an-email"],
            "invalid email",
        ),
        // create-user
        (
            vec![
                "create-user",
                "--org",
                "nope",
                "--email",
                "new@x.test",
                "--role",
                "viewer",
                "--password",
                pw,
            ],
            "no organization",
        ),
        (
            vec![
                "create-user",
                "--org",
                "acme",
                "--email",
                "new@x.test",
                "--role",
                "viewer",
                "--password",
                "short",
            ],
            "password",
        ),
        (
            vec![
                "create-user",
                "--org",
                "acme",
                "--email",
                "new@x.test",
                "--role",
                "superuser",
                "--password",
                pw,
            ],
            "--role",
        ),
        (
            vec!["create-user", "--org", "acme", "--email", "owner@acme.test", "--role", "viewer"],
            "already a member",
        ),
        // create-token
        (
            vec!["create-token", "--org", "nope", "--email", "owner@acme.test", "--name", "ci"],
            "no organization",
        ),
        (
            vec!["create-token", "--org", "acme", "--email", "ghost@acme.test", "--name", "ci"],
            "no user",
        ),
        (
            vec!["create-token", "--org", "acme", "--email", "boss@globex.test", "--name", "ci"],
            "not a member of acme",
        ),
        (
            vec![
                "create-token",
                "--org",
                "acme",
                "--email",
                "owner@acme.test",
                "--name",
                "ci",
                "--expires-in-days",
                "0",
            ],
            "--expires-in-days",
        ),
        (
            vec![
                "create-token",
                "--org",
                "acme",
                "--email",
                "owner@acme.test",
                "--name",
                "ci",
                "--expires-in-days=-5",
            ],
            "-5",
        ),
        (
            vec!["create-token", "--org", "acme", "--email", "owner@acme.test", "--name", ""],
            "token name",
        ),
        // reset-password
        (vec!["reset-password", "--email", "ghost@acme.test"], "no user"),
        (vec!["reset-password", "--email", "owner@acme.test", "--password", "short"], "password"),
        // invite-member, invite-customer-user, invite-signup
        (
            vec!["invite-member", "--org", "nope", "--email", "new@x.test", "--role", "viewer"],
            "no organization",
        ),
        (
            vec!["invite-member", "--org", "acme", "--email", "Owner@acme.test", "--role", "admin"],
            "owner@acme.test is already a member of acme",
        ),
        (
            vec!["invite-member", "--org", "acme", "--email", "not-an-email", "--role", "admin"],
            "invalid email",
        ),
        (
            vec!["invite-member", "--org", "acme", "--email", "new@x.test", "--role", "member"],
            "--role",
        ),
        (
            vec![
                "invite-customer-user",
                "--org",
                "acme",
                "--customer",
                "Nobody Inc",
                "--email",
                "new@x.test",
                "--role",
                "member",
            ],
            "no customer named",
        ),
        (vec!["invite-signup", "--email", "not-an-email"], "invalid email"),
        (vec!["invite-signup", "--expires-in-days", "0"], "--expires-in-days"),
    ];
    for (args, expect) in &cases {
        let out = admin(&url, args);
        assert!(!out.status.success(), "{args:?} must fail:\n{}", out.stdout);
        let lines: Vec<&str> = out.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one line on stderr for {args:?}, got:\n{}", out.stderr);
        assert!(lines[0].starts_with("wharf: "), "{}", lines[0]);
        assert!(lines[0].contains(expect), "{args:?}: {:?} should mention {expect:?}", lines[0]);
        assert!(!out.stderr.contains(pw), "no password in errors");
        assert_eq!(snapshot(&pool).await, before, "{args:?} changed the database");
    }
    // A weak password given in the environment is refused the same way.
    let out = admin_env(
        &url,
        &["reset-password", "--email", "owner@acme.test"],
        &[("WHARF_ADMIN_PASSWORD", "short")],
    );
    assert!(!out.status.success());
    assert_eq!(snapshot(&pool).await, before);
}

#[tokio::test]
async fn invitations_are_printed_once_and_can_be_accepted() {
    let url = fresh_database().await;
    create_acme(&url);
    let pool = PgPool::connect(&url).await.unwrap();
    let (audit, _writer) = AuditLog::start(pool.clone(), Default::default());
    let accounts = Accounts::new(pool.clone(), audit.clone(), AccountSettings::default()).unwrap();

    // A member invitation: the token alone on the last line, only its SHA-256 stored.
    let out = admin(
        &url,
        &["invite-member", "--org", "acme", "--email", "Dev@Acme.test", "--role", "developer"],
    );
    let plaintext = last_line(succeeded(&out)).to_owned();
    assert!(plaintext.starts_with("wharf_inv_"), "{plaintext}");
    // The link to accept comes on a line of its own before the token (twice in all).
    assert_eq!(out.stdout.matches(&plaintext).count(), 2, "link and token:\n{}", out.stdout);
    assert!(
        out.stdout
            .contains(&format!("link to accept: http://127.0.0.1:8080/invitation/{plaintext}\n")),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("invited dev@acme.test to acme as developer"), "{}", out.stdout);
    assert!(!out.stderr.contains(&plaintext[10..]), "the token never reaches the logs");
    let (hash, days): (Vec<u8>, f64) = sqlx::query_as(
        "select token_hash, extract(epoch from expires_at - created_at)::float8 / 86400
         from invitations where email = 'dev@acme.test'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(hash, token::hash(&plaintext).as_bytes());
    assert!((days - 7.0).abs() < 0.01, "{days}");

    let token = SecretString::from(plaintext);
    let password = SecretString::from("a developer password".to_owned());
    accounts
        .accept_invitation(
            &token,
            Acceptance::NewAccount { name: None, password: password.clone() },
        )
        .await
        .unwrap();
    assert_eq!(role_of(&pool, "acme", "dev@acme.test").await.as_deref(), Some("developer"));
    assert!(verifies(&pool, "dev@acme.test", "a developer password").await);
    let again =
        accounts.accept_invitation(&token, Acceptance::NewAccount { name: None, password }).await;
    assert!(again.is_err(), "single use");

    // A customer invitation, by the customer's name.
    let acme: uuid::Uuid = sqlx::query_scalar("select id from organizations where slug = 'acme'")
        .fetch_one(&pool)
        .await
        .unwrap();
    let initech = wharf_db::customers::create(&pool, acme, "Initech").await.unwrap();
    let out = admin(
        &url,
        &[
            "invite-customer-user",
            "--org",
            "acme",
            "--customer",
            "Initech",
            "--email",
            "it@initech.test",
            "--role",
            "admin",
            "--expires-in-days",
            "2",
        ],
    );
    let token = SecretString::from(last_line(succeeded(&out)).to_owned());
    let preview = accounts.preview_invitation(&token).await.unwrap();
    assert_eq!(preview.customer_name.as_deref(), Some("Initech"));
    assert_eq!(preview.role.as_deref(), Some("admin"));
    let left = preview.expires_at - time::OffsetDateTime::now_utc();
    assert!(left > time::Duration::hours(47) && left <= time::Duration::days(2), "{left}");
    let password = SecretString::from("a customer password".to_owned());
    let joined = accounts
        .accept_invitation(&token, Acceptance::NewAccount { name: None, password })
        .await
        .unwrap();
    assert_eq!(joined.customer_id, Some(initech.id));

    // A sign-up invitation for one address, used on an instance in `invite` mode.
    let out = admin(
        &url,
        &[
            "invite-signup",
            "--email",
            "founder@newco.test",
            "--public-url",
            "https://wharf.example.com/",
        ],
    );
    let plaintext = last_line(succeeded(&out)).to_owned();
    assert!(
        out.stdout
            .contains(&format!("link to accept: https://wharf.example.com/sign-up/{plaintext}\n")),
        "the sign-up page on the given public URL:\n{}",
        out.stdout
    );
    let token = SecretString::from(plaintext);
    let invite_only = Accounts::new(
        pool.clone(),
        audit,
        AccountSettings { signup: SignupMode::Invite, ..AccountSettings::default() },
    )
    .unwrap();
    let request = SignupRequest {
        org_slug: "newco".to_owned(),
        org_name: "New Co".to_owned(),
        email: "founder@newco.test".to_owned(),
        password: SecretString::from("a founder password".to_owned()),
        invitation: Some(token),
    };
    let localhost = std::net::IpAddr::from([127, 0, 0, 1]);
    invite_only.sign_up(request, localhost).await.unwrap();
    assert_eq!(role_of(&pool, "newco", "founder@newco.test").await.as_deref(), Some("owner"));

    // Each invitation issued is audited (never its token).
    let invitations: Vec<_> =
        audited(&pool).await.into_iter().filter(|(a, ..)| a == "invitation.create").collect();
    let seen: Vec<(Option<&str>, &str, &serde_json::Value)> = invitations
        .iter()
        .map(|(_, email, detail)| {
            (email.as_deref(), detail["kind"].as_str().unwrap(), &detail["role"])
        })
        .collect();
    assert_eq!(
        seen,
        [
            (Some("dev@acme.test"), "member", &serde_json::json!("developer")),
            (Some("it@initech.test"), "customer", &serde_json::json!("admin")),
            (Some("founder@newco.test"), "signup", &serde_json::Value::Null),
        ]
    );
    assert_eq!(invitations[1].2["customer_id"], serde_json::json!(initech.id));
    let all: Vec<String> = sqlx::query_scalar("select row_to_json(a)::text from audit_log a")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert!(all.iter().all(|row| !row.contains("wharf_inv_")), "no token in the log: {all:?}");

    // So is what the invited people did: two invitations accepted, an organization signed up.
    let by_users: Vec<(String, Option<String>, Option<String>, serde_json::Value)> =
        sqlx::query_as(
            "select action, actor_name, target_name, detail from audit_log
             where actor_kind = 'user' order by id",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
    let seen: Vec<(&str, Option<&str>, Option<&str>)> = by_users
        .iter()
        .map(|(action, actor, target, _)| (action.as_str(), actor.as_deref(), target.as_deref()))
        .collect();
    assert_eq!(
        seen,
        [
            ("invitation.accept", Some("dev@acme.test"), Some("dev@acme.test")),
            ("invitation.accept", Some("it@initech.test"), Some("it@initech.test")),
            ("organization.create", Some("founder@newco.test"), Some("newco")),
        ]
    );
    assert_eq!(by_users[0].3["account"], "new");
    assert_eq!(by_users[1].3["kind"], "customer");
    assert_eq!(by_users[2].3["invited"], true);
}

#[tokio::test]
async fn works_beside_a_running_server_on_the_embedded_default() {
    let scratch = scratch_dir();
    let data = scratch.path().join("data");
    let data_dir = data.to_string_lossy().into_owned();
    let mut wharf = Wharf::start(&data, &ServeOptions::default()).await;
    let readyz = |url: String| async move {
        reqwest::get(format!("{url}/readyz")).await.unwrap().status().as_u16()
    };
    assert_eq!(readyz(wharf.url.clone()).await, 200);

    let env = [("WHARF_DATA_DIR", data_dir.as_str())];
    let run = |args: &[&str]| {
        let mut all = vec!["admin"];
        all.extend_from_slice(args);
        run_wharf(&all, &env)
    };
    succeeded(&run(&[
        "create-org",
        "--slug",
        "acme",
        "--name",
        "Acme Inc",
        "--owner-email",
        "owner@acme.test",
        "--owner-password",
        OWNER_PASSWORD,
    ]));
    // The command left; the server's database is still there.
    assert_eq!(readyz(wharf.url.clone()).await, 200);
    let out = run(&["create-token", "--org", "acme", "--email", "owner@acme.test", "--name", "ci"]);
    assert!(token::parse(last_line(succeeded(&out))).is_ok());
    assert_eq!(readyz(wharf.url.clone()).await, 200);
    assert!(
        run(&["create-token", "--org", "nope", "--email", "x@y.z", "--name", "ci"]).status.code()
            == Some(1)
    );
    assert_eq!(readyz(wharf.url.clone()).await, 200, "a failing command leaves it too");

    // The server, the last user of the cluster, stops it.
    assert!(wharf.stop().success(), "{}", wharf.stderr());
    assert!(processes_mentioning(&data).is_empty(), "{:?}", processes_mentioning(&data));

    // Alone, a command starts the cluster and stops it again; the data is kept.
    let out =
        run(&["create-user", "--org", "acme", "--email", "dev@acme.test", "--role", "developer"]);
    succeeded(&out);
    assert!(processes_mentioning(&data).is_empty(), "{:?}", processes_mentioning(&data));
    wharf.restart(&ServeOptions::default()).await;
    assert_eq!(readyz(wharf.url.clone()).await, 200);
    assert!(wharf.stop().success());
    assert!(processes_mentioning(&data).is_empty());
}
