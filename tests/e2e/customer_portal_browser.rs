//! The customer portal in a real browser (headless Chromium) against a real `wharf serve`,
//! a real Postgres and a real SMTP server, with axe-core on every customer page, Settings
//! and the branded sign-in (WCAG 2.1 A and AA: zero violations): the vendor brands its
//! portal; a customer admin accepts an invitation and invites a colleague by email; the
//! colleague sees exactly what the registry serves (`_catalog`, `tags/list`), creates a
//! token, runs the shown commands as they are: `docker login`/`docker pull` with a real
//! docker, `podman login`/`podman pull` with a real podman, and `helm registry login`,
//! `helm install` (a client-side dry run: no cluster here) and `helm pull` with Helm's SDK
//! (each shown line split into words and mapped to the SDK call, nothing rewritten); sees
//! the pull under Downloads, revokes the token, and the next pull fails as for a name that
//! does not exist.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{collections::HashMap, time::Duration};

use fantoccini::Locator;
use oci_client::{
    Client, Reference,
    client::{ClientConfig, ClientProtocol},
    manifest::IMAGE_LAYER_MEDIA_TYPE,
    secrets::RegistryAuth,
};
use wharf_e2e::{
    ServeOptions, Wharf,
    browser::{Browser, assert_accessible, link_in},
    clients::{docker::Docker, fixtures, helm::Helm, podman::Podman},
    fresh_database,
    raw::RawRegistry,
    run_wharf, scratch_dir,
    smtp::SmtpServer,
    vendor_token,
};

/// The text of the element with id `id`.
async fn text_of(browser: &Browser, id: &str) -> String {
    browser.client.find(Locator::Id(id)).await.unwrap().text().await.unwrap()
}

/// Every `data-{attribute}` value on the page, in order.
async fn data_values(browser: &Browser, attribute: &str) -> Vec<String> {
    let mut values = Vec::new();
    for element in
        browser.client.find_all(Locator::Css(&format!("[data-{attribute}]"))).await.unwrap()
    {
        values.push(element.attr(&format!("data-{attribute}")).await.unwrap().unwrap());
    }
    values
}

/// The command labelled `label` in the row of `repository:tag` on the artifacts page, as
/// shown (`textContent`: the commands sit in a closed `<details>`, which `text()` skips).
async fn command(browser: &Browser, repository: &str, tag: &str, label: &str) -> String {
    let css =
        format!("tr[data-repository='{repository}'][data-tag='{tag}'] code[aria-label='{label}']");
    let code =
        browser.client.find(Locator::Css(&css)).await.unwrap_or_else(|e| panic!("{css}: {e}"));
    code.prop("textContent").await.unwrap().unwrap_or_default().trim().to_owned()
}

#[tokio::test]
async fn a_customer_goes_from_the_invitation_email_to_a_working_pull() {
    let smtp = SmtpServer::start();
    let data = scratch_dir();
    let database_url = fresh_database().await;
    let env: HashMap<String, String> = [("WHARF_SMTP_URL".to_owned(), smtp.url())].into();
    let options = ServeOptions { database_url: Some(database_url.clone()), env };
    let wharf = Wharf::start(data.path(), &options).await;
    let base = wharf.url.clone();
    let host = base.trim_start_matches("http://").to_owned();

    // The vendor's artifacts, customer and license (1.x of vendor/app, chart 0.1.0).
    let vendor = vendor_token(&database_url, "e2e");
    let registry = RawRegistry::with_token(&base, &vendor);
    for tag in ["1.0.0", "2.0.0"] {
        registry.push_image("vendor/app", Some(tag), None).await;
    }
    // 1.2.0 is a real image, pushed by a real docker, for the customer's `docker pull`.
    let docker = Docker::start(&data.path().join("docker"));
    docker.login(&host, "vendor", &vendor);
    let image = format!("{host}/vendor/app:1.2.0");
    docker.import(&fixtures::single_file_tar(&data.path().join("rootfs")), &image);
    let pushed = docker.push(&image);
    docker.remove(&image);
    // Charts 0.1.0 and 0.2.0 of vendor/charts/app, packaged and pushed by Helm's SDK.
    let vendor_helm = Helm::new(&data.path().join("helm-vendor"));
    vendor_helm.login(&host, "vendor", &vendor);
    let mut archives = HashMap::new();
    for version in ["0.1.0", "0.2.0"] {
        let dir = data.path().join(format!("chart-{version}"));
        let archive = vendor_helm.package(&fixtures::helm_chart(&dir, "app", version));
        vendor_helm.push(&archive, &format!("oci://{host}/vendor/charts"));
        archives.insert(version, std::fs::read(&archive).unwrap());
    }
    let api = reqwest::Client::new();
    let customer: serde_json::Value = api
        .post(format!("{base}/api/v1/customers"))
        .bearer_auth(&vendor)
        .json(&serde_json::json!({"name": "Globex"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let customer_id = customer["id"].as_str().unwrap().to_owned();
    let license = api
        .post(format!("{base}/api/v1/customers/{customer_id}/licenses"))
        .bearer_auth(&vendor)
        .json(&serde_json::json!({
            "name": "Gold",
            "starts_at": "2026-01-01T00:00:00Z",
            "on_expiry": "keep_released",
            "grants": [
                {"repository": "vendor/app", "tags": {"kind": "semver", "range": ">=1.0.0 <2.0.0"}},
                {"repository": "vendor/charts/*", "tags": {"kind": "exact", "values": ["0.1.0"]}},
            ],
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(license.status(), 201, "{}", license.text().await.unwrap());

    // The vendor brands its portal on the Settings page (preview first).
    let (email, password) = wharf.first_admin();
    let owner = Browser::start().await;
    owner.visit(&format!("{base}/sign-in"), "sign-in").await;
    owner.fill("email", &email).await;
    owner.fill("password", &password).await;
    owner.click("main form button[type=submit]").await;
    owner.arrive("/vendor/vendor").await;
    owner.visit(&format!("{base}/vendor/vendor/settings"), "settings").await;
    owner.fill("title", "Vendor Downloads").await;
    owner.fill("primary_color", "#7c3aed").await;
    owner
        .fill("welcome_markdown", "## Welcome\n\nRead [the guide](https://docs.vendor.test).")
        .await;
    owner.click("input[name=show_pull_history]").await;
    // The preview follows the typing (htmx) before anything is submitted.
    owner.wait_for_text(r#"rel="noopener noreferrer nofollow">the guide</a>"#).await;
    assert_accessible(&owner.client, "settings with a live preview").await;
    owner.click("button[value=preview]").await;
    owner.wait_for_text("Preview (not saved)").await;
    assert_accessible(&owner.client, "settings with a preview").await;
    owner.click("button[value=save]").await;
    owner.wait_for_text("Settings saved.").await;

    let anyone = Browser::start().await;
    anyone.visit(&format!("{base}/s/vendor/sign-in"), "branded sign-in").await;
    assert!(anyone.source().await.contains("Vendor Downloads"));

    // The customer's admin, invited by the operator, accepts and lands on the branded home.
    let out = run_wharf(
        &[
            "admin",
            "invite-customer-user",
            "--org",
            "vendor",
            "--customer",
            "Globex",
            "--email",
            "ops@globex.test",
            "--role",
            "admin",
            "--public-url",
            &base,
        ],
        &[("DATABASE_URL", &database_url), ("RUST_LOG", "warn")],
    );
    assert!(out.status.success(), "{}", out.stderr);
    let token = out.stdout.lines().rev().find(|l| !l.trim().is_empty()).unwrap().trim().to_owned();
    let token = token.rsplit('/').next().unwrap().to_owned();
    let admin = Browser::start().await;
    admin.visit(&format!("{base}/invitation/{token}"), "customer invitation").await;
    admin.fill("name", "Olga Ops").await;
    admin.fill("password", "an ops password").await;
    admin.fill("password_confirm", "an ops password").await;
    admin.click("main form button[type=submit]").await;
    let home_path = format!("/customer/vendor/{customer_id}");
    admin.arrive(&home_path).await;
    assert_accessible(&admin.client, "customer home").await;
    let home = admin.source().await;
    assert!(home.contains("Vendor Downloads") && home.contains("the guide"), "{home}");

    // The admin invites a colleague by email.
    admin.visit(&format!("{base}{home_path}/team"), "customer team").await;
    admin.fill("email", "dev@globex.test").await;
    admin.click("main form button[type=submit]").await;
    admin.wait_for_text("Invitation sent to dev@globex.test.").await;
    assert_accessible(&admin.client, "customer team after inviting").await;
    let mail = smtp.wait_for_message("dev@globex.test").await;
    let link = link_in(mail.text(), &format!("{base}/invitation/wharf_inv_"));
    let dev = Browser::start().await;
    dev.visit(&link, "customer invitation by mail").await;
    dev.fill("name", "Dev <b>Eloper</b>").await;
    dev.fill("password", "a dev password").await;
    dev.fill("password_confirm", "a dev password").await;
    dev.click("main form button[type=submit]").await;
    dev.arrive(&home_path).await;

    // A token, shown once, with the login command filled in.
    dev.visit(&format!("{base}{home_path}/tokens"), "customer tokens, none").await;
    dev.fill("name", "laptop").await;
    dev.click("main form button[type=submit]").await;
    dev.wait_for_text("Copy it now").await;
    assert_accessible(&dev.client, "customer tokens, one created").await;
    let token = text_of(&dev, "new-token").await;
    let login = text_of(&dev, "new-login").await;
    assert!(login.contains(&format!("docker login {host} -u dev@globex.test")), "{login}");

    // Artifacts: exactly the registry's `_catalog` and `tags/list` for that token.
    dev.visit(&format!("{base}{home_path}/artifacts"), "customer artifacts").await;
    let as_customer = RawRegistry::with_token(&base, &token);
    let catalog = as_customer.get("/v2/_catalog").await.json();
    let mut expected = Vec::new();
    for repository in catalog["repositories"].as_array().unwrap() {
        let repository = repository.as_str().unwrap();
        let tags = as_customer.get(&format!("/v2/{repository}/tags/list")).await.json();
        for tag in tags["tags"].as_array().unwrap() {
            expected.push((repository.to_owned(), tag.as_str().unwrap().to_owned()));
        }
    }
    let shown: Vec<(String, String)> = data_values(&dev, "repository")
        .await
        .into_iter()
        .zip(data_values(&dev, "tag").await)
        .collect();
    assert_eq!(shown, expected);
    assert_eq!(
        expected,
        [
            ("vendor/app".to_owned(), "1.0.0".to_owned()),
            ("vendor/app".to_owned(), "1.2.0".to_owned()),
            ("vendor/charts/app".to_owned(), "0.1.0".to_owned()),
        ]
    );
    let page = dev.source().await;
    assert!(page.contains(&format!("docker pull {host}/vendor/app:1.2.0")), "{page}");
    assert!(
        page.contains(&format!("helm install app oci://{host}/vendor/charts/app --version 0.1.0")),
        "{page}"
    );

    // The commands as shown, pasted into a shell: the token page's `docker login` (the token
    // in it), then the tag's `docker pull` and "test your token" line (with `$WHARF_TOKEN`),
    // run by a real docker and curl.
    let shown_login = command(&dev, "vendor/app", "1.2.0", "Docker: log in").await;
    let shown_pull = command(&dev, "vendor/app", "1.2.0", "Docker: pull").await;
    let shown_test = command(&dev, "vendor/app", "1.2.0", "Test your token").await;
    assert_eq!(shown_pull, format!("docker pull {host}/vendor/app:1.2.0"));
    assert!(
        shown_login.contains("docker login") && shown_test.starts_with("curl "),
        "{shown_test}"
    );
    docker.shell(&login, &[]).unwrap_or_else(|e| panic!("{e}"));
    let pulled = docker.shell(&shown_pull, &[]).unwrap_or_else(|e| panic!("{e}"));
    assert!(pulled.contains(&format!("Digest: {pushed}")), "{pulled}");
    docker.remove(&format!("{host}/vendor/app:1.2.0"));
    docker.shell(&shown_login, &[("WHARF_TOKEN", &token)]).unwrap_or_else(|e| panic!("{e}"));
    docker.shell(&shown_pull, &[]).unwrap_or_else(|e| panic!("{e}"));
    let tags =
        docker.shell(&shown_test, &[("WHARF_TOKEN", &token)]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&tags).unwrap()["tags"],
        serde_json::json!(["1.0.0", "1.2.0"])
    );

    // The podman lines, verbatim, by a real podman (its storage set by configuration files,
    // not flags): the same digest.
    let podman = Podman::new(&data.path().join("podman"));
    let podman_login = command(&dev, "vendor/app", "1.2.0", "Podman: log in").await;
    let podman_pull = command(&dev, "vendor/app", "1.2.0", "Podman: pull").await;
    podman.shell(&podman_login, &[("WHARF_TOKEN", &token)]).unwrap_or_else(|e| panic!("{e}"));
    podman.shell(&podman_pull, &[]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(podman.digest(&format!("{host}/vendor/app:1.2.0")), pushed);

    // The chart's helm lines, run by Helm's SDK with exactly their words: log in, install
    // (a client-side dry run renders the release from the pulled chart), pull (the archive
    // the vendor pushed, byte for byte).
    let helm = Helm::new(&data.path().join("helm-customer"));
    let helm_login = command(&dev, "vendor/charts/app", "0.1.0", "Helm: log in").await;
    let helm_install = command(&dev, "vendor/charts/app", "0.1.0", "Helm: install").await;
    let helm_pull = command(&dev, "vendor/charts/app", "0.1.0", "Helm: pull").await;
    assert!(helm_install.starts_with(&format!("helm install app oci://{host}/vendor/charts/app")));
    helm.run_shown(&helm_login, &[("WHARF_TOKEN", &token)]).unwrap_or_else(|e| panic!("{e}"));
    let release = helm.run_shown(&helm_install, &[]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((&release["name"], &release["chart_version"]), (&"app".into(), &"0.1.0".into()));
    assert!(release["manifest"].as_str().unwrap().contains("greeting: \"hello\""), "{release}");
    let archive = helm.run_shown(&helm_pull, &[]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(std::fs::read(archive["archive"].as_str().unwrap()).unwrap(), archives["0.1.0"]);
    // The same lines for a version outside the license fail.
    let outside = helm_pull.replace("--version 0.1.0", "--version 0.2.0");
    let refused = helm.run_shown(&outside, &[]).expect_err("0.2.0 is outside the license");
    assert!(refused.contains("helm_client.py"), "refused by Helm, not by the test: {refused}");

    let reference: Reference = format!("{host}/vendor/app:1.2.0").parse().unwrap();
    let auth = RegistryAuth::Basic("dev@globex.test".into(), token.clone());
    let client =
        || Client::new(ClientConfig { protocol: ClientProtocol::Http, ..Default::default() });
    let layers = vec![IMAGE_LAYER_MEDIA_TYPE, "application/vnd.oci.image.layer.v1.tar"];

    // It appears under Downloads.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        dev.goto(&format!("{base}{home_path}/downloads")).await;
        if dev.source().await.contains("vendor/app:1.2.0") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{}", dev.source().await);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_accessible(&dev.client, "customer downloads").await;
    // The air-gap bundle form, and a refused choice shown beside its field.
    dev.visit(&format!("{base}{home_path}/bundle"), "customer air-gap bundle").await;
    dev.fill("tags", "9.9.9").await;
    dev.click("main form button[type=submit]").await;
    dev.wait_for_text("9.9.9: no such tag among what").await;
    assert_accessible(&dev.client, "customer air-gap bundle, refused").await;
    dev.visit(&format!("{base}{home_path}/why?reference=vendor/app:2.0.0"), "why").await;
    assert!(text_of(&dev, "why-answer").await.contains("not this version"));

    // Revoked: the next pull fails as for a name that does not exist.
    dev.visit(&format!("{base}{home_path}/tokens"), "customer tokens, one active").await;
    dev.click("form[action$='/revoke'] button").await;
    dev.wait_for_text("was revoked").await;
    let Err(revoked) = client().pull(&reference, &auth, layers.clone()).await else {
        panic!("a revoked token pulled");
    };
    let missing: Reference = format!("{host}/vendor/no-such-app:1.2.0").parse().unwrap();
    let Err(unknown) = client().pull(&missing, &auth, layers).await else {
        panic!("a missing name was pulled");
    };
    let (revoked, unknown) = (revoked.to_string(), unknown.to_string());
    assert_eq!(
        revoked.replace("vendor/app", "X"),
        unknown.replace("vendor/no-such-app", "X"),
        "revoked is answered as a name that does not exist"
    );
    let answer = as_customer.get("/v2/vendor/app/manifests/1.2.0").await;
    let nothing = as_customer.get("/v2/vendor/no-such-app/manifests/1.2.0").await;
    assert_eq!((answer.status, answer.code()), (nothing.status, nothing.code()));
}
