//! The browser harness itself (`wharf_e2e::browser`): headless Chromium opens what a real
//! `wharf serve` serves, keeps its cookies, resizes and takes screenshots, and axe-core passes
//! an accessible document and catches an inaccessible one, so a page test that calls
//! `assert_accessible` can fail.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;

use wharf_e2e::{
    ServeOptions, Wharf,
    browser::{Browser, assert_accessible, axe_violations, data_url},
    fresh_database, scratch_dir,
};

const ACCESSIBLE: &str = r##"<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Tokens</title></head>
<body>
<header><nav aria-label="Main"><a href="#tokens">Tokens</a></nav></header>
<main id="tokens">
<h1>Access tokens</h1>
<form>
  <label for="name">Name</label>
  <input id="name" name="name" type="text" autocomplete="off">
  <button type="submit">Create token</button>
</form>
<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" alt="Acme logo" width="1" height="1">
</main>
</body>
</html>"##;

const IMAGE_WITHOUT_ALT: &str = r#"<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Logo</title></head>
<body><main><h1>Logo</h1><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw="></main></body>
</html>"#;

#[tokio::test]
async fn chromium_opens_wharf_and_axe_tells_accessible_from_inaccessible() {
    let data = scratch_dir();
    let options = ServeOptions { database_url: Some(fresh_database().await), env: HashMap::new() };
    let wharf = Wharf::start(data.path(), &options).await;
    let browser = Browser::start().await;

    // A page of the real server, with the cookies of its origin.
    browser.goto(&format!("{}/healthz", wharf.url)).await;
    assert!(browser.source().await.contains(r#""status":"ok""#), "{}", browser.source().await);
    assert!(browser.cookie("probe").await.is_none());
    browser
        .client
        .execute("document.cookie = 'probe=1; path=/; SameSite=Strict'", vec![])
        .await
        .unwrap();
    let cookie = browser.cookie("probe").await.expect("the cookie just set");
    assert_eq!(cookie.value(), "1");
    assert_eq!(cookie.path(), Some("/"));
    assert_eq!(cookie.same_site().map(|s| s.to_string()).as_deref(), Some("Strict"));
    assert_eq!(cookie.http_only(), Some(false));

    // A document without faults passes; one image without `alt` is caught.
    browser.goto(&data_url(ACCESSIBLE)).await;
    assert_accessible(&browser.client, "accessible document").await;
    browser.goto(&data_url(IMAGE_WITHOUT_ALT)).await;
    let violations = axe_violations(&browser.client).await;
    let ids: Vec<&str> = violations.iter().map(|v| v.id.as_str()).collect();
    assert_eq!(ids, ["image-alt"], "{violations:?}");
    assert_eq!(violations[0].impact.as_deref(), Some("critical"));
    assert!(violations[0].nodes[0].html.starts_with("<img"), "{violations:?}");

    // A phone-sized window and a screenshot of it.
    browser.set_window_size(390, 844).await;
    let width = browser.client.execute("return window.innerWidth;", vec![]).await.unwrap();
    assert!(width.as_u64().is_some_and(|w| w > 300 && w <= 390), "innerWidth {width}");
    let shot = data.path().join("screenshots/phone.png");
    browser.screenshot_png(&shot).await;
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");

    browser.close().await;
}
