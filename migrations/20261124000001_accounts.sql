-- Accounts: vendor organizations, the people who sign in, and their memberships.
--
-- An organization's slug is the first path segment of every repository it owns
-- (`<slug>/<path>`), so it follows the OCI repository-name component syntax.

create table organizations (
    id          uuid primary key,
    slug        text not null unique
                check (slug ~ '^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*$' and length(slug) <= 63),
    name        text not null check (length(name) between 1 and 200),
    created_at  timestamptz not null default now()
);

-- People who sign in. Emails are stored lower-cased so uniqueness is case-insensitive.
create table users (
    id                  uuid primary key,
    email               text not null unique check (email = lower(email) and email like '%_@_%'),
    password_hash       text not null,
    is_instance_admin   boolean not null default false,
    created_at          timestamptz not null default now(),
    password_changed_at timestamptz not null default now()
);

-- A user's role within a vendor organization.
create table organization_members (
    organization_id uuid not null references organizations (id) on delete cascade,
    user_id         uuid not null references users (id) on delete cascade,
    role            text not null check (role in ('owner', 'admin', 'developer', 'viewer')),
    created_at      timestamptz not null default now(),
    primary key (organization_id, user_id)
);

create index organization_members_user on organization_members (user_id);
