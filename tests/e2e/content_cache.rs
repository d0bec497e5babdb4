//! The content cache never serves a stale repository: a moved tag, a deleted manifest and an
//! unlinked blob show at once on the instance that took the change, and within a second on
//! another instance that had the old answer cached.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use wharf_db::{PgPool, tokens::TokenOwner};
use wharf_e2e::{
    ServeOptions, Wharf, fresh_database, insert_token, organization_with_owner, raw::RawRegistry,
    scratch_dir,
};

/// Polls `path` on `registry` until `check` accepts the answer; fails after a second.
async fn within_a_second(
    registry: &RawRegistry,
    path: &str,
    what: &str,
    check: impl Fn(&wharf_e2e::raw::Answer) -> bool,
) {
    let start = Instant::now();
    loop {
        let answer = registry.get(path).await;
        if check(&answer) {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(1), "{what}: not within a second");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn changes_show_at_once_here_and_within_a_second_elsewhere() {
    let url = fresh_database().await;
    let out = wharf_e2e::run_wharf(&["migrate"], &[("DATABASE_URL", &url)]);
    assert!(out.status.success(), "{}", out.stderr);
    let pool = PgPool::connect(&url).await.unwrap();
    let (org, owner) = organization_with_owner(&pool, "vendor").await;
    let (_, token) =
        insert_token(&pool, org, TokenOwner::Vendor { user_id: owner, read_only: false }).await;
    let scratch = scratch_dir();
    let shared = [("WHARF_PUBLIC_URL".to_owned(), "http://registry.test".to_owned())];
    let options = ServeOptions { database_url: Some(url.clone()), env: shared.into() };
    let (dir_a, dir_b) = (scratch.path().join("a"), scratch.path().join("b"));
    let (wharf_a, wharf_b) =
        tokio::join!(Wharf::start(&dir_a, &options), Wharf::start(&dir_b, &options));
    let a = RawRegistry::with_token(&wharf_a.url, &token);
    let b = RawRegistry::with_token(&wharf_b.url, &token);

    let first = a.push_image("vendor/app", Some("1.0"), None).await;
    let tag = "/v2/vendor/app/manifests/1.0";
    let by_digest = format!("/v2/vendor/app/manifests/{}", first.manifest);
    // Both instances read it (and cache it), by tag and by digest, twice.
    for registry in [&a, &b] {
        for _ in 0..2 {
            assert_eq!(registry.get(tag).await.digest.as_deref(), Some(first.manifest.as_str()));
            assert_eq!(registry.get(&by_digest).await.status, 200);
            assert_eq!(registry.head(tag).await.status, 200);
        }
    }

    // The tag moves on A: A answers the new digest on the very next request, B within 1 s.
    let second = a.push_image("vendor/app", Some("1.0"), None).await;
    assert_eq!(a.get(tag).await.digest.as_deref(), Some(second.manifest.as_str()));
    assert_eq!(a.head(tag).await.digest.as_deref(), Some(second.manifest.as_str()));
    within_a_second(&b, tag, "B sees the moved tag", |answer| {
        answer.digest.as_deref() == Some(second.manifest.as_str())
    })
    .await;

    // The first manifest is deleted on B: B answers 404 at once, A within a second.
    assert_eq!(b.delete(&by_digest).await.status, 202);
    assert_eq!(b.get(&by_digest).await.status, 404);
    within_a_second(&a, &by_digest, "A forgets the deleted manifest", |answer| {
        answer.status == 404
    })
    .await;

    // A blob both instances have seen is unlinked on A: A answers 404 at once, B within 1 s.
    let layer = format!("/v2/vendor/app/blobs/{}", second.layer);
    // (Each instance has its own filesystem here, so only A holds the bytes.)
    assert_eq!(a.get(&layer).await.status, 200);
    for registry in [&a, &b] {
        assert_eq!(registry.head(&layer).await.status, 200);
    }
    assert_eq!(a.delete(&layer).await.status, 202);
    assert_eq!(a.head(&layer).await.status, 404);
    within_a_second(&b, &layer, "B forgets the unlinked blob", |answer| answer.status == 404).await;

    // A tag deleted by direct SQL (any code path) reaches both through the notification.
    sqlx::query("delete from tags where name = '1.0'").execute(&pool).await.unwrap();
    for registry in [&a, &b] {
        within_a_second(registry, tag, "the deleted tag", |answer| answer.status == 404).await;
    }
}
