-- A blob unlinked from a repository (DELETE on /v2, garbage collection, a deleted
-- repository) must stop being served by every instance's content cache at once: notify
-- `repository:<name>` as for tags and manifests (migration `licenses`). New links need no
-- notification: the caches hold only what was found to exist.
create trigger repository_blobs_invalidate
    after delete on repository_blobs
    for each row execute function wharf_invalidate_repository();
