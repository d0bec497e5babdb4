-- Usage analytics: one row per manifest GET (pull events) and bytes served per blob, token,
-- repository and day.
--
-- Written only by the server's background recorder, in batches, never on the request path.
-- History outlives what it describes: customers, tokens and tags are referenced by plain ids
-- and names copied at the time of the event (no foreign key to them, so deleting a customer,
-- revoking or deleting a token, or moving or deleting a tag changes nothing here). Only
-- deleting the whole vendor organization removes its usage (tenant removal).

-- One manifest GET (never a HEAD) by a customer or vendor token.
create table pull_events (
    id               uuid primary key,
    at               timestamptz not null,
    organization_id  uuid not null references organizations (id) on delete cascade,
    -- who pulled: a customer token (customer_id set) or a vendor token; names are snapshots
    customer_id      uuid,
    customer_name    text,
    token_id         uuid not null,
    token_name       text,
    token_prefix     text,
    repository       text not null,
    -- the reference as requested (a tag or a digest) and the digest it resolved to
    reference        text not null,
    digest           text not null,
    -- the requested tag, or the tags pointing at the digest when it was pulled by digest
    tags             text[] not null default '{}',
    media_type       text not null,
    -- for a manifest pulled as the child of an index: its platform in that index
    platform_os      text,
    platform_arch    text,
    platform_variant text,
    -- the pull of an index (same token and repository, listing this digest, at most 60 s
    -- earlier) this GET belongs to; reports count only rows without a parent as pulls
    parent_id        uuid,
    client_addr      inet,
    user_agent       text,
    client_kind      text not null
        check (client_kind in ('docker', 'containerd', 'podman', 'helm', 'oras', 'other'))
);

-- Reports page newest first per organization, optionally per customer or repository.
create index pull_events_organization on pull_events (organization_id, at desc, id desc);
create index pull_events_customer on pull_events (organization_id, customer_id, at desc)
    where customer_id is not null;
create index pull_events_repository on pull_events (organization_id, repository, at desc);
-- The roll-up looks for the latest GET of a given index by a token.
create index pull_events_token on pull_events (token_id, repository, digest, at desc);

-- Bytes of blobs actually sent (ranges included), per token, repository, digest and UTC day.
create table blob_bytes_daily (
    day             date not null,
    organization_id uuid not null references organizations (id) on delete cascade,
    token_id        uuid not null,
    customer_id     uuid,
    repository      text not null,
    digest          text not null,
    bytes           bigint not null check (bytes >= 0),
    requests        bigint not null check (requests >= 0),
    primary key (token_id, repository, digest, day)
);

create index blob_bytes_daily_organization on blob_bytes_daily (organization_id, day);
