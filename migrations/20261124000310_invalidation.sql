-- Tell every instance, at commit, when a credential stops being valid.
--
-- Instances keep an in-memory view of revoked tokens and disabled customers so that a
-- registry request never needs a database round trip; these triggers keep that view current
-- through NOTIFY on the channel `wharf_invalidate`, whichever code path made the change (API,
-- portal, operator CLI, or SQL by hand). Payloads: `token:<uuid>`, `customer:<uuid>`.
-- pg_notify is transactional: nothing is sent for a change that rolls back.

create function wharf_invalidate_token() returns trigger language plpgsql as $$
begin
    if tg_op = 'DELETE' then
        perform pg_notify('wharf_invalidate', 'token:' || old.id::text);
        return old;
    end if;
    if new.revoked_at is not null and old.revoked_at is null then
        perform pg_notify('wharf_invalidate', 'token:' || new.id::text);
    end if;
    return new;
end
$$;

create trigger access_tokens_invalidate
    after update of revoked_at or delete on access_tokens
    for each row execute function wharf_invalidate_token();

create function wharf_invalidate_customer() returns trigger language plpgsql as $$
begin
    if tg_op = 'DELETE' then
        perform pg_notify('wharf_invalidate', 'customer:' || old.id::text);
        return old;
    end if;
    if new.disabled and not old.disabled then
        perform pg_notify('wharf_invalidate', 'customer:' || new.id::text);
    end if;
    return new;
end
$$;

create trigger customers_invalidate
    after update of disabled or delete on customers
    for each row execute function wharf_invalidate_customer();

-- A vendor token acts with its member's current role: a role change or removal invalidates
-- the bearer tokens minted for that member's API tokens.
create function wharf_invalidate_member_tokens() returns trigger language plpgsql as $$
begin
    if tg_op = 'UPDATE' and new.role = old.role then
        return new;
    end if;
    perform pg_notify('wharf_invalidate', 'token:' || t.id::text)
    from access_tokens t
    where t.organization_id = old.organization_id and t.user_id = old.user_id;
    return coalesce(new, old);
end
$$;

create trigger organization_members_invalidate
    before update of role or delete on organization_members
    for each row execute function wharf_invalidate_member_tokens();
