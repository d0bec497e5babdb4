-- The vendor portal lists customers by name, case-insensitively, a page at a time.
create index customers_organization_name on customers (organization_id, lower(name), id);

-- Per-repository tag immutability: a push of an existing tag with other content is refused
-- (DENIED), so a released version can never change under a customer. Set in the vendor
-- portal or the API; checked inside the push's one statement, under the tag's lock.
alter table repositories add column immutable_tags boolean not null default false;

-- The push function of migration `manifest_push`, with the immutability check before
-- anything is written (`status = 'immutable'`, `moved_from` = the digest the tag keeps).
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
