-- Pull totals per organization, UTC day and one dimension at a time (the day's total, each
-- customer, repository, repository:tag and client kind): what the vendor portal's dashboard
-- and unfiltered analytics read, so that a month of reports adds up a few thousand rows
-- instead of every pull event (docs/performance.md, "Report pages").
--
-- Kept by a statement trigger on pull_events: each batch the usage writer inserts is
-- aggregated and added in one upsert (in key order, so concurrent writers lock rows in the
-- same order). Like blob_bytes_daily, kept whatever the age of the raw events; deleted with
-- the organization. Only top-level pulls count (an index pull's child GETs are part of it),
-- each event weighing the identical GETs it stands for (`requests`).
create table pull_daily_totals (
    organization_id uuid not null,
    day             date not null,
    dimension       text collate "C" not null
        check (dimension in ('total', 'customer', 'repository', 'tag', 'client')),
    -- '' for the total; a customer id or 'vendor'; a repository; 'repository:tag'; a client
    key             text collate "C" not null,
    -- the customer's name at a pull that day (reports prefer the current name)
    name            text,
    pulls           bigint not null check (pulls >= 0),
    -- one dimension's days are one index range: a report reads only the dimensions it shows
    primary key (organization_id, dimension, day, key)
);

create function pull_events_roll_up() returns trigger language plpgsql as $$
begin
    insert into pull_daily_totals (organization_id, day, dimension, key, name, pulls)
    select e.organization_id, (e.at at time zone 'UTC')::date, d.dimension, d.key,
           max(d.name), sum(e.requests)
    from inserted e
    cross join lateral (
        select 'total', '', null::text
        union all select 'customer', coalesce(e.customer_id::text, 'vendor'), e.customer_name
        union all select 'repository', e.repository, null
        union all select 'client', e.client_kind, null
        union all select 'tag', e.repository || ':' || t.tag, null from unnest(e.tags) t(tag)
    ) d(dimension, key, name)
    where e.parent_id is null
    group by 1, 2, 3, 4
    order by 1, 2, 3, 4
    on conflict (organization_id, dimension, day, key) do update
        set pulls = pull_daily_totals.pulls + excluded.pulls,
            name = coalesce(excluded.name, pull_daily_totals.name);
    return null;
end
$$;

create trigger pull_events_roll_up
    after insert on pull_events
    referencing new table as inserted
    for each statement execute function pull_events_roll_up();

-- The events already recorded.
insert into pull_daily_totals (organization_id, day, dimension, key, name, pulls)
select e.organization_id, (e.at at time zone 'UTC')::date, d.dimension, d.key, max(d.name),
       sum(e.requests)
from pull_events e
cross join lateral (
    select 'total', '', null::text
    union all select 'customer', coalesce(e.customer_id::text, 'vendor'), e.customer_name
    union all select 'repository', e.repository, null
    union all select 'client', e.client_kind, null
    union all select 'tag', e.repository || ':' || t.tag, null from unnest(e.tags) t(tag)
) d(dimension, key, name)
where e.parent_id is null
group by 1, 2, 3, 4;

-- Deleting an organization deletes its usage, roll-ups included.
create or replace function wharf_delete_organization_usage() returns trigger
language plpgsql as $$
begin
    delete from pull_events where organization_id = old.id;
    delete from pull_daily_totals where organization_id = old.id;
    return old;
end
$$;
