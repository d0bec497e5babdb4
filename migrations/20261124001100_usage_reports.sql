-- Identical manifest GETs in the same second (same token, repository, reference, digest,
-- client address and user agent) are written as one event that counts them: a client
-- polling a tag in a loop costs one row per second, not one per GET
-- (docs/performance.md, "What recording usage costs"). Reports add `requests` up.
alter table pull_events
    add column requests integer not null default 1 check (requests > 0);

-- Bytes served keep the customer's name as it was, like pull events: reports by customer
-- still read after the customer is deleted.
alter table blob_bytes_daily add column customer_name text;
update blob_bytes_daily b set customer_name = c.name from customers c where c.id = b.customer_id;
