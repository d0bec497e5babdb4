-- Pull lists show each index pull's platforms, read from its child GETs by `parent_id`
-- (`wharf_db::usage::list_pulls`). Without an index that was a scan of every event per listed
-- row: 1.5 s for a customer's ten latest pulls among 1,000,000 events. Only child GETs have a
-- parent, so the index stays small and costs nothing on other inserts.
create index pull_events_parent on pull_events (parent_id) where parent_id is not null;
