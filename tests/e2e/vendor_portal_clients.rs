//! The vendor portal's rules as real clients meet them: with tag immutability on, a real
//! `docker push` of an existing tag with other content fails with the registry's reason, the
//! tag keeps its digest, and a new tag still pushes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;

use wharf_e2e::{
    clients::{docker::Docker, fixtures, process::client_scratch},
    wharf_with_vendor_token,
};

#[tokio::test]
async fn docker_cannot_move_an_immutable_tag_and_says_why() {
    let scratch = client_scratch();
    let dir = scratch.path();
    let (wharf, token) = wharf_with_vendor_token(&dir.join("wharf"), HashMap::new()).await;
    let host = wharf.url.trim_start_matches("http://").to_owned();
    let docker = Docker::start(&dir.join("docker"));
    docker.login(&host, "vendor", &token);

    let reference = format!("{host}/vendor/app:1.0");
    docker.import(&fixtures::single_file_tar(&dir.join("first")), &reference);
    let first = docker.push(&reference);
    let pool =
        wharf_db::PgPool::connect(wharf.options().database_url.as_deref().unwrap()).await.unwrap();
    let repository =
        wharf_db::registry::repositories::find(&pool, "vendor/app").await.unwrap().unwrap();
    // What the portal's "Immutable" rule stores.
    wharf_db::registry::repositories::set_immutable_tags(&pool, repository.id, true).await.unwrap();

    // Other content under the same tag.
    let other = dir.join("second");
    std::fs::create_dir_all(&other).unwrap();
    let tar = other.join("other.tar");
    std::fs::write(&tar, fixtures::tar(&[("hello.txt", b"another release")])).unwrap();
    docker.import(&tar, &reference);
    let refused = docker.try_push(&reference).unwrap_err();
    assert!(refused.contains("immutable"), "docker says why: {refused}");
    let tag = wharf_db::registry::tags::digest_of(&pool, repository.id, "1.0").await.unwrap();
    assert_eq!(tag.as_deref(), Some(first.as_str()), "the tag keeps its digest");

    // A new tag is fine.
    let next = format!("{host}/vendor/app:1.1");
    docker.import(&tar, &next);
    let pushed = docker.push(&next);
    assert_ne!(pushed, first);
}
