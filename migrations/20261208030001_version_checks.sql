-- Version checks: manifest HEAD requests by access tokens (docs/portal.md, "Version checks").
--
-- Clients send a HEAD to see whether a tag moved (`docker pull` of an image that is up to
-- date, Watchtower, Renovate, Flux, a CI job polling). They are not pulls, and a flood of them
-- must not become a raw row each: the usage recorder counts them in memory per day,
-- organization, customer, repository, reference (the tag, or the digest, as requested) and
-- client kind, and adds each batch's counts with one upsert. A HEAD followed within a second
-- or two by a GET of the same manifest by the same token is part of that pull and not counted
-- here (the recorder holds a HEAD that long before counting it). Like the pull roll-ups,
-- kept whatever the raw event retention; deleted with the organization.
create table version_checks_daily (
    organization_id uuid not null,
    day             date not null,
    -- null: the organization's own (vendor) tokens
    customer_id     uuid,
    -- the customer's name at the latest check of the group that day
    customer_name   text,
    repository      text collate "C" not null,
    -- the tag or digest as requested
    reference       text collate "C" not null,
    client_kind     text collate "C" not null,
    checks          bigint not null check (checks > 0),
    last_check_at   timestamptz not null
);

-- One row per group; reports read an organization's days in order.
create unique index version_checks_daily_key
    on version_checks_daily (organization_id, day, customer_id, repository, reference,
                             client_kind)
    nulls not distinct;

-- Deleting an organization deletes its usage, roll-ups and version checks included.
create or replace function wharf_delete_organization_usage() returns trigger
language plpgsql as $$
begin
    delete from pull_events where organization_id = old.id;
    delete from pull_daily_totals where organization_id = old.id;
    delete from pull_daily_rollup where organization_id = old.id;
    delete from version_checks_daily where organization_id = old.id;
    return old;
end
$$;
