//! The customer portal's screenshots with the vendor's branding applied, and the vendor's
//! Settings page (with a preview) and branded sign-in.

use std::time::Duration;

use wharf_e2e::{browser::Browser, raw::RawRegistry, vendor_token};

use super::Shooter;

/// Seeds artifacts, a license, branding, a token and pulls for customer `customer` of the
/// `vendor` organization `org`, then shoots Settings and every customer page. The shooter's
/// browser is signed in as the organization's owner, also an admin of the customer.
pub async fn shoot(
    shots: &mut Shooter,
    base: &str,
    database_url: &str,
    pool: &wharf_db::PgPool,
    org: uuid::Uuid,
    customer: uuid::Uuid,
) {
    let vendor = vendor_token(database_url, "screenshots");
    let registry = RawRegistry::with_token(base, &vendor);
    for tag in ["1.0.0", "1.1.0", "1.2.0", "2.0.0"] {
        registry.push_image("vendor/app", Some(tag), None).await;
    }
    let amd = registry.push_image("vendor/agent", None, None).await;
    let arm = registry.push_image("vendor/agent", None, None).await;
    registry.push_index("vendor/agent", "3.4.0", &[&amd, &arm]).await;
    let semver = |range: &str| {
        wharf_entitlements::TagSelectorSpec::Semver {
            range: range.into(),
            allow_v_prefix: false,
            include_prereleases: false,
        }
        .validate()
        .unwrap()
    };
    let grants = [
        wharf_entitlements::Grant::new(
            "vendor",
            "vendor/app",
            semver(">=1.0.0 <2.0.0"),
            None,
            None,
        )
        .unwrap(),
        wharf_entitlements::Grant::new(
            "vendor",
            "vendor/agent",
            wharf_entitlements::TagSelector::All,
            None,
            None,
        )
        .unwrap(),
    ];
    wharf_db::testing::license(pool, org, customer, "Enterprise 2026", &grants).await;
    wharf_db::branding::update(
        pool,
        org,
        &wharf_db::branding::BrandingUpdate {
            title: "Acme Downloads",
            primary_color: Some("#7c3aed"),
            welcome_markdown: "## Welcome to Acme Downloads\n\nEverything your licenses cover, \
                               ready to install. Start with the **Get started** steps below; \
                               questions go to [support@acme.test](mailto:support@acme.test).",
            registry_host: None,
            show_pull_history: true,
        },
    )
    .await
    .unwrap();
    let logo = br##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 120 32"><rect width="32" height="32" rx="6" fill="#7c3aed"/><text x="40" y="23" font-family="sans-serif" font-size="20" fill="#1b1f24">ACME</text></svg>"##;
    let sha = wharf_app::branding::sha256_hex(logo);
    wharf_db::branding::set_logo(pool, org, Some((logo, "image/svg+xml", &sha))).await.unwrap();

    shots.page(&format!("{base}/vendor/vendor/settings"), "settings").await;
    shots.fill("primary_color", "#0e7490").await;
    shots
        .browser
        .client
        .find(fantoccini::Locator::Css("button[value=preview]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    shots.shoot("settings-preview").await;

    let home = format!("{base}/customer/vendor/{customer}");
    shots.page(&home, "customer-home-branded").await;
    shots.page(&format!("{home}/artifacts"), "customer-artifacts").await;
    shots.page(&format!("{home}/bundle"), "customer-bundle").await;
    shots.fill("tags", "9.9.9").await;
    shots.submit().await;
    shots.shoot("customer-bundle-refused").await;
    shots.page(&format!("{home}/tokens"), "customer-tokens-empty").await;
    shots.fill("name", "Production cluster").await;
    shots.submit().await;
    shots.shoot("customer-token-created").await;
    let token = shots
        .browser
        .client
        .find(fantoccini::Locator::Id("new-token"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let as_customer = RawRegistry::with_token(base, &token);
    for tag in ["1.2.0", "1.1.0"] {
        as_customer.get(&format!("/v2/vendor/app/manifests/{tag}")).await;
    }
    as_customer.get("/v2/vendor/agent/manifests/3.4.0").await;
    shots.page(&format!("{home}/tokens"), "customer-tokens").await;
    shots.page(&format!("{home}/team"), "customer-team").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    shots.page(&format!("{home}/downloads"), "customer-downloads").await;
    shots.page(&format!("{home}/why?reference=vendor/app:1.2.0"), "customer-why-yes").await;
    shots.page(&format!("{home}/why?reference=vendor/app:2.0.0"), "customer-why-no").await;

    // The branded sign-in, for someone not signed in.
    let signed_in = std::mem::replace(&mut shots.browser, Browser::start().await);
    shots.page(&format!("{base}/s/vendor/sign-in"), "sign-in-branded").await;
    let anonymous = std::mem::replace(&mut shots.browser, signed_in);
    anonymous.close().await;
}
