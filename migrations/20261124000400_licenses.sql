-- Licenses and their grants: what each customer may pull.
--
-- A license belongs to one customer of one vendor organization; its grants name a repository
-- (exact, or a prefix ending in `/*`) and a tag selector. What a valid grant is is decided in
-- one place, `wharf-entitlements` (`GrantSpec::validate`); rows here are written only from
-- validated grants, and the checks below are a second line of defence. The semantics are in
-- docs/entitlements.md.

create table licenses (
    id              uuid primary key,
    organization_id uuid not null,
    customer_id     uuid not null,
    name            text not null check (length(name) between 1 and 200),
    starts_at       timestamptz not null,
    expires_at      timestamptz,
    -- After `expires_at`: `revoke` grants nothing; `keep_released` keeps what was pushed
    -- before `expires_at`.
    on_expiry       text not null check (on_expiry in ('revoke', 'keep_released')),
    -- A suspended license grants nothing, whatever its dates.
    suspended       boolean not null default false,
    notes           text not null default '' check (length(notes) <= 4000),
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    check (expires_at is null or expires_at > starts_at),
    -- A license belongs to a customer of its own organization.
    foreign key (organization_id, customer_id)
        references customers (organization_id, id) on delete cascade
);

create index licenses_customer on licenses (customer_id, created_at, id);
create index licenses_organization on licenses (organization_id);

-- The grants of a license, in the order the vendor gave them (decision reasons point at a
-- grant by its position).
create table license_grants (
    license_id       uuid not null references licenses (id) on delete cascade,
    position         integer not null check (position >= 0),
    -- `acme/app` or `acme/charts/*`.
    repository       text not null check (length(repository) between 3 and 257),
    -- The tag selector as JSON: {"kind":"all"} | {"kind":"exact","values":[..]} |
    -- {"kind":"glob","pattern":".."} | {"kind":"semver","range":"..",
    -- "allow_v_prefix":bool,"include_prereleases":bool}.
    tags             jsonb not null check (jsonb_typeof(tags) = 'object' and tags ? 'kind'),
    -- Bounds on the tag's push time: after inclusive, before exclusive.
    published_after  timestamptz,
    published_before timestamptz,
    primary key (license_id, position),
    check (published_after is null or published_before is null
           or published_before > published_after)
);

-- Keep every instance's in-memory entitlement view current (see the `invalidation`
-- migration for the channel). Payloads:
--   `entitlements:<customer uuid>`  a license or grant of that customer changed;
--   `repository:<name>`             a repository's tags, manifests or public flag changed.
-- pg_notify is transactional and folds identical payloads within a transaction, so a push
-- that writes many rows sends one notification per repository, at commit.

create function wharf_invalidate_license() returns trigger language plpgsql as $$
begin
    if tg_op = 'DELETE' then
        perform pg_notify('wharf_invalidate', 'entitlements:' || old.customer_id::text);
    else
        perform pg_notify('wharf_invalidate', 'entitlements:' || new.customer_id::text);
    end if;
    if tg_op = 'UPDATE' and new.customer_id <> old.customer_id then
        perform pg_notify('wharf_invalidate', 'entitlements:' || old.customer_id::text);
    end if;
    return null;
end
$$;

create trigger licenses_invalidate
    after insert or update or delete on licenses
    for each row execute function wharf_invalidate_license();

create function wharf_invalidate_grant() returns trigger language plpgsql as $$
begin
    -- When the license itself is being deleted its own trigger has notified already.
    perform pg_notify('wharf_invalidate', 'entitlements:' || l.customer_id::text)
    from licenses l
    where l.id = case when tg_op = 'DELETE' then old.license_id else new.license_id end;
    return null;
end
$$;

create trigger license_grants_invalidate
    after insert or update or delete on license_grants
    for each row execute function wharf_invalidate_grant();

create function wharf_invalidate_repository() returns trigger language plpgsql as $$
begin
    if tg_table_name = 'repositories' then
        perform pg_notify('wharf_invalidate', 'repository:' || old.name);
        if tg_op = 'UPDATE' and new.name <> old.name then
            perform pg_notify('wharf_invalidate', 'repository:' || new.name);
        end if;
    elsif tg_op = 'DELETE' then
        perform pg_notify('wharf_invalidate', 'repository:' || r.name)
        from repositories r where r.id = old.repository_id;
    else
        perform pg_notify('wharf_invalidate', 'repository:' || r.name)
        from repositories r where r.id = new.repository_id;
    end if;
    return null;
end
$$;

create trigger repositories_invalidate
    after update of public, name or delete on repositories
    for each row execute function wharf_invalidate_repository();

create trigger tags_invalidate
    after insert or update or delete on tags
    for each row execute function wharf_invalidate_repository();

create trigger manifests_invalidate
    after insert or delete on manifests
    for each row execute function wharf_invalidate_repository();
