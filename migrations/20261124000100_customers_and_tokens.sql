-- Customers, their users, and access tokens (vendor API tokens and customer access tokens).
--
-- What is deleted and what is kept:
-- - tokens are never deleted by Wharf: revoking one sets `revoked_at`, so token lists keep
--   showing revoked and expired tokens with their names;
-- - deleting a customer deletes its user memberships and its tokens (a deleted customer can
--   never authenticate again), and removing a vendor member from an organization deletes the
--   vendor tokens that acted as that member (so such a token cannot come back to life if the
--   person is added again);
-- - deleted tokens are remembered in `deleted_access_tokens` (by a trigger, whatever deleted
--   them) so that every instance's revocation cache learns of them as it learns of revocations;
-- - usage and audit tables therefore must not point at these rows with cascading foreign
--   keys: they keep the ids as plain uuid columns and copy what they display (customer name,
--   token name, display prefix, user email) at the time of the event. History then survives
--   the deletion of customers, members and users.

-- A vendor's customer (a customer organization). Names are unique within the vendor.
create table customers (
    id              uuid primary key,
    organization_id uuid not null references organizations (id) on delete cascade,
    name            text not null check (length(name) between 1 and 200),
    disabled        boolean not null default false,
    created_at      timestamptz not null default now(),
    unique (organization_id, name),
    -- target of the composite foreign key from access_tokens: a customer token belongs to a
    -- customer of the token's own organization
    unique (organization_id, id)
);

-- Keyset pagination of a vendor's customers by (created_at, id).
create index customers_organization_page on customers (organization_id, created_at, id);

-- People who belong to a customer. A user is a row in `users`: the same email may be a vendor
-- member somewhere and a customer user elsewhere.
create table customer_users (
    customer_id uuid not null references customers (id) on delete cascade,
    user_id     uuid not null references users (id) on delete cascade,
    role        text not null check (role in ('admin', 'member')),
    created_at  timestamptz not null default now(),
    primary key (customer_id, user_id)
);

create index customer_users_user on customer_users (user_id);

-- Access tokens. Only the SHA-256 of a token is stored; the clear text is shown once.
--
-- A vendor token (`wharf_vnd_…`) acts as one member of its organization (`user_id`), with that
-- member's current role, or read-only. A customer token (`wharf_cst_…`) belongs to a customer
-- (`customer_id`) and can only ever pull, whatever `read_only` says.
create table access_tokens (
    id              uuid primary key,
    organization_id uuid not null references organizations (id) on delete cascade,
    kind            text not null check (kind in ('vendor', 'customer')),
    customer_id     uuid,
    user_id         uuid,
    -- who created it; a token outlives the account of its creator, which then reads as unknown
    created_by      uuid references users (id) on delete set null,
    name            text not null check (length(name) between 1 and 100),
    token_hash      bytea not null unique check (length(token_hash) = 32),
    -- product prefix and the first random characters, so owners can recognise a token
    display_prefix  text not null check (length(display_prefix) between 1 and 32),
    read_only       boolean not null default false,
    created_at      timestamptz not null default now(),
    expires_at      timestamptz,
    -- written at most once a minute, off the request path
    last_used_at    timestamptz,
    revoked_at      timestamptz,
    check (expires_at > created_at),
    check ((kind = 'customer') = (customer_id is not null)),
    check ((kind = 'vendor') = (user_id is not null)),
    foreign key (organization_id, customer_id)
        references customers (organization_id, id) on delete cascade,
    foreign key (organization_id, user_id)
        references organization_members (organization_id, user_id) on delete cascade
);

-- Lookup by hash is the unique index on token_hash. Lists per organization (vendor tokens) and
-- per customer, newest first; the foreign keys' own lookups on delete.
create index access_tokens_organization on access_tokens (organization_id, kind, created_at);
create index access_tokens_customer on access_tokens (customer_id, created_at)
    where customer_id is not null;
create index access_tokens_member on access_tokens (organization_id, user_id)
    where user_id is not null;
create index access_tokens_created_by on access_tokens (created_by) where created_by is not null;
-- The revocation cache asks for tokens revoked or expired since a moment.
create index access_tokens_revoked on access_tokens (revoked_at) where revoked_at is not null;
create index access_tokens_expires on access_tokens (expires_at) where expires_at is not null;

-- Ids of deleted tokens (with their customer, member, user or organization), for the
-- revocation caches of running instances: a token deleted by a cascade must stop working as
-- promptly as a revoked one. Rows are tiny and deletions rare; nothing prunes them yet.
create table deleted_access_tokens (
    id          uuid primary key,
    deleted_at  timestamptz not null default now()
);

create index deleted_access_tokens_deleted_at on deleted_access_tokens (deleted_at);

create function remember_deleted_access_token() returns trigger
language plpgsql as $$
begin
    insert into deleted_access_tokens (id) values (old.id) on conflict (id) do nothing;
    return old;
end;
$$;

create trigger access_tokens_remember_deleted
    after delete on access_tokens
    for each row execute function remember_deleted_access_token();
