-- The audit log: an append-only record of security-relevant actions (token issue, revoke and
-- use after revocation, customer and license changes with their grants before and after,
-- pushes, tag moves and deletes, denied pulls).
--
-- Rows are never changed: a trigger refuses every UPDATE, and every DELETE except the
-- retention job's (`wharf_audit_prune`, which deletes rows older than the configured
-- retention). Like usage, entries keep plain ids and copy the names they show (actor and
-- target), so they outlive the tokens, users and customers they name. `id` orders entries
-- and is the cursor of the API's pages.
create table audit_log (
    id              bigint generated always as identity primary key,
    at              timestamptz not null default clock_timestamp(),
    -- the vendor organization concerned; null for instance-wide events
    organization_id uuid,
    -- who: a vendor API or customer token, a user, or the operator (`wharf admin`)
    actor_kind      text not null check (actor_kind in ('token', 'user', 'operator', 'anonymous')),
    actor_id        uuid,
    actor_name      text,
    -- what: `customer.create`, `license.replace`, `token.revoke`, `manifest.push`, ...
    action          text not null check (length(action) between 1 and 100),
    -- on what: `customer:<id>`, `license:<id>`, `token:<id>`, `<repository>:<tag>`, ...
    target          text not null,
    target_name     text,
    outcome         text not null check (outcome in ('success', 'failure', 'denied')),
    -- action-specific facts (a license's grants before and after, a tag's previous digest)
    detail          jsonb not null default '{}'::jsonb,
    client_addr     inet,
    user_agent      text,
    request_id      text
);

create index audit_log_organization on audit_log (organization_id, id desc);
create index audit_log_at on audit_log (at);

create function audit_log_append_only() returns trigger
language plpgsql as $$
begin
    if tg_op = 'DELETE' and current_setting('wharf.audit_prune', true) = 'on' then
        return old;
    end if;
    raise exception 'audit_log is append-only (% refused)', tg_op;
end;
$$;

create trigger audit_log_append_only
    before update or delete on audit_log
    for each row execute function audit_log_append_only();

create trigger audit_log_no_truncate
    before truncate on audit_log
    for each statement execute function audit_log_append_only();
