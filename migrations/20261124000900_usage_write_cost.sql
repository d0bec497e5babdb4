-- Pull events are written for every manifest GET; keep the cost of each inserted row down
-- (docs/performance.md, "What recording usage costs").
--
-- 1. The foreign key to organizations cost a trigger and an index lookup per inserted row.
--    Events are written only for organizations that exist (the writer takes the
--    organization from the request's verified token); deleting an organization deletes its
--    events through a trigger on organizations instead.
alter table pull_events drop constraint pull_events_organization_id_fkey;

create function wharf_delete_organization_usage() returns trigger language plpgsql as $$
begin
    delete from pull_events where organization_id = old.id;
    return old;
end
$$;

create trigger organizations_delete_usage
    after delete on organizations
    for each row execute function wharf_delete_organization_usage();

-- 2. The index roll-up looks up earlier GETs of an index (same token, repository and
--    digest); only GETs of indexes need to be in that index.
drop index pull_events_token;
create index pull_events_index_gets on pull_events (token_id, repository, digest, at desc)
    where media_type in ('application/vnd.oci.image.index.v1+json',
                         'application/vnd.docker.distribution.manifest.list.v2+json');
