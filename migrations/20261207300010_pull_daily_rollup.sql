-- Pull counts that outlive the raw pull events (kept `WHARF_PULL_EVENT_RETENTION_DAYS`).
--
-- `pull_daily_totals` keeps one dimension at a time (the day's total, each customer, each
-- repository, ...), enough for an unfiltered breakdown but not for a report of one customer's
-- pulls per repository or tag, nor for one tag's pulls per customer. This table keeps every
-- combination the reports filter and group by: per organization, UTC day, customer,
-- repository, client kind and set of matched tags, the pulls (each event weighing the
-- identical GETs it stands for), the latest pull and the customer's name at it. Reports read
-- it for the days whose raw events may be gone (up to the day of
-- `pull_events_pruned.pruned_before`) and the raw events after that, so a report over any
-- range counts the same pulls before and after pruning. Beyond the raw retention, reports
-- have whole-day granularity.
--
-- Kept by a statement trigger on pull_events, like pull_daily_totals: each batch the usage
-- writer inserts is aggregated and added in one upsert, in key order. Only top-level pulls
-- count (an index pull's child GETs are part of it). Kept whatever the age of the raw events;
-- deleted with the organization.
create table pull_daily_rollup (
    organization_id uuid not null,
    day             date not null,
    -- null: the organization's own (vendor) tokens
    customer_id     uuid,
    -- the customer's name at the latest pull of the group that day
    customer_name   text,
    repository      text collate "C" not null,
    client_kind     text collate "C" not null,
    -- the tags the pulls matched (a pull counts once per tag in a per-version report)
    tags            text[] collate "C" not null,
    pulls           bigint not null check (pulls > 0),
    last_pull_at    timestamptz not null
);

-- One row per group; reports read an organization's days in order.
create unique index pull_daily_rollup_key
    on pull_daily_rollup (organization_id, day, customer_id, repository, client_kind, tags)
    nulls not distinct;
-- A customer's latest pull (the customer list) and "never pulled" (the dashboard).
create index pull_daily_rollup_customer
    on pull_daily_rollup (organization_id, customer_id, last_pull_at desc)
    where customer_id is not null;

create function pull_events_daily_rollup() returns trigger language plpgsql as $$
begin
    insert into pull_daily_rollup (organization_id, day, customer_id, customer_name,
                                   repository, client_kind, tags, pulls, last_pull_at)
    select e.organization_id, (e.at at time zone 'UTC')::date, e.customer_id,
           (array_agg(e.customer_name order by e.at desc))[1], e.repository, e.client_kind,
           e.tags, sum(e.requests), max(e.at)
    from inserted e
    where e.parent_id is null
    group by 1, 2, 3, 5, 6, 7
    order by 1, 2, 3, 5, 6, 7
    on conflict (organization_id, day, customer_id, repository, client_kind, tags) do update
        set pulls = pull_daily_rollup.pulls + excluded.pulls,
            customer_name = case when excluded.last_pull_at >= pull_daily_rollup.last_pull_at
                                 then excluded.customer_name
                                 else pull_daily_rollup.customer_name end,
            last_pull_at = greatest(pull_daily_rollup.last_pull_at, excluded.last_pull_at);
    return null;
end
$$;

create trigger pull_events_daily_rollup
    after insert on pull_events
    referencing new table as inserted
    for each statement execute function pull_events_daily_rollup();

-- The events already recorded.
insert into pull_daily_rollup (organization_id, day, customer_id, customer_name, repository,
                               client_kind, tags, pulls, last_pull_at)
select e.organization_id, (e.at at time zone 'UTC')::date, e.customer_id,
       (array_agg(e.customer_name order by e.at desc))[1], e.repository, e.client_kind,
       e.tags, sum(e.requests), max(e.at)
from pull_events e
where e.parent_id is null
group by 1, 2, 3, 5, 6, 7;

-- How far raw pull events have been pruned (one row, written by the retention pass before it
-- deletes). Events from the UTC day after `pruned_before` on are all there; reports read the
-- roll-up up to the day of `pruned_before` and events after it. No row: nothing was pruned,
-- reports read events only.
create table pull_events_pruned (
    only_row      boolean primary key default true check (only_row),
    pruned_before timestamptz not null
);

-- Deleting an organization deletes its usage, roll-ups included.
create or replace function wharf_delete_organization_usage() returns trigger
language plpgsql as $$
begin
    delete from pull_events where organization_id = old.id;
    delete from pull_daily_totals where organization_id = old.id;
    delete from pull_daily_rollup where organization_id = old.id;
    return old;
end
$$;
