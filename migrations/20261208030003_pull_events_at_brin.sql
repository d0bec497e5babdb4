-- The retention job deletes pull events by age (`wharf_db::retention::prune_pull_events`:
-- `where at < $1 limit $2`, batch after batch). No index led with `at`, so each batch, and
-- the daily pass that finds nothing to delete, read the whole table: 364 ms for 1.2 million
-- events on the 2-core test machine. Events are appended in time order, which is what a BRIN
-- index is for: 32 kB for those 1.2 million rows (a B-tree would be about 36 MB and cost an
-- insertion per written event), and the same probe takes 0.4 ms. Its cost on the usage
-- writer's inserts is a look-up in the range map per row: the pages being filled are not
-- summarized yet (vacuum summarizes them later), so nothing is updated.
create index pull_events_at on pull_events using brin (at);
