-- `wharf signing-key rotate` retires the active registry-token signing key and activates a
-- new one; every instance must sign with the new key and keep verifying with the old one at
-- once. Any change of the keys notifies `signing_keys` on the invalidation channel, and each
-- instance's listener reloads its keys (crates/app/src/credentials/keys.rs).
create function wharf_invalidate_signing_keys() returns trigger
    language plpgsql as $$
begin
    perform pg_notify('wharf_invalidate', 'signing_keys');
    return null;
end;
$$;

create trigger signing_keys_invalidate
    after insert or update or delete on signing_keys
    for each statement execute function wharf_invalidate_signing_keys();
