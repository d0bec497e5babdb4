-- The two roll-ups of pull events (`pull_daily_totals`, `pull_daily_rollup`) in one statement
-- trigger that reads each inserted batch once and aggregates it first per (organization, day,
-- customer, repository, client kind, tags): the usage writer's batches are mostly GETs of a
-- few manifests by many clients, so a batch of 1,000 events is a handful of groups, and the
-- per-dimension expansion of `pull_daily_totals` (five keys per row) runs on the groups, not
-- on every event. Same rows, same sums as the two triggers it replaces (docs/performance.md,
-- "Usage events"): each dimension's sum over groups is its sum over events, and a customer's
-- name is still the greatest of the batch (`pull_daily_totals`) and the one at the group's
-- latest pull (`pull_daily_rollup`).
drop trigger pull_events_roll_up on pull_events;
drop trigger pull_events_daily_rollup on pull_events;
drop function pull_events_roll_up();
drop function pull_events_daily_rollup();

create function pull_events_roll_ups() returns trigger language plpgsql as $$
begin
    with groups as materialized (
        select e.organization_id, (e.at at time zone 'UTC')::date as day, e.customer_id,
               max(e.customer_name) as greatest_name,
               (array_agg(e.customer_name order by e.at desc))[1] as latest_name,
               e.repository, e.client_kind, e.tags, sum(e.requests) as pulls,
               max(e.at) as last_pull_at
        from inserted e
        where e.parent_id is null
        group by e.organization_id, 2, e.customer_id, e.repository, e.client_kind, e.tags
    ),
    rollup as (
        insert into pull_daily_rollup (organization_id, day, customer_id, customer_name,
                                       repository, client_kind, tags, pulls, last_pull_at)
        select g.organization_id, g.day, g.customer_id, g.latest_name, g.repository,
               g.client_kind, g.tags, g.pulls, g.last_pull_at
        from groups g
        order by 1, 2, 3, 5, 6, 7
        on conflict (organization_id, day, customer_id, repository, client_kind, tags) do update
            set pulls = pull_daily_rollup.pulls + excluded.pulls,
                customer_name = case when excluded.last_pull_at >= pull_daily_rollup.last_pull_at
                                     then excluded.customer_name
                                     else pull_daily_rollup.customer_name end,
                last_pull_at = greatest(pull_daily_rollup.last_pull_at, excluded.last_pull_at)
    )
    insert into pull_daily_totals (organization_id, day, dimension, key, name, pulls)
    select g.organization_id, g.day, d.dimension, d.key, max(d.name), sum(g.pulls)
    from groups g
    cross join lateral (
        select 'total', '', null::text
        union all select 'customer', coalesce(g.customer_id::text, 'vendor'), g.greatest_name
        union all select 'repository', g.repository, null
        union all select 'client', g.client_kind, null
        union all select 'tag', g.repository || ':' || t.tag, null from unnest(g.tags) t(tag)
    ) d(dimension, key, name)
    group by 1, 2, 3, 4
    order by 1, 2, 3, 4
    on conflict (organization_id, dimension, day, key) do update
        set pulls = pull_daily_totals.pulls + excluded.pulls,
            name = coalesce(excluded.name, pull_daily_totals.name);
    return null;
end
$$;

create trigger pull_events_roll_ups
    after insert on pull_events
    referencing new table as inserted
    for each statement execute function pull_events_roll_ups();
