-- A manifest push no longer sends NOTIFY from inside its transaction when all it does is add
-- (a new manifest, a new tag); the caller sends `repository:<name>` right after the commit
-- (`wharf_db::registry::manifests::put`, with `synchronous_commit = off`).
--
-- Why: a transaction that has queued a notification takes a cluster-wide lock at commit
-- (Postgres's `PreCommit_Notify`, so that notifications are queued in commit order) and holds
-- it until the commit is flushed to the WAL. Every push was such a transaction, so concurrent
-- pushes committed one after the other, each waiting for its own WAL flush, and never shared
-- one (group commit). Measured with pgbench on this function (4 clients, the benchmark's
-- manifests; docs/performance.md): about 200 pushes/s with the notification inside, 250-300
-- with it sent after the commit, the same as with no notification at all.
--
-- What stays inside the transaction: everything that can make a cache wrong. A tag that
-- moves (an update of `tags`), deletes of tags, manifests and blob links, repository changes:
-- their triggers are unchanged. Additions only make something new visible: the content cache
-- holds only what exists, and an entitlement set that misses a new tag denies it (fail
-- closed). If the process dies between the commit and the notification, other instances
-- learn of the addition with the repository's next change (or their next resynchronisation
-- after a reconnect), and until then answer as before the push; nothing is served that
-- should not be.
--
-- The insert triggers skip rows written inside `wharf_put_manifest`, which sets
-- `wharf.notify_after_commit` for its own duration (a function `set` clause); the `when`
-- clause is evaluated without calling the trigger function. The function also says whether
-- the caller has to notify (`notify_after_commit`: it added a manifest or a tag and no
-- trigger notified).

drop trigger tags_invalidate on tags;
drop trigger manifests_invalidate on manifests;

create trigger tags_invalidate
    after update or delete on tags
    for each row execute function wharf_invalidate_repository();

create trigger tags_insert_invalidate
    after insert on tags
    for each row
    when (current_setting('wharf.notify_after_commit', true) is distinct from 'on')
    execute function wharf_invalidate_repository();

create trigger manifests_invalidate
    after delete on manifests
    for each row execute function wharf_invalidate_repository();

create trigger manifests_insert_invalidate
    after insert on manifests
    for each row
    when (current_setting('wharf.notify_after_commit', true) is distinct from 'on')
    execute function wharf_invalidate_repository();

-- The push function of migration `vendor_portal`, with `notify_after_commit` (a new out
-- parameter changes its result type, so it is dropped and created again).
drop function wharf_put_manifest(uuid, uuid, text, text, text, text, bytea, text, jsonb, text[],
    text[], text[], bigint[], boolean[], text[], text[], bigint[], text[], text[], text[], text);

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
    out moved_from      text,
    out notify_after_commit boolean
) language plpgsql
-- Plan each statement once per connection. With the default, Postgres kept planning the
-- statements that read the arrays afresh on every call (a custom plan knows their lengths,
-- so looked cheaper than the generic one), about a sixth of the push's CPU; every statement
-- here is a primary-key or unique-index lookup, so the generic plan is the right one.
set plan_cache_mode = force_generic_plan
-- Read by the `when` of the insert triggers below: inside this function they stay silent.
set wharf.notify_after_commit = 'on'
as $$
declare
    v_repository     uuid;
    v_found_blobs    text[];
    v_found_children text[];
    v_current        text;
    v_immutable      boolean;
begin
    if p_repository_id is not null then
        select id, immutable_tags into v_repository, v_immutable
        from repositories where id = p_repository_id;
    else
        select id, immutable_tags into v_repository, v_immutable from repositories
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

    -- An immutable tag that exists is never moved: nothing changes, and `moved_from` says
    -- where it points. The tag's lock is taken here (advisory locks are re-entrant), so a
    -- concurrent first push of the tag cannot slip in between the check and the tag step.
    if p_tag is not null and v_immutable then
        perform pg_advisory_xact_lock(hashtextextended(v_repository::text || ':' || p_tag, 0));
        select digest into v_current from tags where repository_id = v_repository and name = p_tag;
        if v_current is not null and v_current <> p_digest then
            status := 'immutable';
            moved_from := v_current;
            return;
        end if;
    end if;

    insert into manifests
        (repository_id, digest, media_type, artifact_type, size, bytes, subject_digest, annotations)
    values (v_repository, p_digest, p_media_type, p_artifact_type, octet_length(p_bytes), p_bytes,
            p_subject, p_annotations)
    on conflict (repository_id, digest) do nothing;
    notify_after_commit := found;
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
            -- A moved tag was an update of `tags`: its trigger has notified in this
            -- transaction, for the new manifest too (same payload). A new tag is an insert,
            -- left to the caller.
            notify_after_commit := v_current is null;
        end if;
    end if;
    status := 'stored';
end
$$;
