-- A manifest push in one statement: `wharf_db::registry::manifests::put` calls this function
-- instead of sending the dozen statements of the push one by one (repository lookup,
-- reference checks, the manifest, its blobs and children, the tag lock, the tag, its
-- history), each a round trip and a wake-up of this backend. Called outside an explicit
-- transaction, the call is its own transaction: everything or nothing, as before.
--
-- The steps and their locks are those the Rust code took, in the same order:
--   1. the repository, by id or by (organization, name): `no_repository` when there is none;
--   2. the referenced blobs (not external) must be linked to the repository, the children
--      (of an index) must be manifests in it; what was found is locked `for share`, so a
--      concurrent unlink or delete waits for this push; when anything is missing, nothing
--      changes and `missing` lists it (blobs in manifest order, then children);
--   3. the manifest, unless it exists already (then its stored row and graph are kept), and
--      when it is new its blobs and children, in order;
--   4. the tag, if any: a transaction-scoped advisory lock per (repository, tag) serialises
--      concurrent pushes of one tag; each statement of a volatile function reads a fresh
--      snapshot, so the current digest is read after the lock, as a separate statement did.
--      Moving the tag closes its open history period and opens one; pointing it at the digest
--      it has already changes nothing. `moved_from` is the digest it left.
-- Times are `clock_timestamp()`, read after the lock (see `tags.rs`).
create function wharf_put_manifest(
    p_repository_id     uuid,
    p_organization_id   uuid,
    p_repository        text,
    p_digest            text,
    p_media_type        text,
    p_artifact_type     text,
    p_bytes             bytea,
    p_subject           text,
    p_annotations       jsonb,
    p_blob_kinds        text[],
    p_blob_digests      text[],
    p_blob_media_types  text[],
    p_blob_sizes        bigint[],
    p_blob_external     boolean[],
    p_child_digests     text[],
    p_child_media_types text[],
    p_child_sizes       bigint[],
    p_child_os          text[],
    p_child_arch        text[],
    p_child_variant     text[],
    p_tag               text,
    out status          text,
    out missing         text[],
    out moved_from      text
) language plpgsql
-- Plan each statement once per connection. With the default, Postgres kept planning the
-- statements that read the arrays afresh on every call (a custom plan knows their lengths,
-- so looked cheaper than the generic one), about a sixth of the push's CPU; every statement
-- here is a primary-key or unique-index lookup, so the generic plan is the right one.
set plan_cache_mode = force_generic_plan
as $$
declare
    v_repository     uuid;
    v_found_blobs    text[];
    v_found_children text[];
    v_current        text;
begin
    if p_repository_id is not null then
        select id into v_repository from repositories where id = p_repository_id;
    else
        select id into v_repository from repositories
        where name = p_repository and organization_id = p_organization_id;
    end if;
    if v_repository is null then
        status := 'no_repository';
        return;
    end if;

    -- One primary-key lookup per reference (`lateral`), whatever the statistics say: the
    -- function's plans are generic, and `digest = any(..)` let the planner scan every link
    -- or manifest of the repository and filter, a cost that grew with the repository.
    v_found_blobs := array(
        select f.digest
        from unnest(p_blob_digests, p_blob_external) as b(d, ext)
        cross join lateral (
            select l.digest from repository_blobs l
            where l.repository_id = v_repository and l.digest = b.d
            for share) as f
        where not b.ext);
    v_found_children := array(
        select f.digest
        from unnest(p_child_digests) as c(d)
        cross join lateral (
            select m.digest from manifests m
            where m.repository_id = v_repository and m.digest = c.d
            for share) as f);
    missing := array(
            select b.d from unnest(p_blob_digests, p_blob_external) with ordinality as b(d, ext, n)
            where not b.ext and b.d <> all(v_found_blobs) order by b.n)
        || array(
            select c.d from unnest(p_child_digests) with ordinality as c(d, n)
            where c.d <> all(v_found_children) order by c.n);
    if cardinality(missing) > 0 then
        status := 'missing';
        return;
    end if;

    insert into manifests
        (repository_id, digest, media_type, artifact_type, size, bytes, subject_digest, annotations)
    values (v_repository, p_digest, p_media_type, p_artifact_type, octet_length(p_bytes), p_bytes,
            p_subject, p_annotations)
    on conflict (repository_id, digest) do nothing;
    if found then
        insert into manifest_blobs
            (repository_id, manifest_digest, position, kind, digest, media_type, size, external)
        select v_repository, p_digest, (b.n - 1)::integer, b.kind, b.digest, b.media_type, b.size,
               b.external
        from unnest(p_blob_kinds, p_blob_digests, p_blob_media_types, p_blob_sizes,
                    p_blob_external) with ordinality as b(kind, digest, media_type, size, external, n);
        insert into manifest_children
            (repository_id, index_digest, position, child_digest, media_type, size,
             platform_os, platform_arch, platform_variant)
        select v_repository, p_digest, (c.n - 1)::integer, c.digest, c.media_type, c.size,
               c.os, c.arch, c.variant
        from unnest(p_child_digests, p_child_media_types, p_child_sizes, p_child_os, p_child_arch,
                    p_child_variant) with ordinality as c(digest, media_type, size, os, arch, variant, n);
    end if;

    if p_tag is not null then
        perform pg_advisory_xact_lock(hashtextextended(v_repository::text || ':' || p_tag, 0));
        select digest into v_current from tags where repository_id = v_repository and name = p_tag;
        if v_current is distinct from p_digest then
            update tag_history set valid_until = greatest(valid_from, clock_timestamp())
            where repository_id = v_repository and tag = p_tag and valid_until is null;
            insert into tags (repository_id, name, digest, pushed_at)
            values (v_repository, p_tag, p_digest, clock_timestamp())
            on conflict (repository_id, name)
            do update set digest = excluded.digest, pushed_at = excluded.pushed_at;
            insert into tag_history (repository_id, tag, digest, valid_from)
            values (v_repository, p_tag, p_digest, clock_timestamp());
            moved_from := v_current;
        end if;
    end if;
    status := 'stored';
end
$$;
