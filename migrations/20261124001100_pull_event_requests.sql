-- Identical manifest GETs in the same second (same token, repository, reference, digest,
-- client address and user agent) are written as one event that counts them: a client
-- polling a tag in a loop costs one row per second, not one per GET
-- (docs/performance.md, "What recording usage costs"). Reports add `requests` up.
alter table pull_events
    add column requests integer not null default 1 check (requests > 0);
