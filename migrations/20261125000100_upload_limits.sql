-- Open upload sessions are capped per principal and per repository. Starting a session is
-- one statement, a call of `wharf_start_upload` (`wharf_db::registry::uploads::create_by_name`),
-- which counts the open sessions and inserts the new one exactly under the caps:
--   1. a transaction-scoped advisory lock on the principal, then its open (unexpired)
--      sessions are counted: at the cap, `refused = 'principal'` and nothing changes (not
--      even the repository lookup's side: the caller creates no repository for a refused
--      session);
--   2. the repository, by (organization, name): no row at all when there is none;
--   3. a lock on the repository, then its open sessions are counted: at the cap,
--      `refused = 'repository'`;
--   4. the session's row.
-- The locks are taken in this order by every call, so two calls never wait on each other
-- in a cycle. Each statement of a volatile function reads a fresh snapshot, so the counts
-- see every session inserted by a call that held the lock before (it committed when it let
-- go): concurrent starts never overshoot a cap. Like the insert it replaces, the call
-- commits without waiting for the WAL flush (a session records nothing a client sent).
create index upload_sessions_by_principal on upload_sessions (created_by, expires_at);
create index upload_sessions_by_repository on upload_sessions (repository_id, expires_at);

create function wharf_start_upload(
    p_id                 uuid,
    p_organization_id    uuid,
    p_repository         text,
    p_created_by         text,
    p_hash_algorithm     text,
    p_hash_state         bytea,
    p_storage_state      text,
    p_expires_at         timestamptz,
    p_max_per_principal  bigint,
    p_max_per_repository bigint
) returns table (repository_id uuid, refused text)
language plpgsql volatile
set plan_cache_mode = force_generic_plan
as $$
#variable_conflict use_column
declare
    v_repository uuid;
begin
    perform set_config('synchronous_commit', 'off', true);
    perform pg_advisory_xact_lock(hashtextextended('uploads-by:' || p_created_by, 0));
    if (select count(*) from (
            select 1 from upload_sessions s
            where s.created_by = p_created_by and s.expires_at > now()
            limit p_max_per_principal) o) >= p_max_per_principal then
        return query select null::uuid, 'principal'::text;
        return;
    end if;
    select r.id into v_repository
    from repositories r
    where r.organization_id = p_organization_id and r.name = p_repository;
    if v_repository is null then
        return;
    end if;
    perform pg_advisory_xact_lock(hashtextextended('uploads-in:' || v_repository::text, 0));
    if (select count(*) from (
            select 1 from upload_sessions s
            where s.repository_id = v_repository and s.expires_at > now()
            limit p_max_per_repository) o) >= p_max_per_repository then
        return query select v_repository, 'repository'::text;
        return;
    end if;
    insert into upload_sessions
        (id, repository_id, organization_id, created_by, hash_algorithm, hash_state,
         storage_state, expires_at)
    values (p_id, v_repository, p_organization_id, p_created_by, p_hash_algorithm,
            p_hash_state, p_storage_state, p_expires_at);
    return query select v_repository, null::text;
end
$$;
