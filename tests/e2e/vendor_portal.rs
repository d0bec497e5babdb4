//! The vendor portal's sections, in process (`TestApp`): customers, licenses with their
//! preview, artifacts with tag immutability and deletion, the team and vendor tokens; every
//! id checked against the organization, every role refused what it may not do, vendor text
//! escaped, and what the portal says a customer can pull equal to what the registry serves.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::{
    body::Body,
    http::{Request, StatusCode, header},
};
use wharf_db::tokens::TokenOwner;
use wharf_e2e::house::{PASSWORD, TestApp, TestResponse, basic};

/// Signs in as `email` and returns a form token of the page at `path`.
async fn signed_in(house: &TestApp, email: &str, path: &str) -> String {
    let answer = house.sign_in(email, PASSWORD).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.text());
    TestApp::csrf_in(&house.page(path).await)
}

/// POSTs `fields` with the form token `csrf` added.
async fn post(house: &TestApp, path: &str, csrf: &str, fields: &[(&str, &str)]) -> TestResponse {
    let mut all = vec![("csrf", csrf)];
    all.extend_from_slice(fields);
    house.post_form(path, &all).await
}

/// The id in a `/vendor/acme/customers/{id}` redirect.
fn customer_id_in(answer: &TestResponse) -> String {
    let location = answer.location().unwrap_or_else(|| panic!("a redirect: {}", answer.text()));
    location.rsplit('/').next().unwrap().to_owned()
}

/// `GET /v2/{repository}/tags/list` with `authorization`: the tags, or the status.
async fn tags_list(
    house: &TestApp,
    authorization: &str,
    repository: &str,
) -> Result<Vec<String>, StatusCode> {
    let request = Request::get(format!("/v2/{repository}/tags/list"))
        .header(header::AUTHORIZATION, authorization)
        .body(Body::empty())
        .unwrap();
    let answer = house.send(request).await;
    if answer.status != StatusCode::OK {
        return Err(answer.status);
    }
    let tags = answer.json()["tags"].as_array().cloned().unwrap_or_default();
    Ok(tags.into_iter().map(|t| t.as_str().unwrap().to_owned()).collect())
}

#[tokio::test]
async fn customers_are_created_searched_renamed_disabled_and_deleted() {
    let (mut house, org) = TestApp::with_owner(&[], "acme").await;
    let csrf = signed_in(&house, &org.owner_email, "/vendor/acme/customers").await;
    let empty = house.page("/vendor/acme/customers").await;
    assert!(empty.text().contains("No customers yet"), "{}", empty.text());

    let created = post(&house, "/vendor/acme/customers", &csrf, &[("name", "Initech")]).await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.text());
    let id = customer_id_in(&created);
    let page = house.page(&format!("/vendor/acme/customers/{id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    assert!(html.contains("Customer Initech created"), "flash: {html}");
    assert!(html.contains("No license"), "{html}");
    post(&house, "/vendor/acme/customers", &csrf, &[("name", "Globodyne")]).await;

    // A name in use, or an empty one: the form again with the message, nothing created.
    for (name, message) in [("Initech", "already exists"), ("   ", "Must not be empty")] {
        let refused = post(&house, "/vendor/acme/customers", &csrf, &[("name", name)]).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{name:?}");
        let html = refused.text();
        assert!(html.contains(message) && html.contains(r#"aria-invalid="true""#), "{html}");
    }
    let customers = wharf_db::customers::list(&house.pool, org.id, None, 10).await.unwrap();
    assert_eq!(customers.len(), 2);

    // Search is by part of the name, case-insensitive; % and _ are plain characters.
    let found = house.page("/vendor/acme/customers?q=INIT").await.text();
    assert!(found.contains("Initech") && !found.contains("Globodyne"), "{found}");
    let none = house.page("/vendor/acme/customers?q=%25").await.text();
    assert!(none.contains("No customer matches"), "{none}");

    let base = format!("/vendor/acme/customers/{id}");
    let renamed = post(&house, &format!("{base}/rename"), &csrf, &[("name", "Initrode")]).await;
    assert_eq!(renamed.status, StatusCode::SEE_OTHER);
    let taken = post(&house, &format!("{base}/rename"), &csrf, &[("name", "Globodyne")]).await;
    assert_eq!(taken.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(taken.text().contains("already exists"));

    post(&house, &format!("{base}/status"), &csrf, &[("disabled", "true")]).await;
    let customer =
        wharf_db::customers::get(&house.pool, org.id, id.parse().unwrap()).await.unwrap().unwrap();
    assert_eq!((customer.name.as_str(), customer.disabled), ("Initrode", true));
    assert!(house.page("/vendor/acme/customers").await.text().contains("disabled"));

    let confirm = house.page(&format!("{base}/delete")).await;
    assert!(confirm.text().contains("Delete the customer"));
    let deleted = post(&house, &format!("{base}/delete"), &csrf, &[]).await;
    assert_eq!(deleted.location(), Some("/vendor/acme/customers"));
    assert_eq!(house.page(&base).await.status, StatusCode::NOT_FOUND);

    // Every change is in the audit log, as the member who made it.
    house.flush().await;
    let filter =
        wharf_db::audit::AuditFilter { action: Some("customer".into()), ..Default::default() };
    let entries = wharf_db::audit::list(&house.pool, org.id, &filter, None, 50).await.unwrap();
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "customer.delete",
            "customer.update",
            "customer.update",
            "customer.create",
            "customer.create"
        ]
    );
    assert!(entries.iter().all(|e| e.actor_id == Some(org.owner)));
}

#[tokio::test]
async fn a_license_is_previewed_saved_and_matches_what_the_registry_serves() {
    let (house, org) = TestApp::with_owner(&[], "acme").await;
    let owner = TokenOwner::Vendor { user_id: org.owner, read_only: false };
    let (_, push_token) = wharf_e2e::insert_token(&house.pool, org.id, owner).await;
    for tag in ["1.0.0", "1.5.0", "2.0.0", "latest"] {
        house.push_image(&basic(&push_token), "acme/app", tag).await;
    }
    house.push_image(&basic(&push_token), "acme/tools", "0.1.0").await;
    let csrf = signed_in(&house, &org.owner_email, "/vendor/acme/customers").await;
    let id = customer_id_in(
        &post(&house, "/vendor/acme/customers", &csrf, &[("name", "Initech")]).await,
    );
    let new = format!("/vendor/acme/customers/{id}/licenses/new");
    assert_eq!(house.page(&new).await.status, StatusCode::OK);

    let grant = [
        ("name", "Gold"),
        ("starts", "2026-01-01"),
        ("on_expiry", "revoke"),
        ("grant-0-repository", "acme/app"),
        ("grant-0-kind", "semver"),
        ("grant-0-value", ">=1.0.0 <2.0.0"),
        ("grant-1-repository", "acme/nothing-here"),
        ("grant-1-kind", "all"),
    ];
    // The preview without JavaScript: the page again, with what each grant matches.
    let mut previewing = grant.to_vec();
    previewing.push(("intent", "preview"));
    let preview = post(&house, &new, &csrf, &previewing).await;
    assert_eq!(preview.status, StatusCode::OK);
    let html = preview.text();
    assert!(html.contains("2 tags in 1 repository"), "{html}");
    assert!(html.contains("acme/app:1.0.0") && html.contains("acme/app:1.5.0"), "{html}");
    assert!(!html.contains("acme/app:2.0.0"), "{html}");
    assert!(html.contains("Matches no tag today"), "the empty grant is pointed out: {html}");
    // The same with htmx: the preview alone.
    let fragment = post(&house, "/vendor/acme/licenses/preview", &csrf, &grant).await;
    assert_eq!(fragment.status, StatusCode::OK);
    assert!(
        fragment.text().contains("2 tags in 1 repository") && !fragment.text().contains("<html")
    );
    // "Add a grant" shows one more empty block.
    let mut adding = grant.to_vec();
    adding.push(("intent", "add"));
    assert!(post(&house, &new, &csrf, &adding).await.text().contains("grant-2-repository"));
    assert!(
        wharf_db::licenses::list_for_customer(&house.pool, org.id, id.parse().unwrap())
            .await
            .unwrap()
            .is_empty()
    );

    // Bad input: the form with the message beside the grant and the dates; nothing saved.
    let bad = [
        ("name", "Gold"),
        ("starts", "not a date"),
        ("grant-0-repository", "acme/app"),
        ("grant-0-kind", "semver"),
        ("grant-0-value", "one point oh"),
    ];
    let refused = post(&house, &new, &csrf, &bad).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.text().contains("Give the first day"), "{}", refused.text());
    let bad_range = [
        ("name", "Gold"),
        ("starts", "2026-01-01"),
        ("grant-0-repository", "acme/app"),
        ("grant-0-kind", "semver"),
        ("grant-0-value", "one point oh"),
    ];
    let refused = post(&house, &new, &csrf, &bad_range).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.text().contains("grant-0-error"), "{}", refused.text());
    let other_org = [
        ("name", "Gold"),
        ("starts", "2026-01-01"),
        ("grant-0-repository", "globex/app"),
        ("grant-0-kind", "all"),
    ];
    assert_eq!(
        post(&house, &new, &csrf, &other_org).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert!(
        wharf_db::licenses::list_for_customer(&house.pool, org.id, id.parse().unwrap())
            .await
            .unwrap()
            .is_empty()
    );

    let saved = post(&house, &new, &csrf, &grant[..6]).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text());
    let page = house.page(&format!("/vendor/acme/customers/{id}")).await.text();
    assert!(page.contains("License Gold saved (in force)"), "{page}");

    // What the portal says the customer can pull is what the registry serves its token.
    let customer = TokenOwner::Customer { customer_id: id.parse().unwrap() };
    let (_, customer_token) = wharf_e2e::insert_token(&house.pool, org.id, customer).await;
    let served = tags_list(&house, &basic(&customer_token), "acme/app").await.unwrap();
    assert_eq!(served, ["1.0.0", "1.5.0"]);
    let section =
        page.split("What Initech can pull now").nth(1).unwrap().split("</section>").next().unwrap();
    for tag in &served {
        assert!(section.contains(&format!(r#"<span class="tag">{tag}</span>"#)), "{section}");
    }
    assert!(
        !section.contains("2.0.0")
            && !section.contains("latest")
            && !section.contains("acme/tools"),
        "{section}"
    );
    assert!(tags_list(&house, &basic(&customer_token), "acme/tools").await.is_err());

    // Suspending takes effect at the next request; reinstating gives it back.
    let license = wharf_db::licenses::list_for_customer(&house.pool, org.id, id.parse().unwrap())
        .await
        .unwrap()
        .remove(0);
    let license_page = format!("/vendor/acme/licenses/{}", license.id);
    let edit = house.page(&license_page).await.text();
    assert!(
        edit.contains(r#"value="&gt;=1.0.0 &lt;2.0.0""#)
            || edit.contains(r#"value="&#62;=1.0.0 &#60;2.0.0""#),
        "{edit}"
    );
    // The history comes from the audit log, written off the request path: wait for it.
    let mut history = String::new();
    for _ in 0..50 {
        history = house.page(&license_page).await.text();
        if history.contains("license.create") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(history.contains("license.create"), "history: {history}");
    post(&house, &format!("{license_page}/suspension"), &csrf, &[("suspended", "true")]).await;
    assert!(
        tags_list(&house, &basic(&customer_token), "acme/app").await.map_or(true, |t| t.is_empty())
    );
    post(&house, &format!("{license_page}/suspension"), &csrf, &[("suspended", "false")]).await;
    assert_eq!(
        tags_list(&house, &basic(&customer_token), "acme/app").await.unwrap(),
        ["1.0.0", "1.5.0"]
    );

    // The tag's page names the customers entitled to it.
    let tag_page = house.page("/vendor/acme/artifacts/app/-/tags/1.5.0").await.text();
    let entitled = tag_page
        .split("Customers who can pull 1.5.0 now")
        .nth(1)
        .unwrap()
        .split("</section>")
        .next()
        .unwrap();
    assert!(entitled.contains("Initech"), "{entitled}");
    let tag_page = house.page("/vendor/acme/artifacts/app/-/tags/2.0.0").await.text();
    assert!(tag_page.contains("No customer's license grants this tag"), "{tag_page}");

    // Deleted: the next pull sees nothing.
    post(&house, &format!("{license_page}/delete"), &csrf, &[]).await;
    assert!(
        tags_list(&house, &basic(&customer_token), "acme/app").await.map_or(true, |t| t.is_empty())
    );
}

#[tokio::test]
async fn artifacts_show_tags_with_pull_commands_and_delete_tags_and_manifests() {
    let (mut house, org) = TestApp::with_owner(&[], "acme").await;
    let owner = TokenOwner::Vendor { user_id: org.owner, read_only: false };
    let (_, token) = wharf_e2e::insert_token(&house.pool, org.id, owner).await;
    signed_in(&house, &org.owner_email, "/vendor/acme/artifacts").await;
    let empty = house.page("/vendor/acme/artifacts").await.text();
    assert!(
        empty.contains("Nothing pushed yet")
            && empty.contains("docker push wharf.test/acme/my-app:1.0"),
        "{empty}"
    );

    let digest = house.push_image(&basic(&token), "acme/team/app", "1.0").await;
    house.push_image(&basic(&token), "acme/team/app", "1.1").await;
    let list = house.page("/vendor/acme/artifacts").await.text();
    assert!(list.contains("acme/team/app") && list.contains("container image"), "{list}");

    let repository = house.page("/vendor/acme/artifacts/team/app").await.text();
    assert!(repository.contains("docker pull wharf.test/acme/team/app:1.0"), "{repository}");
    let podman = house.page("/vendor/acme/artifacts/team/app?client=podman").await.text();
    // The house's public URL is plain http: podman is told so.
    assert!(
        podman.contains("podman pull --tls-verify=false wharf.test/acme/team/app:1.1"),
        "{podman}"
    );
    let unknown = house.page("/vendor/acme/artifacts/team/app?client=%3Cscript%3E").await.text();
    assert!(
        unknown.contains("docker pull wharf.test/acme/team/app:1.0")
            && !unknown.contains("<script>")
    );

    let tag = house.page("/vendor/acme/artifacts/team/app/-/tags/1.0").await;
    assert_eq!(tag.status, StatusCode::OK);
    let html = tag.text();
    assert!(
        html.contains(&digest)
            && html.contains("helm pull oci://wharf.test/acme/team/app --version 1.0 --plain-http"),
        "{html}"
    );
    assert!(html.contains("application/vnd.oci.image.layer.v1.tar"), "layers: {html}");
    for missing in [
        "/vendor/acme/artifacts/team/app/-/tags/9.9",
        "/vendor/acme/artifacts/team/nope",
        "/vendor/acme/artifacts/team/app/-/manifests/sha256:00",
        "/vendor/acme/artifacts/team/app/-/other",
    ] {
        assert_eq!(house.page(missing).await.status, StatusCode::NOT_FOUND, "{missing}");
    }

    let csrf = TestApp::csrf_in(&house.page("/vendor/acme/artifacts/team/app").await);
    let confirm = house.page("/vendor/acme/artifacts/team/app/-/tags/1.1/delete").await;
    assert!(confirm.text().contains("Delete the tag"));
    let deleted =
        post(&house, "/vendor/acme/artifacts/team/app/-/tags/1.1/delete", &csrf, &[]).await;
    assert_eq!(deleted.location(), Some("/vendor/acme/artifacts/team/app"));
    assert_eq!(tags_list(&house, &basic(&token), "acme/team/app").await.unwrap(), ["1.0"]);
    let gone = post(
        &house,
        &format!("/vendor/acme/artifacts/team/app/-/manifests/{digest}/delete"),
        &csrf,
        &[],
    )
    .await;
    assert_eq!(gone.status, StatusCode::SEE_OTHER);
    assert!(tags_list(&house, &basic(&token), "acme/team/app").await.unwrap().is_empty());
    house.flush().await;
    let entries =
        wharf_db::audit::list(&house.pool, org.id, &Default::default(), None, 10).await.unwrap();
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    assert!(actions.starts_with(&["manifest.delete", "tag.delete"]), "{actions:?}");
}

/// Manifest `digest` of `acme/app`, with its bytes.
async fn stored(house: &TestApp, digest: &str) -> wharf_db::registry::manifests::StoredManifest {
    use wharf_db::registry::manifests::{ManifestRef, find_by_name};
    find_by_name(&house.pool, "acme/app", ManifestRef::Digest(digest), true).await.unwrap().unwrap()
}

/// Member `user`'s role in `org`, if they are a member.
async fn role_of(house: &TestApp, org: uuid::Uuid, user: uuid::Uuid) -> Option<String> {
    wharf_db::accounts::find_member(&house.pool, org, user).await.unwrap().map(|m| m.role)
}

#[tokio::test]
async fn immutable_tags_refuse_a_push_that_would_move_them() {
    let (house, org) = TestApp::with_owner(&[], "acme").await;
    let owner = TokenOwner::Vendor { user_id: org.owner, read_only: false };
    let (_, token) = wharf_e2e::insert_token(&house.pool, org.id, owner).await;
    let first = house.push_image(&basic(&token), "acme/app", "1.0").await;
    let csrf = signed_in(&house, &org.owner_email, "/vendor/acme/artifacts/app").await;
    let saved = post(
        &house,
        "/vendor/acme/artifacts/app/-/settings",
        &csrf,
        &[("visibility", "private"), ("immutable_tags", "on")],
    )
    .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);
    assert!(
        house.page("/vendor/acme/artifacts/app").await.text().contains("its tags are immutable")
    );

    // Another image under the same tag: DENIED, saying why; the tag keeps its digest.
    let request = |tag: &str, body: Vec<u8>| {
        Request::put(format!("/v2/acme/app/manifests/{tag}"))
            .header(header::AUTHORIZATION, basic(&token))
            .header(header::CONTENT_TYPE, "application/vnd.oci.image.manifest.v1+json")
            .body(Body::from(body))
            .unwrap()
    };
    let second_digest = house.push_image(&basic(&token), "acme/app", "1.1").await;
    let second = stored(&house, &second_digest).await;
    let refused = house.send(request("1.0", second.bytes.clone())).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    let error = &refused.json()["errors"][0];
    assert_eq!(error["code"], "DENIED");
    assert!(error["message"].as_str().unwrap().contains("immutable"), "{error}");
    let repo =
        wharf_db::registry::repositories::find(&house.pool, "acme/app").await.unwrap().unwrap();
    assert_eq!(
        wharf_db::registry::tags::digest_of(&house.pool, repo.id, "1.0").await.unwrap().as_deref(),
        Some(first.as_str())
    );
    // The same content again, and a new tag, are fine.
    let first_bytes = stored(&house, &first).await.bytes;
    assert_eq!(house.send(request("1.0", first_bytes)).await.status, StatusCode::CREATED);
    assert_eq!(house.send(request("2.0", second.bytes.clone())).await.status, StatusCode::CREATED);

    // Mutable again: the tag moves.
    post(&house, "/vendor/acme/artifacts/app/-/settings", &csrf, &[("immutable_tags", "off")])
        .await;
    assert_eq!(house.send(request("1.0", second.bytes)).await.status, StatusCode::CREATED);
    assert_eq!(
        wharf_db::registry::tags::digest_of(&house.pool, repo.id, "1.0").await.unwrap(),
        Some(second_digest)
    );
}

#[tokio::test]
async fn other_organizations_ids_answer_404_and_roles_are_refused_what_they_may_not_do() {
    let (house, acme) = TestApp::with_owner(&[], "acme").await;
    let globex = wharf_db::testing::org(&house.pool, "globex").await;
    let theirs = wharf_db::testing::customer(&house.pool, globex.id, "Their customer").await;
    let globex_owner = TokenOwner::Vendor { user_id: globex.owner, read_only: false };
    let (_, globex_token) = wharf_e2e::insert_token(&house.pool, globex.id, globex_owner).await;
    house.push_image(&basic(&globex_token), "globex/app", "1.0").await;
    let license =
        wharf_db::testing::license(&house.pool, globex.id, theirs.id, "Theirs", &[]).await;
    let ours = wharf_db::testing::customer(&house.pool, acme.id, "Ours").await;

    let csrf = signed_in(&house, &acme.owner_email, "/vendor/acme/customers").await;
    for path in [
        format!("/vendor/acme/customers/{}", theirs.id),
        format!("/vendor/acme/customers/{}/delete", theirs.id),
        format!("/vendor/acme/customers/{}/licenses/new", theirs.id),
        format!("/vendor/acme/licenses/{}", license.id),
        "/vendor/acme/customers/not-a-uuid".to_owned(),
        "/vendor/globex/customers".to_owned(),
        "/vendor/globex".to_owned(),
        "/vendor/acme/artifacts/../globex/app".to_owned(),
    ] {
        assert_eq!(house.page(&path).await.status, StatusCode::NOT_FOUND, "{path}");
    }
    for path in [
        format!("/vendor/acme/customers/{}/rename", theirs.id),
        format!("/vendor/acme/customers/{}/status", theirs.id),
        format!("/vendor/acme/customers/{}/delete", theirs.id),
        format!("/vendor/acme/licenses/{}/delete", license.id),
        format!("/vendor/acme/licenses/{}/suspension", license.id),
        format!("/vendor/acme/customers/{}/tokens/{}/revoke", ours.id, uuid::Uuid::new_v4()),
        "/vendor/globex/customers".to_owned(),
    ] {
        let answer = post(
            &house,
            &path,
            &csrf,
            &[("name", "x"), ("disabled", "true"), ("suspended", "true")],
        )
        .await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(
        wharf_db::customers::get(&house.pool, globex.id, theirs.id).await.unwrap().unwrap(),
        theirs
    );

    // A viewer reads and changes nothing; a developer manages artifacts, not customers.
    house.member_who_signs_in(acme.id, "viewer@acme.test", "viewer").await;
    house.member_who_signs_in(acme.id, "dev@acme.test", "developer").await;
    let owner = TokenOwner::Vendor { user_id: acme.owner, read_only: false };
    let (_, token) = wharf_e2e::insert_token(&house.pool, acme.id, owner).await;
    house.push_image(&basic(&token), "acme/app", "1.0").await;
    for (email, may_artifacts) in [("viewer@acme.test", false), ("dev@acme.test", true)] {
        house.use_cookies(Default::default());
        let csrf = signed_in(&house, email, "/vendor/acme/customers").await;
        let list = house.page("/vendor/acme/customers").await.text();
        assert!(!list.contains("New customer"), "{email}: not offered");
        assert!(
            !house
                .page(&format!("/vendor/acme/customers/{}", ours.id))
                .await
                .text()
                .contains("Delete Ours")
        );
        assert_eq!(
            post(&house, "/vendor/acme/customers", &csrf, &[("name", "Mine")]).await.status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            house.page(&format!("/vendor/acme/customers/{}/licenses/new", ours.id)).await.status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            post(&house, &format!("/vendor/acme/customers/{}/delete", ours.id), &csrf, &[])
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            post(
                &house,
                "/vendor/acme/artifacts/app/-/settings",
                &csrf,
                &[("visibility", "public")]
            )
            .await
            .status,
            StatusCode::FORBIDDEN
        );
        let repository = house.page("/vendor/acme/artifacts/app").await.text();
        assert_eq!(repository.contains("Delete…"), may_artifacts, "{email}");
        let delete = house.page("/vendor/acme/artifacts/app/-/tags/1.0/delete").await.status;
        assert_eq!(delete == StatusCode::OK, may_artifacts, "{email}");
        assert_eq!(house.page("/vendor/acme/audit").await.status, StatusCode::FORBIDDEN, "{email}");
        assert_eq!(
            post(
                &house,
                &format!("/vendor/acme/team/{}/role", acme.owner),
                &csrf,
                &[("role", "viewer")]
            )
            .await
            .status,
            StatusCode::FORBIDDEN
        );
    }
    assert!(
        wharf_db::customers::find_by_name(&house.pool, acme.id, "Mine").await.unwrap().is_none()
    );
    assert!(
        !wharf_db::registry::repositories::find(&house.pool, "acme/app")
            .await
            .unwrap()
            .unwrap()
            .public
    );
}

#[tokio::test]
async fn the_team_keeps_an_owner_and_nobody_grants_more_than_they_hold() {
    let (mut house, acme) = TestApp::with_owner(&[], "acme").await;
    let admin = house.member_who_signs_in(acme.id, "admin@acme.test", "admin").await;
    let dev = house.member_who_signs_in(acme.id, "dev@acme.test", "developer").await;
    let csrf = signed_in(&house, &acme.owner_email, "/vendor/acme/team").await;
    // The last owner can be neither demoted nor removed.
    post(&house, &format!("/vendor/acme/team/{}/role", acme.owner), &csrf, &[("role", "admin")])
        .await;
    assert!(house.page("/vendor/acme/team").await.text().contains("last owner"));
    post(&house, &format!("/vendor/acme/team/{}/remove", acme.owner), &csrf, &[]).await;
    assert_eq!(role_of(&house, acme.id, acme.owner).await.as_deref(), Some("owner"));

    // An admin may not make an owner, nor touch one; it may change a developer.
    house.use_cookies(Default::default());
    let csrf = signed_in(&house, "admin@acme.test", "/vendor/acme/team").await;
    let team = house.page("/vendor/acme/team").await.text();
    assert!(!team.contains(r#"<option value="owner""#), "{team}");
    assert_eq!(
        post(&house, &format!("/vendor/acme/team/{dev}/role"), &csrf, &[("role", "owner")])
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        post(&house, &format!("/vendor/acme/team/{}/remove", acme.owner), &csrf, &[]).await.status,
        StatusCode::FORBIDDEN
    );
    post(&house, &format!("/vendor/acme/team/{dev}/role"), &csrf, &[("role", "viewer")]).await;
    assert_eq!(role_of(&house, acme.id, dev).await.as_deref(), Some("viewer"));
    post(&house, &format!("/vendor/acme/team/{dev}/remove"), &csrf, &[]).await;
    assert_eq!(role_of(&house, acme.id, dev).await, None);
    assert_eq!(role_of(&house, acme.id, admin).await.as_deref(), Some("admin"));
    house.flush().await;
    let entries =
        wharf_db::audit::list(&house.pool, acme.id, &Default::default(), None, 10).await.unwrap();
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    assert!(actions.starts_with(&["member.remove", "member.role_change"]), "{actions:?}");
}

#[tokio::test]
async fn a_vendor_token_is_shown_once_pushes_and_stops_when_revoked() {
    let (house, acme) = TestApp::with_owner(&[], "acme").await;
    let csrf = signed_in(&house, &acme.owner_email, "/vendor/acme/tokens").await;
    let bad = post(&house, "/vendor/acme/tokens", &csrf, &[("name", ""), ("expiry", "90")]).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let made =
        post(&house, "/vendor/acme/tokens", &csrf, &[("name", "CI release"), ("expiry", "30")])
            .await;
    assert_eq!(made.status, StatusCode::OK);
    assert_eq!(made.header("cache-control"), Some("no-store"));
    let html = made.text();
    let start = html.find("wharf_vnd_").expect("the token, once");
    let token: String =
        html[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
    let login = html.split("Log in to the registry with it").nth(1).unwrap();
    assert!(
        login.contains(&token)
            && login.contains("| docker login wharf.test -u acme --password-stdin"),
        "{html}"
    );
    assert!(!house.page("/vendor/acme/tokens").await.text().contains(&token), "never shown again");

    house.push_image(&basic(&token), "acme/app", "1.0").await;
    let id = wharf_db::tokens::list_vendor_tokens(&house.pool, acme.id).await.unwrap()[0].id;
    let revoked = post(&house, &format!("/vendor/acme/tokens/{id}/revoke"), &csrf, &[]).await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);
    assert_eq!(
        tags_list(&house, &basic(&token), "acme/app").await.unwrap_err(),
        StatusCode::UNAUTHORIZED
    );
    // Another member's token is not theirs to revoke.
    let other = house.member_who_signs_in(acme.id, "dev@acme.test", "developer").await;
    let theirs = TokenOwner::Vendor { user_id: other, read_only: false };
    let (their_id, their_token) = wharf_e2e::insert_token(&house.pool, acme.id, theirs).await;
    assert_eq!(
        post(&house, &format!("/vendor/acme/tokens/{their_id}/revoke"), &csrf, &[]).await.status,
        StatusCode::NOT_FOUND
    );
    assert!(tags_list(&house, &basic(&their_token), "acme/app").await.is_ok());
}

#[tokio::test]
async fn vendor_supplied_text_never_becomes_markup() {
    let (house, acme) = TestApp::with_owner(&[], "acme").await;
    let csrf = signed_in(&house, &acme.owner_email, "/vendor/acme/customers").await;
    let evil = r#"<script>alert(1)</script><img src=x onerror=alert(2)>"#;
    let id =
        customer_id_in(&post(&house, "/vendor/acme/customers", &csrf, &[("name", evil)]).await);
    let license = [
        ("name", evil),
        ("starts", "2026-01-01"),
        ("notes", evil),
        ("grant-0-repository", "acme/app"),
        ("grant-0-kind", "all"),
    ];
    let saved =
        post(&house, &format!("/vendor/acme/customers/{id}/licenses/new"), &csrf, &license).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text());
    let license = wharf_db::licenses::list_for_customer(&house.pool, acme.id, id.parse().unwrap())
        .await
        .unwrap()
        .remove(0);
    for path in [
        "/vendor/acme/customers".to_owned(),
        format!("/vendor/acme/customers/{id}"),
        format!("/vendor/acme/licenses/{}", license.id),
        format!("/vendor/acme/customers/{id}/delete"),
    ] {
        let html = house.page(&path).await.text();
        assert!(!html.contains("<script>alert") && !html.contains("<img src=x"), "{path}: {html}");
        assert!(
            html.contains("&lt;script&gt;") || html.contains("&#60;script&#62;"),
            "{path}: shown, escaped"
        );
    }
}

#[tokio::test]
async fn the_demo_fills_the_first_organization_once_and_every_page_shows_it() {
    let (house, org) = TestApp::with_owner(&[], "acme").await;
    wharf_server::demo::seed(house.router(), &house.app, &house.pool).await.unwrap();
    let names = wharf_db::registry::repositories::list_names(&house.pool, org.id).await.unwrap();
    assert_eq!(names, ["acme/agent", "acme/charts/web", "acme/web"]);
    let customers = wharf_db::customers::list(&house.pool, org.id, None, 50).await.unwrap();
    assert_eq!(customers.len(), 5);
    // Once only.
    wharf_server::demo::seed(house.router(), &house.app, &house.pool).await.unwrap();
    assert_eq!(wharf_db::customers::list(&house.pool, org.id, None, 50).await.unwrap().len(), 5);
    // The seed token is revoked.
    let tokens = wharf_db::tokens::list_vendor_tokens(&house.pool, org.id).await.unwrap();
    assert!(tokens.iter().all(|t| t.revoked_at.is_some()), "{tokens:?}");

    signed_in(&house, &org.owner_email, "/vendor/acme").await;
    let web = house.page("/vendor/acme/artifacts/web/-/tags/2.0.0").await.text();
    assert!(web.contains("signature (application/vnd.dev.cosign.artifact.sig.v1+json)"), "{web}");
    assert!(
        web.contains("SBOM (application/spdx+json)") && web.contains("Globex Corporation"),
        "{web}"
    );
    assert!(web.contains("com.example.release-notes"), "{web}");
    let agent = house.page("/vendor/acme/artifacts/agent/-/tags/3.1.0").await.text();
    assert!(agent.contains("multi-platform image") && agent.contains("linux/arm64"), "{agent}");
    let chart = house.page("/vendor/acme/artifacts/charts/web").await.text();
    assert!(
        chart.contains(
            "helm install web oci://wharf.test/acme/charts/web --version 0.2.0 --plain-http"
        ),
        "{chart}"
    );
    let list = house.page("/vendor/acme/customers").await.text();
    assert!(list.contains("Hooli") && list.contains("never"), "{list}");
    let globex = customers.iter().find(|c| c.name == "Globex Corporation").unwrap();
    let page = house.page(&format!("/vendor/acme/customers/{}", globex.id)).await.text();
    assert!(page.contains("expires soon") && page.contains("production cluster"), "{page}");
    assert!(page.contains("acme/web:"), "recent pulls: {page}");
    // Version checks: a cluster polling every half hour for 30 days, and a CI job's.
    let polled: i64 = sqlx::query_scalar(
        "select max(n)::int8 from (select sum(checks) as n from version_checks_daily
                                  where organization_id = $1 group by customer_id) per",
    )
    .bind(org.id)
    .fetch_one(&house.pool)
    .await
    .unwrap();
    assert_eq!(polled, 48 * 30);
    let analytics = house.page("/vendor/acme/analytics").await.text();
    assert!(!analytics.contains("No version checks"), "{analytics}");
}

#[tokio::test]
async fn a_customer_user_is_invited_and_the_invitation_sent_again_with_a_new_link() {
    let (house, acme) = TestApp::with_owner(&[], "acme").await;
    let customer = wharf_db::testing::customer(&house.pool, acme.id, "Initech").await;
    let base = format!("/vendor/acme/customers/{}", customer.id);
    let csrf = signed_in(&house, &acme.owner_email, &base).await;
    let link_in = |html: &str| {
        let start = html.find("/invitation/wharf_inv_").expect("the link, once");
        html[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || "/_-".contains(*c))
            .collect::<String>()
    };
    let bad = post(
        &house,
        &format!("{base}/invitations"),
        &csrf,
        &[("email", "not an email"), ("role", "admin")],
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let invited = post(
        &house,
        &format!("{base}/invitations"),
        &csrf,
        &[("email", "peter@initech.test"), ("role", "member")],
    )
    .await;
    assert_eq!(invited.status, StatusCode::OK, "no SMTP: the link is shown once");
    let first = link_in(&invited.text());
    assert!(!house.page(&base).await.text().contains(&first), "never shown again");
    let open =
        wharf_db::invitations::list_customer(&house.pool, acme.id, customer.id).await.unwrap();
    let resent =
        post(&house, &format!("{base}/invitations/{}/resend", open[0].id), &csrf, &[]).await;
    assert_eq!(resent.status, StatusCode::OK);
    let second = link_in(&resent.text());
    assert_ne!(first, second);
    house.use_cookies(Default::default());
    assert!(house.page(&first).await.text().contains("This invitation is not valid"));
    let fresh = house.page(&second).await;
    assert_eq!(fresh.status, StatusCode::OK);
    assert!(fresh.text().contains("Initech"), "{}", fresh.text());
    let all =
        wharf_db::invitations::list_customer(&house.pool, acme.id, customer.id).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all.iter().filter(|i| i.revoked_at.is_some()).count(), 1);
    assert!(all.iter().all(|i| i.role.as_deref() == Some("member")));
}

#[tokio::test]
async fn the_vendor_changes_and_removes_a_customers_users_and_the_last_admin_stays() {
    let (house, acme) = TestApp::with_owner(&[], "acme").await;
    let customer = wharf_db::testing::customer(&house.pool, acme.id, "Initech").await;
    let peter =
        wharf_db::testing::member(&house.pool, acme.id, "peter@initech.test", "viewer").await;
    wharf_db::accounts::change_member(&house.pool, acme.id, peter, None).await.unwrap();
    wharf_db::customers::add_user(&house.pool, acme.id, customer.id, peter, "admin").await.unwrap();
    let owner = TokenOwner::Customer { customer_id: customer.id };
    let (_, token) = wharf_e2e::insert_token(&house.pool, acme.id, owner).await;
    sqlx::query("update access_tokens set created_by = $1 where organization_id = $2")
        .bind(peter)
        .bind(acme.id)
        .execute(&house.pool)
        .await
        .unwrap();
    let base = format!("/vendor/acme/customers/{}", customer.id);
    let csrf = signed_in(&house, &acme.owner_email, &base).await;
    // The only admin can be neither demoted nor removed.
    post(&house, &format!("{base}/users/{peter}/role"), &csrf, &[("role", "member")]).await;
    assert!(house.page(&base).await.text().contains("keeps at least one admin"));
    post(&house, &format!("{base}/users/{peter}/remove"), &csrf, &[]).await;
    let user =
        wharf_db::customers::find_user(&house.pool, acme.id, customer.id, peter).await.unwrap();
    assert_eq!(user.map(|u| u.role).as_deref(), Some("admin"));
    // With a second admin, Peter can go; the token he made stops.
    let paula =
        wharf_db::testing::member(&house.pool, acme.id, "paula@initech.test", "viewer").await;
    wharf_db::accounts::change_member(&house.pool, acme.id, paula, None).await.unwrap();
    wharf_db::customers::add_user(&house.pool, acme.id, customer.id, paula, "member")
        .await
        .unwrap();
    post(&house, &format!("{base}/users/{paula}/role"), &csrf, &[("role", "admin")]).await;
    assert!(
        house
            .page(&format!("{base}/users/{peter}/remove"))
            .await
            .text()
            .contains("Remove the user")
    );
    let removed = post(&house, &format!("{base}/users/{peter}/remove"), &csrf, &[]).await;
    assert_eq!(removed.location(), Some(base.as_str()));
    assert!(
        wharf_db::customers::find_user(&house.pool, acme.id, customer.id, peter)
            .await
            .unwrap()
            .is_none()
    );
    assert!(tags_list(&house, &basic(&token), "acme/app").await.is_err(), "his token stopped");
    // Someone who is not a user of this customer is not found.
    let stranger = uuid::Uuid::new_v4();
    assert_eq!(
        post(&house, &format!("{base}/users/{stranger}/role"), &csrf, &[("role", "admin")])
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}
