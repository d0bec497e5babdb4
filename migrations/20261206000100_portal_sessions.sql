-- The portals' sign-in sessions, password resets and people's names.
--
-- A session's id lives only in the person's cookie; the database keeps its SHA-256, so a
-- copy of this table signs nobody in. `data` is what the session holds (who signed in and
-- when, the form token, flash messages) as tower-sessions serializes it; `user_id`,
-- `user_agent` and `client_addr` are copied out of it on every save so that a person's
-- sessions can be listed and ended, and a deleted account takes its sessions with it.

create table portal_sessions (
    id_hash      bytea primary key check (length(id_hash) = 32),
    -- A stable handle for the account page ("end this session"); never the cookie's id.
    public_id    uuid not null unique,
    user_id      uuid references users (id) on delete cascade,
    data         jsonb not null,
    user_agent   text check (length(user_agent) <= 512),
    client_addr  text,
    created_at   timestamptz not null default now(),
    last_seen_at timestamptz not null default now(),
    expires_at   timestamptz not null
);

create index portal_sessions_user on portal_sessions (user_id) where user_id is not null;
create index portal_sessions_expiry on portal_sessions (expires_at);

-- Password reset links: single use, short-lived, stored only as the token's SHA-256.
create table password_resets (
    id           uuid primary key,
    user_id      uuid not null references users (id) on delete cascade,
    token_hash   bytea not null unique check (length(token_hash) = 32),
    created_at   timestamptz not null default now(),
    expires_at   timestamptz not null,
    used_at      timestamptz,
    client_addr  text
);

create index password_resets_user on password_resets (user_id);

-- What a person is called on the pages (set when accepting an invitation or signing up).
alter table users add column name text check (length(name) between 1 and 200);
