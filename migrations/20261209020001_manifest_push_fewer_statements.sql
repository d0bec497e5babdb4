-- The push function with fewer statements per push: the same checks, writes, locks and
-- results as migration `manifest_push_notify_after_commit`, in 5 statements instead of 12
-- for an image manifest pushed with a new tag (the benchmark's push, and a release's).
--
-- Why: every statement a PL/pgSQL function runs pays the executor's start and end, and an
-- `insert ... on conflict` a speculative insertion (an extra lookup and WAL record). Every
-- statement here is a key lookup or a one-row insert, so that fixed cost was a good part of
-- the push's Postgres CPU (docs/performance.md, "Manifest PUT, sequential").
--
-- What changed:
-- * The repository and the blobs it lacks: one statement (the links are still looked up
--   by primary key and locked `for share` when found), instead of three (repository, links
--   found, references not among them).
-- * Children (an index): looked up and inserted only when there are some, so an image
--   manifest runs none of those statements.
-- * The manifest and its blob rows: one statement (data-modifying `with`), the blob rows
--   only when the manifest was inserted, as before.
-- * A new tag (no tag of that name in the repository): `tags` and `tag_history` inserted in
--   one statement, a plain insert into `tags` (no `on conflict`), and no `update` of
--   `tag_history`, which could only find nothing. Both rest on invariants every writer
--   keeps:
--   - `tags` rows are inserted only here, under the tag's advisory lock, taken before the
--     tag is read: a concurrent push of the same tag waits for this one's commit and then
--     sees its tag, so the plain insert cannot meet a conflicting row;
--   - every removal of a tag closes its open history first (`tags::delete`,
--     `manifests::delete`) or removes the history with it (a repository's deletion
--     cascades to both), so a tag without a row has no open history entry. Were that ever
--     broken, the unique index `tag_history_open` refuses the insert: the push fails, it
--     never records two open periods.
-- * A moved tag: `update` of `tags` (its history closed and opened as before); if the tag
--   vanished meanwhile (`tags::delete` takes no advisory lock), it is inserted again, as
--   the upsert did, and the caller is told to notify (that insert's trigger is silent).
--
-- The foreign keys stay: each costs a key lookup per inserted row, and they are what
-- cascades deletes (measured: dropping the four of them changed the push's Postgres CPU by
-- less than the noise).

create or replace function wharf_put_manifest(
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
-- As before: one generic plan per statement and connection (every statement is a key
-- lookup), and the insert triggers on `manifests` and `tags` silent inside the function.
set plan_cache_mode = force_generic_plan
set wharf.notify_after_commit = 'on'
as $$
declare
    v_repository     uuid;
    v_current        text;
    v_immutable      boolean;
    v_has_children   boolean := cardinality(p_child_digests) > 0;
begin
    -- The repository, and the blobs it lacks, in one statement. One primary-key lookup per
    -- reference (`lateral`), locking each link found so a concurrent delete cannot slip in
    -- before the commit; what is not found is missing, in the manifest's order.
    if p_repository_id is not null then
        select r.id, r.immutable_tags, array(
                select b.d
                from unnest(p_blob_digests, p_blob_external) with ordinality as b(d, ext, n)
                left join lateral (
                    select l.digest from repository_blobs l
                    where l.repository_id = r.id and l.digest = b.d
                    for share) as f on true
                where not b.ext and f.digest is null
                order by b.n)
        into v_repository, v_immutable, missing
        from repositories r where r.id = p_repository_id;
    else
        select r.id, r.immutable_tags, array(
                select b.d
                from unnest(p_blob_digests, p_blob_external) with ordinality as b(d, ext, n)
                left join lateral (
                    select l.digest from repository_blobs l
                    where l.repository_id = r.id and l.digest = b.d
                    for share) as f on true
                where not b.ext and f.digest is null
                order by b.n)
        into v_repository, v_immutable, missing
        from repositories r where r.name = p_repository and r.organization_id = p_organization_id;
    end if;
    if v_repository is null then
        status := 'no_repository';
        missing := null;
        return;
    end if;

    -- Children (an index), the same way, after the blobs.
    if v_has_children then
        missing := missing || array(
            select c.d
            from unnest(p_child_digests) with ordinality as c(d, n)
            left join lateral (
                select m.digest from manifests m
                where m.repository_id = v_repository and m.digest = c.d
                for share) as f on true
            where f.digest is null
            order by c.n);
    end if;
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

    -- The manifest and its blob rows in one statement; the blob rows only when the manifest
    -- was not there yet (its graph is then stored already).
    with m as (
        insert into manifests
            (repository_id, digest, media_type, artifact_type, size, bytes, subject_digest,
             annotations)
        values (v_repository, p_digest, p_media_type, p_artifact_type, octet_length(p_bytes),
                p_bytes, p_subject, p_annotations)
        on conflict (repository_id, digest) do nothing
        returning 1
    ), b as (
        insert into manifest_blobs
            (repository_id, manifest_digest, position, kind, digest, media_type, size, external)
        select v_repository, p_digest, (b.n - 1)::integer, b.kind, b.digest, b.media_type,
               b.size, b.external
        from unnest(p_blob_kinds, p_blob_digests, p_blob_media_types, p_blob_sizes,
                    p_blob_external) with ordinality as b(kind, digest, media_type, size, external, n)
        where exists (select from m)
    )
    select count(*) > 0 into notify_after_commit from m;
    if notify_after_commit and v_has_children then
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
        if v_current is null then
            -- A new tag: nothing to close, nobody else inserting it (see above).
            with t as (
                insert into tags (repository_id, name, digest, pushed_at)
                values (v_repository, p_tag, p_digest, clock_timestamp())
            )
            insert into tag_history (repository_id, tag, digest, valid_from)
            values (v_repository, p_tag, p_digest, clock_timestamp());
            -- An insert into `tags`: its trigger stayed silent, the caller notifies.
            notify_after_commit := true;
        elsif v_current <> p_digest then
            update tag_history set valid_until = greatest(valid_from, clock_timestamp())
            where repository_id = v_repository and tag = p_tag and valid_until is null;
            update tags set digest = p_digest, pushed_at = clock_timestamp()
            where repository_id = v_repository and name = p_tag;
            -- A moved tag is an update of `tags`: its trigger notifies in this transaction,
            -- for the new manifest too (same payload).
            notify_after_commit := false;
            if not found then
                -- Deleted since it was read (a tag delete takes no advisory lock): set again
                -- by an insert, whose trigger stays silent.
                insert into tags (repository_id, name, digest, pushed_at)
                values (v_repository, p_tag, p_digest, clock_timestamp());
                notify_after_commit := true;
            end if;
            insert into tag_history (repository_id, tag, digest, valid_from)
            values (v_repository, p_tag, p_digest, clock_timestamp());
            moved_from := v_current;
        end if;
    end if;
    status := 'stored';
end
$$;
