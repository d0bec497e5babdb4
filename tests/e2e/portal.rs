//! The pages' foundation, in process (`TestApp`): sessions, sign-in and sign-out, the
//! cross-site checks and headers, redirects, password change and reset, invitations,
//! sign-up, error pages, and escaping. The same flows run in a real browser against a real
//! `wharf serve` in `browser.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::http::StatusCode;
use secrecy::{ExposeSecret as _, SecretString};
use wharf_app::accounts::{Inviter, SignupMode};
use wharf_auth::principal::Role;
use wharf_e2e::house::{PASSWORD, PUBLIC_URL, TestApp};

/// A house with organization `slug` whose owner (`owner@<slug>.test`) signs in with
/// [`PASSWORD`].
async fn house_with_owner(flags: &[&str], slug: &str) -> (TestApp, wharf_db::testing::OrgFixture) {
    TestApp::with_owner(flags, slug).await
}

fn session_cookie(house: &TestApp) -> Option<String> {
    house.cookies().get("wharf_session").cloned()
}

#[tokio::test]
async fn the_start_page_sends_everyone_to_sign_in_and_owners_to_their_organization() {
    let (house, org) = house_with_owner(&[], "acme").await;
    let start = house.page("/").await;
    assert_eq!(start.status, StatusCode::SEE_OTHER);
    assert_eq!(start.location(), Some("/sign-in"));
    let form = house.page("/sign-in").await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.text().contains("<h1>Sign in</h1>"));

    let signed_in = house.sign_in(&org.owner_email, PASSWORD).await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER, "{}", signed_in.text());
    assert_eq!(signed_in.location(), Some("/"));
    let start = house.page("/").await;
    assert_eq!(start.location(), Some("/vendor/acme"));
    let home = house.page("/vendor/acme").await;
    assert_eq!(home.status, StatusCode::OK);
    let html = home.text();
    assert!(html.contains("docker push wharf.test/acme/my-app:1.0"), "{html}");
    assert!(html.contains("acme · owner"), "where they are and as whom");
}

#[tokio::test]
async fn headers_and_cookies_are_strict_on_every_page() {
    let (house, org) = house_with_owner(&[], "acme").await;
    for path in ["/sign-in", "/forgot-password", "/sign-up", "/no-such-page"] {
        let page = house.page(path).await;
        let csp = page.header("content-security-policy").unwrap_or_default();
        for directive in [
            "default-src 'self'",
            "frame-ancestors 'none'",
            "form-action 'self'",
            "base-uri 'none'",
            "object-src 'none'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{csp}");
        assert_eq!(page.header("x-content-type-options"), Some("nosniff"), "{path}");
        assert_eq!(page.header("referrer-policy"), Some("same-origin"), "{path}");
        assert_eq!(page.header("cache-control"), Some("no-store"), "{path}");
        assert_eq!(page.header("strict-transport-security"), None, "http: no HSTS");
    }
    let answer = house.sign_in(&org.owner_email, PASSWORD).await;
    let cookie = answer.header("set-cookie").expect("a session cookie");
    assert!(cookie.starts_with("wharf_session="), "{cookie}");
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "http: no Secure");

    // On https: the __Host- prefix, Secure, and HSTS.
    let secure = TestApp::start_with(&["--public-url", "https://wharf.example.com"]).await;
    let page = secure.page("/sign-in").await;
    assert!(page.header("strict-transport-security").is_some_and(|h| h.contains("max-age=")));
    let csrf_cookie = page.header("set-cookie").unwrap_or_default();
    assert!(
        csrf_cookie.starts_with("__Host-wharf_csrf=") && csrf_cookie.contains("Secure"),
        "{csrf_cookie}"
    );
}

#[tokio::test]
async fn static_files_have_hashed_names_and_long_lifetimes() {
    let house = TestApp::start().await;
    let html = house.page("/sign-in").await.text();
    let start = html.find("/static/pico.").expect("the stylesheet");
    let url: String = html[start..].chars().take_while(|c| *c != '"').collect();
    let file = house.page(&url).await;
    assert_eq!(file.status, StatusCode::OK);
    assert_eq!(file.header("cache-control"), Some("public, max-age=31536000, immutable"));
    assert!(file.header("content-type").unwrap_or_default().starts_with("text/css"));
    assert_eq!(house.page("/static/pico.000000000000.css").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn sign_in_gives_a_new_session_id_and_sign_out_ends_it_on_the_server() {
    let (house, org) = house_with_owner(&[], "acme").await;
    house.sign_in(&org.owner_email, PASSWORD).await;
    let first = session_cookie(&house).expect("signed in");
    // Signing in again, even as the same person, never keeps the id.
    let csrf = TestApp::csrf_in(&house.page("/account").await);
    let fields = [("csrf", csrf.as_str()), ("email", &org.owner_email), ("password", PASSWORD)];
    assert_eq!(house.post_form("/sign-in", &fields).await.status, StatusCode::SEE_OTHER);
    let second = session_cookie(&house).expect("signed in");
    assert_ne!(first, second);
    // A planted id is never adopted.
    let mut planted = house.cookies();
    planted.insert("wharf_session".into(), "AAAAAAAAAAAAAAAAAAAAAA".into());
    planted.remove("wharf_csrf");
    house.use_cookies(planted);
    house.sign_in(&org.owner_email, PASSWORD).await;
    assert_ne!(session_cookie(&house).as_deref(), Some("AAAAAAAAAAAAAAAAAAAAAA"));

    let account = house.page("/account").await;
    assert_eq!(account.status, StatusCode::OK);
    let csrf = TestApp::csrf_in(&account);
    let kept = house.cookies();
    let out = house.post_form("/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.location(), Some("/sign-in?notice=signed-out"));
    // The old cookie, replayed, no longer signs anyone in.
    house.use_cookies(kept);
    let again = house.page("/account").await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    assert_eq!(again.location(), Some("/sign-in?next=%2Faccount"));
}

#[tokio::test]
async fn cross_site_writes_are_refused_and_change_nothing() {
    let (house, org) = house_with_owner(&[], "acme").await;
    let form = house.page("/sign-in").await;
    let csrf = TestApp::csrf_in(&form);
    let fields =
        [("csrf", csrf.as_str()), ("email", org.owner_email.as_str()), ("password", PASSWORD)];
    for (site, origin) in [
        (Some("cross-site"), None),
        (Some("same-site"), Some("http://sub.wharf.test")),
        (None, Some("http://evil.test")),
    ] {
        let answer = house.post_form_from("/sign-in", &fields, site, origin).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{site:?} {origin:?}");
        assert!(answer.text().contains("This form has expired"));
        assert!(session_cookie(&house).is_none(), "nobody was signed in");
    }
    // Same origin but a wrong or missing token: refused too.
    let wrong = [
        ("csrf", "x".repeat(43)),
        ("email", org.owner_email.clone()),
        ("password", PASSWORD.into()),
    ];
    let wrong: Vec<(&str, &str)> = wrong.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(house.post_form("/sign-in", &wrong).await.status, StatusCode::FORBIDDEN);
    assert_eq!(house.post_form("/sign-in", &wrong[1..]).await.status, StatusCode::FORBIDDEN);
    assert!(session_cookie(&house).is_none());

    // Signed in: a cross-site password change leaves the password as it was.
    house.sign_in(&org.owner_email, PASSWORD).await;
    let csrf = TestApp::csrf_in(&house.page("/account").await);
    let change = [
        ("csrf", csrf.as_str()),
        ("current_password", PASSWORD),
        ("password", "a brand new password"),
        ("password_confirm", "a brand new password"),
    ];
    let answer = house.post_form_from("/account/password", &change, Some("cross-site"), None).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    house.use_cookies(Default::default());
    let still = house.sign_in(&org.owner_email, PASSWORD).await;
    assert_eq!(still.status, StatusCode::SEE_OTHER, "the old password still works");
}

#[tokio::test]
async fn next_is_followed_only_within_the_site() {
    let (house, org) = house_with_owner(&[], "acme").await;
    for (next, expected) in [
        ("/account", "/account"),
        ("//evil.test", "/"),
        ("https://evil.test", "/"),
        ("/\\evil.test", "/"),
        ("javascript:alert(1)", "/"),
    ] {
        house.use_cookies(Default::default());
        let form = house.page(&format!("/sign-in?next={}", urlencode(next))).await;
        let csrf = TestApp::csrf_in(&form);
        let answer = house
            .post_form(
                "/sign-in",
                &[
                    ("csrf", &csrf),
                    ("email", &org.owner_email),
                    ("password", PASSWORD),
                    ("next", next),
                ],
            )
            .await;
        assert_eq!(answer.location(), Some(expected), "{next}");
    }
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test]
async fn wrong_passwords_and_unknown_emails_get_one_answer_then_a_wait() {
    let (house, org) = house_with_owner(&["--auth-failure-limit", "3"], "acme").await;
    let mut bodies = Vec::new();
    for email in [org.owner_email.as_str(), "nobody@nowhere.test"] {
        let csrf = TestApp::csrf_in(&house.page("/sign-in").await);
        let answer = house
            .post_form(
                "/sign-in",
                &[("csrf", &csrf), ("email", email), ("password", "wrong password!")],
            )
            .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        let text = answer.text().replace(email, "EMAIL");
        assert!(text.contains("Wrong email or password."));
        assert!(!text.contains("wrong password!"), "the password is never shown again");
        bodies.push(text);
    }
    assert_eq!(bodies[0], bodies[1], "the same page for both");
    let csrf = TestApp::csrf_in(&house.page("/sign-in").await);
    let fields = [
        ("csrf", csrf.as_str()),
        ("email", org.owner_email.as_str()),
        ("password", "wrong again!!"),
    ];
    house.post_form("/sign-in", &fields).await;
    let throttled = house.post_form("/sign-in", &fields).await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(throttled.header("retry-after").is_some());
    assert!(throttled.text().contains("Too many failed sign-ins. Wait"));
}

#[tokio::test]
async fn changing_the_password_ends_the_other_sessions_and_cycles_this_one() {
    let (house, org) = house_with_owner(&[], "acme").await;
    house.sign_in(&org.owner_email, PASSWORD).await;
    let laptop = house.use_cookies(Default::default());
    house.sign_in(&org.owner_email, PASSWORD).await;
    let phone = house.use_cookies(laptop.clone());

    let account = house.page("/account").await;
    assert!(account.text().contains("End all other sessions"), "two sessions are listed");
    let csrf = TestApp::csrf_in(&account);
    let mismatch = house
        .post_form(
            "/account/password",
            &[
                ("csrf", &csrf),
                ("current_password", "not it at all"),
                ("password", "a brand new password"),
                ("password_confirm", "a brand new password"),
            ],
        )
        .await;
    assert_eq!(mismatch.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(mismatch.text().contains("this is not your current password"));
    let changed = house
        .post_form(
            "/account/password",
            &[
                ("csrf", &csrf),
                ("current_password", PASSWORD),
                ("password", "a brand new password"),
                ("password_confirm", "a brand new password"),
            ],
        )
        .await;
    assert_eq!(changed.status, StatusCode::SEE_OTHER, "{}", changed.text());
    assert_ne!(house.cookies().get("wharf_session"), laptop.get("wharf_session"), "a new id");
    let after = house.page("/account").await;
    assert_eq!(after.status, StatusCode::OK, "this browser stays signed in");
    assert!(after.text().contains("Your other sessions have ended"));
    assert!(after.text().contains("You are signed in only here."));
    house.use_cookies(phone);
    assert_eq!(house.page("/account").await.status, StatusCode::SEE_OTHER, "the phone is out");
}

#[tokio::test]
async fn removed_members_and_deleted_accounts_lose_access_at_the_next_request() {
    let (house, org) = house_with_owner(&[], "acme").await;
    house.sign_in(&org.owner_email, PASSWORD).await;
    assert_eq!(house.page("/vendor/acme").await.status, StatusCode::OK);
    assert_eq!(house.page("/vendor/other").await.status, StatusCode::NOT_FOUND, "not a member");
    sqlx::query("delete from organization_members where user_id = $1")
        .bind(org.owner)
        .execute(&house.pool)
        .await
        .unwrap();
    let gone = house.page("/vendor/acme").await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert!(gone.text().contains("Page not found"));
    sqlx::query("delete from users where id = $1")
        .bind(org.owner)
        .execute(&house.pool)
        .await
        .unwrap();
    assert_eq!(house.page("/account").await.status, StatusCode::SEE_OTHER, "signed out");
}

#[tokio::test]
async fn names_cannot_inject_markup() {
    let house = TestApp::start().await;
    let hasher = wharf_auth::password::PasswordHasher::recommended().unwrap();
    let hash = hasher.hash(&SecretString::from(PASSWORD.to_owned())).unwrap();
    let org = wharf_db::testing::org_with_password(&house.pool, "acme", hash.expose_secret()).await;
    sqlx::query("update organizations set name = '<script>alert(1)</script>' where id = $1")
        .bind(org.id)
        .execute(&house.pool)
        .await
        .unwrap();
    house.sign_in(&org.owner_email, PASSWORD).await;
    let html = house.page("/vendor/acme").await.text();
    assert!(!html.contains("<script>alert(1)"), "{html}");
    assert!(html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"), "{html}");
}

#[tokio::test]
async fn an_invitation_makes_an_account_and_signs_it_in_once() {
    let (house, org) = house_with_owner(&[], "acme").await;
    let accounts = &house.app.accounts;
    let issued = accounts
        .invite_member(org.id, Inviter::User(org.owner), "New.Dev@Acme.test", Role::Developer)
        .await
        .unwrap();
    let path = format!("/invitation/{}", issued.token.expose_secret());
    let page = house.page(&path).await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    assert!(html.contains("join acme as developer") && html.contains("owner@acme.test"), "{html}");
    let csrf = TestApp::csrf_in(&page);
    let short = house
        .post_form(
            &path,
            &[
                ("csrf", &csrf),
                ("name", "Dev"),
                ("password", "short"),
                ("password_confirm", "short"),
            ],
        )
        .await;
    assert_eq!(short.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(short.text().contains("aria-invalid=\"true\""));
    assert!(short.text().contains("value=\"Dev\""), "the name typed is kept");
    let accepted = house
        .post_form(
            &path,
            &[
                ("csrf", &csrf),
                ("name", "Dev <b>One</b>"),
                ("password", "a developer password"),
                ("password_confirm", "a developer password"),
            ],
        )
        .await;
    assert_eq!(accepted.status, StatusCode::SEE_OTHER, "{}", accepted.text());
    assert_eq!(accepted.location(), Some("/vendor/acme"));
    let home = house.page("/vendor/acme").await.text();
    assert!(home.contains("acme · developer"), "signed in with the offered role");
    assert!(home.contains("Dev &#60;b&#62;One&#60;/b&#62;"), "their name, escaped");

    house.use_cookies(Default::default());
    let used = house.page(&path).await;
    assert_eq!(used.status, StatusCode::NOT_FOUND);
    assert!(used.text().contains("This invitation is not valid"));
    assert_eq!(house.page("/invitation/wharf_inv_nonsense").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn sign_up_follows_the_mode() {
    let closed = TestApp::start().await;
    let page = closed.page("/sign-up").await.text();
    assert!(page.contains("Sign-up is off on this Wharf"), "{page}");
    assert!(!page.contains("name=\"org_slug\""), "no form");

    let invite = TestApp::start_with(&["--signup", "invite"]).await;
    assert!(invite.page("/sign-up").await.text().contains("needs an invitation"));
    let issued = invite.app.accounts.invite_signup(Inviter::Operator, None).await.unwrap();
    let path = format!("/sign-up/{}", issued.token.expose_secret());
    assert!(invite.page(&path).await.text().contains("name=\"org_slug\""));

    let open = TestApp::start_with(&["--signup", "open"]).await;
    assert_eq!(open.app.accounts.settings().signup, SignupMode::Open);
    let form = open.page("/sign-up").await;
    let csrf = TestApp::csrf_in(&form);
    let bad = open
        .post_form(
            "/sign-up",
            &[
                ("csrf", &csrf),
                ("org_name", "New Co"),
                ("org_slug", "New Co"),
                ("email", "founder@newco.test"),
                ("password", "a founder password"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let html = bad.text();
    assert!(html.contains("id=\"org_slug-error\""), "the error sits at its field: {html}");
    assert!(html.contains("value=\"New Co\"") && html.contains("value=\"founder@newco.test\""));
    assert!(!html.contains("a founder password"), "never the password");
    let created = open
        .post_form(
            "/sign-up",
            &[
                ("csrf", &csrf),
                ("org_name", "New Co"),
                ("org_slug", "newco"),
                ("email", "founder@newco.test"),
                ("password", "a founder password"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.text());
    assert_eq!(created.location(), Some("/vendor/newco"));
    assert!(open.page("/vendor/newco").await.text().contains("Welcome to Wharf! New Co is ready."));
}

#[tokio::test]
async fn a_reset_link_works_once_and_ends_every_session() {
    let (house, org) = house_with_owner(&[], "acme").await;
    house.sign_in(&org.owner_email, PASSWORD).await;
    let elsewhere = house.use_cookies(Default::default());
    let link = house
        .app
        .accounts
        .request_password_reset(&org.owner_email, [192, 0, 2, 1].into())
        .await
        .unwrap()
        .expect("the account exists");
    let path = format!("/reset-password/{}", link.token.expose_secret());
    let page = house.page(&path).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text().contains("owner@acme.test"));
    let csrf = TestApp::csrf_in(&page);
    let done = house
        .post_form(
            &path,
            &[
                ("csrf", &csrf),
                ("password", "a reset password!"),
                ("password_confirm", "a reset password!"),
            ],
        )
        .await;
    assert_eq!(done.location(), Some("/sign-in?notice=password-reset"));
    assert!(
        house.page("/sign-in?notice=password-reset").await.text().contains("every session ended")
    );
    assert_eq!(house.page(&path).await.status, StatusCode::NOT_FOUND, "single use");
    assert_eq!(
        house.sign_in(&org.owner_email, "a reset password!").await.status,
        StatusCode::SEE_OTHER
    );
    house.use_cookies(elsewhere);
    assert_eq!(house.page("/account").await.status, StatusCode::SEE_OTHER, "ended by the reset");
}

#[tokio::test]
async fn error_pages_name_the_request_and_nothing_internal() {
    let house = TestApp::start().await;
    let missing = house.page("/no/such/page").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.header("content-type"), Some("text/html; charset=utf-8"));
    let id = missing.header("x-request-id").expect("a request id").to_owned();
    let html = missing.text();
    assert!(html.contains("Page not found") && html.contains(&id), "{html}");
    // The registry and the API keep their own error formats.
    assert!(
        house
            .get("/v2/nope/manifests/x")
            .await
            .header("content-type")
            .unwrap_or_default()
            .contains("json")
    );
    assert!(
        house.get("/api/v1/nope").await.header("content-type").unwrap_or_default().contains("json")
    );
    // Neither the registry's nor the API's routes get a session cookie.
    assert!(house.get("/v2/").await.header("set-cookie").is_none());
    assert!(house.get("/api/v1/openapi.json").await.header("set-cookie").is_none());
    let _ = PUBLIC_URL;
}

#[tokio::test]
async fn what_people_do_to_their_sign_in_is_audited_without_secrets() {
    let (mut house, org) = house_with_owner(&[], "acme").await;
    let csrf = TestApp::csrf_in(&house.page("/sign-in").await);
    house
        .post_form(
            "/sign-in",
            &[("csrf", &csrf), ("email", &org.owner_email), ("password", "wrong password!")],
        )
        .await;
    house.sign_in(&org.owner_email, PASSWORD).await;
    let csrf = TestApp::csrf_in(&house.page("/account").await);
    let change = [
        ("csrf", csrf.as_str()),
        ("current_password", PASSWORD),
        ("password", "a brand new password"),
        ("password_confirm", "a brand new password"),
    ];
    assert_eq!(house.post_form("/account/password", &change).await.status, StatusCode::SEE_OTHER);
    let csrf = TestApp::csrf_in(&house.page("/account").await);
    house.post_form("/account/sessions/end-others", &[("csrf", &csrf)]).await;
    house.post_form("/sign-out", &[("csrf", &csrf)]).await;
    // Signing out again with the ended session's form just lands on the sign-in page.
    let again = house.post_form("/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(again.location(), Some("/sign-in?notice=signed-out"));
    house.flush().await;

    let rows: Vec<(String, String, Option<String>, String)> = sqlx::query_as(
        "select action, outcome, target_name, detail::text from audit_log
          where action like 'user.%' order by at, id",
    )
    .fetch_all(&house.pool)
    .await
    .unwrap();
    let actions: Vec<(&str, &str)> =
        rows.iter().map(|(a, o, ..)| (a.as_str(), o.as_str())).collect();
    assert_eq!(
        actions,
        [
            ("user.sign_in", "failure"),
            ("user.sign_in", "success"),
            ("user.password_change", "success"),
            ("user.sessions_end", "success"),
            ("user.sign_out", "success"),
        ]
    );
    assert!(rows.iter().all(|(_, _, name, _)| name.as_deref() == Some("owner@acme.test")));
    for (_, _, _, detail) in &rows {
        assert!(!detail.contains("password!") && !detail.contains("brand new"), "{detail}");
    }
}

#[tokio::test]
async fn sessions_end_when_idle_or_too_old() {
    let (house, org) =
        house_with_owner(&["--session-idle-minutes", "5", "--session-max-age-hours", "1"], "acme")
            .await;
    house.sign_in(&org.owner_email, PASSWORD).await;
    let cookie = house.cookies().get("wharf_session").cloned().unwrap();
    assert!(
        house
            .page("/sign-in")
            .await
            .header("set-cookie")
            .is_none_or(|c| !c.contains("wharf_session")),
        "a fresh session is not saved again on every request"
    );
    let expires: time::OffsetDateTime =
        sqlx::query_scalar("select expires_at from portal_sessions where user_id = $1")
            .bind(org.owner)
            .fetch_one(&house.pool)
            .await
            .unwrap();
    let idle = expires - time::OffsetDateTime::now_utc();
    assert!(idle > time::Duration::minutes(4) && idle <= time::Duration::minutes(5), "{idle}");

    // Signed in over an hour ago (the absolute limit), though used a moment ago. (A margin
    // of 100 s: Postgres rounds the epoch, Wharf truncates it.)
    sqlx::query(
        "update portal_sessions
            set data = jsonb_set(data, '{auth,signed_in_at}', to_jsonb(extract(epoch from now())::bigint - 3700))
          where user_id = $1",
    )
    .bind(org.owner)
    .execute(&house.pool)
    .await
    .unwrap();
    assert_eq!(house.page("/account").await.status, StatusCode::SEE_OTHER, "too old");
    let left: i64 = sqlx::query_scalar("select count(*) from portal_sessions where user_id = $1")
        .bind(org.owner)
        .fetch_one(&house.pool)
        .await
        .unwrap();
    assert_eq!(left, 0, "ended on the server too");

    // Idle past its expiry.
    house.sign_in(&org.owner_email, PASSWORD).await;
    assert_ne!(house.cookies().get("wharf_session"), Some(&cookie));
    sqlx::query(
        "update portal_sessions set expires_at = now() - interval '1 second' where user_id = $1",
    )
    .bind(org.owner)
    .execute(&house.pool)
    .await
    .unwrap();
    assert_eq!(house.page("/account").await.status, StatusCode::SEE_OTHER, "idle too long");
}
