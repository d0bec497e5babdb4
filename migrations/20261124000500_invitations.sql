-- Invitations: how people join an organization or a customer, and how vendors sign up while
-- sign-up is by invitation only.
--
-- Three kinds share one table, so that one lookup by token hash finds any invitation and one
-- set of rules covers expiry, single use and revocation:
-- - `member`: join vendor organization `organization_id` with a vendor `role`;
-- - `customer`: join customer `customer_id` (a customer of `organization_id`) as `admin` or
--   `member`;
-- - `signup`: create a new vendor organization while `WHARF_SIGNUP=invite`. Instance level:
--   no organization; when `email` is set, only that address may use it.
--
-- Only the SHA-256 of the token is stored (the link is shown once, to whoever invited). An
-- invitation is open while it is not accepted, not revoked and not expired. Accepting sets
-- `accepted_at` under the condition that it is still open, in the transaction that creates
-- the account or membership, so an invitation is used at most once even when two people race.
-- Used, revoked and expired invitations are kept (who invited whom, and when); deleting an
-- organization or a customer deletes its invitations.

create table invitations (
    id              uuid primary key,
    kind            text not null check (kind in ('member', 'customer', 'signup')),
    organization_id uuid references organizations (id) on delete cascade,
    customer_id     uuid,
    -- lower-case, like users.email; the address the invitation was sent to
    email           text check (email = lower(email) and email like '%_@_%'),
    -- vendor role (`member`) or customer role (`customer`); none for `signup`
    role            text,
    -- who invited; null when an operator did (`wharf admin invite-…`) or that account is gone
    invited_by      uuid references users (id) on delete set null,
    token_hash      bytea not null unique check (length(token_hash) = 32),
    created_at      timestamptz not null default now(),
    expires_at      timestamptz not null,
    accepted_at     timestamptz,
    -- the account that accepted it (null again if that account is deleted)
    accepted_by     uuid references users (id) on delete set null,
    revoked_at      timestamptz,
    check (expires_at > created_at),
    check (accepted_at is null or revoked_at is null),
    check ((kind = 'signup') = (organization_id is null)),
    check ((kind = 'customer') = (customer_id is not null)),
    check (kind = 'signup' or email is not null),
    check ((kind = 'signup') = (role is null)),
    check (
        role is null
        or (kind = 'member' and role in ('owner', 'admin', 'developer', 'viewer'))
        or (kind = 'customer' and role in ('admin', 'member'))
    ),
    -- a customer invitation names a customer of its own organization
    foreign key (organization_id, customer_id)
        references customers (organization_id, id) on delete cascade
);

-- At most one open invitation per address and target: inviting again revokes the previous
-- one first (in the same transaction), so an older link stops working. These also serve the
-- lists of open invitations.
create unique index invitations_open_member on invitations (organization_id, email)
    where kind = 'member' and accepted_at is null and revoked_at is null;
create unique index invitations_open_customer on invitations (customer_id, email)
    where kind = 'customer' and accepted_at is null and revoked_at is null;
create unique index invitations_open_signup on invitations (email)
    where kind = 'signup' and email is not null and accepted_at is null and revoked_at is null;

-- Lists per organization and per customer, newest first; the foreign keys' own lookups.
create index invitations_organization on invitations (organization_id, kind, created_at)
    where organization_id is not null;
create index invitations_customer on invitations (customer_id, created_at)
    where customer_id is not null;
create index invitations_signup on invitations (created_at) where kind = 'signup';
create index invitations_invited_by on invitations (invited_by) where invited_by is not null;
create index invitations_accepted_by on invitations (accepted_by) where accepted_by is not null;
