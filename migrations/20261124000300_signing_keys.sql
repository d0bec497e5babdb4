-- Keys that sign registry bearer tokens (ES256 JWTs).
--
-- Every instance signs with the one active key and verifies with every key that is active or
-- was retired recently (tokens live minutes), so keys rotate without failing pulls. The key
-- is generated at first start; whoever can read this table can mint registry tokens, like
-- whoever can write the rest of the database can grant themselves anything.

create table signing_keys (
    kid             text primary key,
    algorithm       text not null check (algorithm = 'ES256'),
    private_key_pem text not null,
    public_key_pem  text not null,
    created_at      timestamptz not null default now(),
    retired_at      timestamptz
);

-- At most one active key: instances racing at first start agree on the one that won.
create unique index signing_keys_one_active on signing_keys ((true)) where retired_at is null;
