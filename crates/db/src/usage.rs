//! Usage analytics: pull events and bytes served (`pull_events`, `blob_bytes_daily`).
//!
//! Owns the SQL that the server's background recorder writes in batches, and the report
//! queries. Writes take whole batches (one statement each, arrays through `unnest`) and
//! resolve what the request path did not look up — customer and token names, the tags
//! pointing at a digest, an index child's platform and the index pull it belongs to — in the
//! same statement, so the pull path itself makes no extra read. Names are copied, never
//! referenced: history survives deleting customers, tokens and tags.

use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::{DbError, PgPool};

/// How long after an index pull a GET of one of its children by the same token counts as
/// part of that pull (the roll-up).
pub const ROLL_UP_WINDOW_SECONDS: f64 = 60.0;

/// One manifest GET, as the request path knows it.
#[derive(Debug, Clone)]
pub struct NewPullEvent {
    /// The event's id (a UUIDv7, so ids sort roughly by time).
    pub id: Uuid,
    /// When the manifest was served.
    pub at: OffsetDateTime,
    /// The vendor organization owning the repository.
    pub organization_id: Uuid,
    /// The customer, for a customer token.
    pub customer_id: Option<Uuid>,
    /// The access token that pulled.
    pub token_id: Uuid,
    /// Repository name.
    pub repository: String,
    /// The reference as requested: a tag or a digest.
    pub reference: String,
    /// The requested tag, when pulled by tag.
    pub tag: Option<String>,
    /// The digest served.
    pub digest: String,
    /// Its media type.
    pub media_type: String,
    /// The client's address (text form of an IP address).
    pub client_addr: Option<String>,
    /// `User-Agent`.
    pub user_agent: Option<String>,
    /// The parsed client kind: `docker`, `containerd`, `podman`, `helm`, `oras`, `other`.
    pub client_kind: &'static str,
    /// How many identical GETs this event stands for (the writer coalesces GETs that differ
    /// only in the time within one second; `at` is the first one's).
    pub requests: i32,
}

/// Writes a batch of pull events, in one transaction. Only pulls of the caller's own
/// organization's repositories are kept (a public repository pulled with another
/// organization's token is not that organization's usage to see). Per event it copies the
/// customer's and the token's current names, records the tags (the requested one, else those
/// pointing at the digest), the platform when the digest is an index child, and links a child
/// GET to the index pull it follows (same token and repository, an index listing the digest,
/// at most [`ROLL_UP_WINDOW_SECONDS`] earlier, in the database or earlier in this batch).
///
/// What the request path did not look up is resolved once per distinct value, not per event
/// (the names per customer and token; per manifest, whether an index lists it and the tags of
/// a GET by digest: two small queries), and the events go in with one `COPY`: at the
/// distinct-clients worst case, where every GET is a row, that is most of the writer's cost
/// gone (docs/performance.md, "Usage events"). Only GETs of index children, which need the
/// roll-up's per-event lookups, go through [`insert_resolving`], after the `COPY`, so that a
/// child finds its index pull from the same batch in the table.
pub async fn insert_pull_events(pool: &PgPool, events: &[NewPullEvent]) -> Result<u64, DbError> {
    if events.is_empty() {
        return Ok(0);
    }
    let mut tx = pool.begin().await?;
    let plan = Resolved::read(&mut tx, events).await?;
    let mut copied = 0;
    if plan.rows > 0 {
        let mut copy = tx.copy_in_raw(COPY_PULL_EVENTS).await?;
        copy.send(plan.copy.finish()).await?;
        copied = copy.finish().await?;
    }
    let children: Vec<NewPullEvent> = plan.children.iter().map(|&i| events[i].clone()).collect();
    let resolved = insert_resolving(&mut tx, &children).await?;
    tx.commit().await?;
    Ok(copied + resolved)
}

const COPY_PULL_EVENTS: &str = "copy pull_events (id, at, organization_id, customer_id, \
    customer_name, token_id, token_name, token_prefix, repository, reference, digest, tags, \
    media_type, client_addr, user_agent, client_kind, requests) from stdin with (format binary)";

/// A batch split: the `COPY` rows of the events resolved here, and the positions of the GETs
/// of index children (resolved by [`insert_resolving`]).
struct Resolved {
    copy: BinaryCopy,
    /// Rows in `copy`.
    rows: usize,
    children: Vec<usize>,
}

/// What one distinct manifest of a batch resolved to.
struct ManifestFacts {
    /// The repository is the organization's (else its events are not kept).
    known: bool,
    /// Some index of the repository lists the digest.
    is_child: bool,
    /// For GETs by digest: the tags pointing at it.
    tags: Option<Vec<String>>,
}

impl Resolved {
    async fn read(conn: &mut sqlx::PgConnection, events: &[NewPullEvent]) -> Result<Self, DbError> {
        use std::collections::HashMap;
        // Distinct manifests (organization, repository, digest), and whether any GET of one
        // was by digest.
        let mut manifests: HashMap<(Uuid, &str, &str), usize> = HashMap::new();
        let (mut orgs, mut repositories, mut digests, mut by_digest) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut of_event = Vec::with_capacity(events.len());
        // Events of one manifest mostly come in runs (a batch of distinct clients is often
        // one manifest throughout): the previous event's manifest is compared before the map
        // is hashed.
        let mut previous: Option<((Uuid, &str, &str), usize)> = None;
        for e in events {
            let key = (e.organization_id, e.repository.as_str(), e.digest.as_str());
            let at = match previous {
                Some((last, at)) if last == key => at,
                _ => *manifests.entry(key).or_insert_with(|| {
                    orgs.push(e.organization_id);
                    repositories.push(e.repository.clone());
                    digests.push(e.digest.clone());
                    by_digest.push(false);
                    orgs.len() - 1
                }),
            };
            previous = Some((key, at));
            by_digest[at] |= e.tag.is_none();
            of_event.push(at);
        }
        let rows = sqlx::query!(
            r#"select m.ord as "ord!", r.id is not null as "known!",
                      exists (select 1 from manifest_children mc
                              where mc.repository_id = r.id
                                and mc.child_digest = m.digest) as "is_child!",
                      case when m.by_digest then
                          coalesce((select array_agg(g.name order by g.name collate "C")
                                    from tags g
                                    where g.repository_id = r.id and g.digest = m.digest),
                                   '{}') end as "tags?: Vec<String>"
               from unnest($1::uuid[], $2::text[], $3::text[], $4::bool[])
                        with ordinality as m(organization_id, repository, digest, by_digest, ord)
               left join repositories r
                 on r.name = m.repository and r.organization_id = m.organization_id"#,
            &orgs,
            &repositories,
            &digests,
            &by_digest,
        )
        .fetch_all(&mut *conn)
        .await?;
        let mut facts: Vec<Option<ManifestFacts>> = (0..orgs.len()).map(|_| None).collect();
        for row in rows {
            let at = usize::try_from(row.ord - 1).unwrap_or(usize::MAX);
            if let Some(slot) = facts.get_mut(at) {
                *slot = Some(ManifestFacts {
                    known: row.known,
                    is_child: row.is_child,
                    tags: row.tags,
                });
            }
        }
        // Names, once per distinct customer and token.
        let mut customer_ids: Vec<Uuid> = events.iter().filter_map(|e| e.customer_id).collect();
        customer_ids.sort_unstable();
        customer_ids.dedup();
        let mut token_ids: Vec<Uuid> = events.iter().map(|e| e.token_id).collect();
        token_ids.sort_unstable();
        token_ids.dedup();
        let names = sqlx::query!(
            r#"select true as "customer!", c.id as "id!", c.name as "name!", null::text as prefix
               from customers c where c.id = any($1)
               union all
               select false, t.id, t.name, t.display_prefix
               from access_tokens t where t.id = any($2)"#,
            &customer_ids,
            &token_ids,
        )
        .fetch_all(&mut *conn)
        .await?;
        let mut customers = HashMap::new();
        let mut tokens = HashMap::new();
        for n in names {
            if n.customer {
                customers.insert(n.id, n.name);
            } else {
                tokens.insert(n.id, (n.name, n.prefix));
            }
        }
        let mut plan =
            Self { copy: BinaryCopy::new(events.len() * 400), rows: 0, children: vec![] };
        for (i, e) in events.iter().enumerate() {
            let Some(facts) = facts.get(of_event[i]).and_then(Option::as_ref) else { continue };
            if !facts.known {
                continue;
            }
            if facts.is_child {
                plan.children.push(i);
                continue;
            }
            let tags: &[String] = match (&e.tag, &facts.tags) {
                (Some(tag), _) => std::slice::from_ref(tag),
                (None, Some(tags)) => tags,
                (None, None) => &[],
            };
            let customer_name = e.customer_id.and_then(|id| customers.get(&id));
            copy_row(&mut plan.copy, e, customer_name, tokens.get(&e.token_id), tags);
            plan.rows += 1;
        }
        Ok(plan)
    }
}

/// One event as a row of `COPY`'s binary format, in [`COPY_PULL_EVENTS`]'s column order.
fn copy_row(
    out: &mut BinaryCopy,
    e: &NewPullEvent,
    customer_name: Option<&String>,
    token: Option<&(String, Option<String>)>,
    tags: &[String],
) {
    out.row(17);
    out.uuid(Some(e.id));
    out.timestamptz(e.at);
    out.uuid(Some(e.organization_id));
    out.uuid(e.customer_id);
    out.text(customer_name.map(String::as_str));
    out.uuid(Some(e.token_id));
    out.text(token.map(|t| t.0.as_str()));
    out.text(token.and_then(|t| t.1.as_deref()));
    out.text(Some(&e.repository));
    out.text(Some(&e.reference));
    out.text(Some(&e.digest));
    out.text_array(tags);
    out.text(Some(&e.media_type));
    // Addresses come from `IpAddr`'s text form; anything else is no address.
    out.inet(e.client_addr.as_deref().and_then(|a| a.parse().ok()));
    out.text(e.user_agent.as_deref());
    out.text(Some(e.client_kind));
    out.int4(e.requests.max(1));
}

/// A `COPY … with (format binary)` stream being written: the header, then rows of fields,
/// each a 32-bit length (−1 for NULL) and the value in the type's binary (`send`) format,
/// all in network byte order (PostgreSQL's `COPY` documentation, "Binary Format").
/// Postgres parses no text for it (ids, times, addresses, array literals, escapes): about
/// half a microsecond of its CPU per row less than the text format (docs/performance.md).
struct BinaryCopy {
    buf: Vec<u8>,
}

/// Element type of `text[]` (`text`'s oid).
const TEXT_OID: i32 = 25;
/// `inet`'s address families on the wire (PostgreSQL's `PGSQL_AF_INET`, `PGSQL_AF_INET6`).
const PGSQL_AF_INET: u8 = 2;
const PGSQL_AF_INET6: u8 = 3;

impl BinaryCopy {
    /// The 11-byte signature, no flags (no oids), an empty header extension.
    fn new(capacity: usize) -> Self {
        let mut buf = Vec::with_capacity(capacity + 21);
        buf.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
        buf.extend_from_slice(&0_i32.to_be_bytes());
        buf.extend_from_slice(&0_i32.to_be_bytes());
        Self { buf }
    }

    /// Starts a row of `fields` fields.
    fn row(&mut self, fields: i16) {
        self.buf.extend_from_slice(&fields.to_be_bytes());
    }

    fn len(&mut self, len: usize) {
        // Values here are far below 2 GiB (a `User-Agent` is cut to 512 bytes).
        let len = i32::try_from(len).unwrap_or(i32::MAX);
        self.buf.extend_from_slice(&len.to_be_bytes());
    }

    fn null(&mut self) {
        self.buf.extend_from_slice(&(-1_i32).to_be_bytes());
    }

    fn uuid(&mut self, value: Option<Uuid>) {
        match value {
            Some(id) => {
                self.len(16);
                self.buf.extend_from_slice(id.as_bytes());
            }
            None => self.null(),
        }
    }

    /// Microseconds since 2000-01-01 00:00 UTC, rounded down (as the text format truncates).
    fn timestamptz(&mut self, at: OffsetDateTime) {
        let since = at - time::macros::datetime!(2000-01-01 0:00 UTC);
        let micros = since.whole_nanoseconds().div_euclid(1_000);
        let micros = i64::try_from(micros).unwrap_or(i64::MAX);
        self.len(8);
        self.buf.extend_from_slice(&micros.to_be_bytes());
    }

    fn text(&mut self, value: Option<&str>) {
        match value {
            Some(text) => {
                self.len(text.len());
                self.buf.extend_from_slice(text.as_bytes());
            }
            None => self.null(),
        }
    }

    fn int4(&mut self, value: i32) {
        self.len(4);
        self.buf.extend_from_slice(&value.to_be_bytes());
    }

    /// Family, prefix bits, "is cidr" (0: `inet`), address length, the address.
    fn inet(&mut self, value: Option<std::net::IpAddr>) {
        match value {
            Some(std::net::IpAddr::V4(a)) => {
                self.len(8);
                self.buf.extend_from_slice(&[PGSQL_AF_INET, 32, 0, 4]);
                self.buf.extend_from_slice(&a.octets());
            }
            Some(std::net::IpAddr::V6(a)) => {
                self.len(20);
                self.buf.extend_from_slice(&[PGSQL_AF_INET6, 128, 0, 16]);
                self.buf.extend_from_slice(&a.octets());
            }
            None => self.null(),
        }
    }

    /// A one-dimensional `text[]` without NULLs, lower bound 1; an empty array has no
    /// dimensions.
    fn text_array(&mut self, items: &[String]) {
        let header = if items.is_empty() { 12 } else { 20 };
        self.len(header + items.iter().map(|t| 4 + t.len()).sum::<usize>());
        let dims = i32::from(!items.is_empty());
        for word in [dims, 0, TEXT_OID] {
            self.buf.extend_from_slice(&word.to_be_bytes());
        }
        if !items.is_empty() {
            let n = i32::try_from(items.len()).unwrap_or(i32::MAX);
            self.buf.extend_from_slice(&n.to_be_bytes());
            self.buf.extend_from_slice(&1_i32.to_be_bytes());
        }
        for item in items {
            self.text(Some(item));
        }
    }

    /// The stream with its trailer.
    fn finish(mut self) -> Vec<u8> {
        self.buf.extend_from_slice(&(-1_i16).to_be_bytes());
        self.buf
    }
}

/// Writes events with every lookup in SQL, per event: the GETs of index children (the
/// roll-up links each to the latest GET of an index listing it, in the table, which holds
/// this batch's `COPY` already, or earlier in `events`).
async fn insert_resolving(
    conn: &mut sqlx::PgConnection,
    events: &[NewPullEvent],
) -> Result<u64, DbError> {
    if events.is_empty() {
        return Ok(0);
    }
    let n = events.len();
    let mut ids = Vec::with_capacity(n);
    let mut ats = Vec::with_capacity(n);
    let mut orgs = Vec::with_capacity(n);
    let mut customers = Vec::with_capacity(n);
    let mut tokens = Vec::with_capacity(n);
    let mut repositories = Vec::with_capacity(n);
    let mut references = Vec::with_capacity(n);
    let mut tags = Vec::with_capacity(n);
    let mut digests = Vec::with_capacity(n);
    let mut media_types = Vec::with_capacity(n);
    let mut addrs = Vec::with_capacity(n);
    let mut agents = Vec::with_capacity(n);
    let mut kinds = Vec::with_capacity(n);
    let mut requests = Vec::with_capacity(n);
    for e in events {
        ids.push(e.id);
        ats.push(e.at);
        orgs.push(e.organization_id);
        customers.push(e.customer_id);
        tokens.push(e.token_id);
        repositories.push(e.repository.clone());
        references.push(e.reference.clone());
        tags.push(e.tag.clone());
        digests.push(e.digest.clone());
        media_types.push(e.media_type.clone());
        addrs.push(e.client_addr.clone());
        agents.push(e.user_agent.clone());
        kinds.push(e.client_kind.to_owned());
        requests.push(e.requests.max(1));
    }
    let done = sqlx::query!(
        r#"with batch as (
               select b.*, r.id as repository_id
               from unnest($1::uuid[], $2::timestamptz[], $3::uuid[], $4::uuid[], $5::uuid[],
                           $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],
                           $11::text[], $12::text[], $13::text[], $15::int4[])
                    with ordinality as b(id, at, organization_id, customer_id, token_id,
                                         repository, reference, tag, digest, media_type,
                                         client_addr, user_agent, client_kind, requests, ord)
               join repositories r
                 on r.name = b.repository and r.organization_id = b.organization_id
           )
           insert into pull_events (id, at, organization_id, customer_id, customer_name,
                                    token_id, token_name, token_prefix, repository, reference,
                                    digest, tags, media_type, platform_os, platform_arch,
                                    platform_variant, parent_id, client_addr, user_agent,
                                    client_kind, requests)
           select b.id, b.at, b.organization_id, b.customer_id, c.name,
                  b.token_id, t.name, t.display_prefix, b.repository, b.reference,
                  b.digest,
                  case when b.tag is not null then array[b.tag]
                       else coalesce((select array_agg(g.name order by g.name collate "C")
                                      from tags g
                                      where g.repository_id = b.repository_id
                                        and g.digest = b.digest), '{}') end,
                  b.media_type, pl.platform_os, pl.platform_arch, pl.platform_variant,
                  parent.id, b.client_addr::inet, b.user_agent, b.client_kind, b.requests
           from batch b
           left join customers c on c.id = b.customer_id
           left join access_tokens t on t.id = b.token_id
           left join lateral (
               -- Only a digest some index of the repository lists can have a parent: start
               -- from those indexes (an indexed lookup that finds nothing for most pulls),
               -- then take the latest GET of one of them by this token in the window.
               select p.id, p.digest
               from manifest_children mc
               cross join lateral (
                   (select e.id, e.at, e.digest, 0::bigint as ord from pull_events e
                    where e.token_id = b.token_id and e.repository = b.repository
                      and e.digest = mc.index_digest
                      and e.media_type in ('application/vnd.oci.image.index.v1+json',
                          'application/vnd.docker.distribution.manifest.list.v2+json')
                      and e.at <= b.at
                      and e.at >= b.at - make_interval(secs => $14)
                    order by e.at desc
                    limit 1)
                   union all
                   (select o.id, o.at, o.digest, o.ord from batch o
                    where o.token_id = b.token_id and o.repository = b.repository
                      and o.digest = mc.index_digest
                      and o.ord < b.ord
                      and o.at >= b.at - make_interval(secs => $14)
                    order by o.ord desc
                    limit 1)
               ) p
               where mc.repository_id = b.repository_id and mc.child_digest = b.digest
                 and mc.index_digest <> b.digest
               order by p.at desc, p.ord desc
               limit 1
           ) parent on true
           left join lateral (
               select mc.platform_os, mc.platform_arch, mc.platform_variant
               from manifest_children mc
               where mc.repository_id = b.repository_id and mc.child_digest = b.digest
                 and mc.platform_os is not null
               order by (mc.index_digest = parent.digest) desc nulls last, mc.index_digest
               limit 1
           ) pl on true"#,
        &ids,
        &ats,
        &orgs,
        &customers as &[Option<Uuid>],
        &tokens,
        &repositories,
        &references,
        &tags as &[Option<String>],
        &digests,
        &media_types,
        &addrs as &[Option<String>],
        &agents as &[Option<String>],
        &kinds,
        ROLL_UP_WINDOW_SECONDS,
        &requests,
    )
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}

/// Bytes of one blob sent to one token on one day (an aggregate of many GETs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobBytes {
    /// UTC day.
    pub day: Date,
    /// The vendor organization owning the repository.
    pub organization_id: Uuid,
    /// The token the bytes were sent to.
    pub token_id: Uuid,
    /// Its customer, for a customer token.
    pub customer_id: Option<Uuid>,
    /// Repository name.
    pub repository: String,
    /// Blob digest.
    pub digest: String,
    /// Bytes actually sent.
    pub bytes: i64,
    /// GETs that sent them.
    pub requests: i64,
}

/// Adds a batch of byte counts to the daily aggregates, in one statement (like pull events,
/// only for repositories of the caller's own organization).
pub async fn add_blob_bytes(pool: &PgPool, rows: &[BlobBytes]) -> Result<u64, DbError> {
    if rows.is_empty() {
        return Ok(0);
    }
    let days: Vec<Date> = rows.iter().map(|r| r.day).collect();
    let orgs: Vec<Uuid> = rows.iter().map(|r| r.organization_id).collect();
    let tokens: Vec<Uuid> = rows.iter().map(|r| r.token_id).collect();
    let customers: Vec<Option<Uuid>> = rows.iter().map(|r| r.customer_id).collect();
    let repositories: Vec<String> = rows.iter().map(|r| r.repository.clone()).collect();
    let digests: Vec<String> = rows.iter().map(|r| r.digest.clone()).collect();
    let bytes: Vec<i64> = rows.iter().map(|r| r.bytes).collect();
    let requests: Vec<i64> = rows.iter().map(|r| r.requests).collect();
    let done = sqlx::query!(
        r#"insert into blob_bytes_daily (day, organization_id, token_id, customer_id,
                                         customer_name, repository, digest, bytes, requests)
           select u.day, u.organization_id, u.token_id, u.customer_id, c.name, u.repository,
                  u.digest, u.bytes, u.requests
           from unnest($1::date[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[],
                       $6::text[], $7::bigint[], $8::bigint[])
                    as u(day, organization_id, token_id, customer_id, repository, digest, bytes,
                         requests)
           join repositories r
             on r.name = u.repository and r.organization_id = u.organization_id
           left join customers c on c.id = u.customer_id
           on conflict (token_id, repository, digest, day) do update
               set bytes = blob_bytes_daily.bytes + excluded.bytes,
                   requests = blob_bytes_daily.requests + excluded.requests,
                   customer_name = coalesce(excluded.customer_name,
                                            blob_bytes_daily.customer_name)"#,
        &days,
        &orgs,
        &tokens,
        &customers as &[Option<Uuid>],
        &repositories,
        &digests,
        &bytes,
        &requests,
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Version checks (manifest HEADs) counted for one group on one day: what the recorder adds
/// per batch (`version_checks_daily`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionChecks {
    /// UTC day.
    pub day: Date,
    /// The vendor organization owning the repository.
    pub organization_id: Uuid,
    /// The customer, for a customer token.
    pub customer_id: Option<Uuid>,
    /// Repository name.
    pub repository: String,
    /// The tag or digest as requested.
    pub reference: String,
    /// The client kind (as in pull events).
    pub client_kind: &'static str,
    /// How many HEADs.
    pub checks: i64,
    /// The latest of them.
    pub last_check_at: OffsetDateTime,
}

/// Adds a batch of version-check counts to the daily counters, in one statement (in key
/// order, so concurrent writers lock rows in the same order; like pull events, only for
/// repositories of the caller's own organization). Copies the customer's current name.
pub async fn add_version_checks(pool: &PgPool, rows: &[VersionChecks]) -> Result<u64, DbError> {
    if rows.is_empty() {
        return Ok(0);
    }
    let days: Vec<Date> = rows.iter().map(|r| r.day).collect();
    let orgs: Vec<Uuid> = rows.iter().map(|r| r.organization_id).collect();
    let customers: Vec<Option<Uuid>> = rows.iter().map(|r| r.customer_id).collect();
    let repositories: Vec<String> = rows.iter().map(|r| r.repository.clone()).collect();
    let references: Vec<String> = rows.iter().map(|r| r.reference.clone()).collect();
    let kinds: Vec<String> = rows.iter().map(|r| r.client_kind.to_owned()).collect();
    let checks: Vec<i64> = rows.iter().map(|r| r.checks).collect();
    let lasts: Vec<OffsetDateTime> = rows.iter().map(|r| r.last_check_at).collect();
    let done = sqlx::query!(
        r#"insert into version_checks_daily (organization_id, day, customer_id, customer_name,
                                             repository, reference, client_kind, checks,
                                             last_check_at)
           select u.organization_id, u.day, u.customer_id, c.name, u.repository, u.reference,
                  u.client_kind, sum(u.checks), max(u.last_check_at)
           from unnest($1::date[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[],
                       $7::int8[], $8::timestamptz[])
                    as u(day, organization_id, customer_id, repository, reference,
                         client_kind, checks, last_check_at)
           join repositories r
             on r.name = u.repository and r.organization_id = u.organization_id
           left join customers c on c.id = u.customer_id
           where u.checks > 0
           group by u.organization_id, u.day, u.customer_id, c.name, u.repository,
                    u.reference, u.client_kind
           order by u.organization_id, u.day, u.customer_id, u.repository, u.reference,
                    u.client_kind
           on conflict (organization_id, day, customer_id, repository, reference, client_kind)
           do update
               set checks = version_checks_daily.checks + excluded.checks,
                   customer_name = coalesce(excluded.customer_name,
                                            version_checks_daily.customer_name),
                   last_check_at = greatest(version_checks_daily.last_check_at,
                                            excluded.last_check_at)"#,
        &days,
        &orgs,
        &customers as &[Option<Uuid>],
        &repositories,
        &references,
        &kinds,
        &checks,
        &lasts,
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// How a version-check summary groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckGrouping {
    /// Per UTC day, oldest first.
    Day,
    /// Per customer (`vendor` for the organization's own tokens), most checks first.
    Customer,
    /// Per repository, most checks first.
    Repository,
    /// Per `repository:reference` (a tag, or a digest when checked by digest).
    Reference,
    /// Per client kind.
    Client,
}

impl CheckGrouping {
    /// Its name in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Customer => "customer",
            Self::Repository => "repository",
            Self::Reference => "reference",
            Self::Client => "client",
        }
    }
}

/// One line of a version-check summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckTotal {
    /// The group: a day (`2026-11-24`), a customer id (`vendor` for vendor tokens), a
    /// repository, `repository:reference` or a client kind.
    pub key: String,
    /// A readable label: the customer's latest recorded name; else the key.
    pub label: Option<String>,
    /// Manifest HEADs counted as version checks.
    pub checks: i64,
    /// Distinct customers among them (vendor tokens count as one).
    pub customers: i64,
    /// The latest check.
    pub last_check_at: OffsetDateTime,
}

/// Totals of the version checks of `org` matching `filter` (whole UTC days), grouped.
pub async fn summarize_checks(
    pool: &PgPool,
    org: Uuid,
    filter: &BytesFilter,
    group: CheckGrouping,
) -> Result<Vec<CheckTotal>, DbError> {
    Ok(sqlx::query_as!(
        CheckTotal,
        r#"with rows as (
               select v.day, v.customer_id, v.customer_name, v.checks, v.last_check_at,
                      case $6
                          when 'day' then to_char(v.day, 'YYYY-MM-DD')
                          when 'customer' then coalesce(v.customer_id::text, 'vendor')
                          when 'repository' then v.repository
                          when 'reference' then v.repository || ':' || v.reference
                          else v.client_kind
                      end as key
               from version_checks_daily v
               where v.organization_id = $1
                 and ($2::date is null or v.day >= $2)
                 and ($3::date is null or v.day < $3)
                 and ($4::uuid is null or v.customer_id = $4)
                 and ($5::text is null or v.repository = $5)
           )
           select key as "key!",
                  case $6
                      when 'customer' then coalesce(
                          (array_agg(customer_name order by last_check_at desc)
                               filter (where customer_name is not null))[1],
                          case when key = 'vendor' then 'vendor' end)
                      else key
                  end as label,
                  sum(checks)::int8 as "checks!",
                  count(distinct coalesce(customer_id::text, 'vendor')) as "customers!",
                  max(last_check_at) as "last_check_at!"
           from rows
           group by key
           order by case when $6 = 'day' then key end asc, sum(checks) desc, key"#,
        org,
        filter.since,
        filter.until,
        filter.customer_id,
        filter.repository.as_deref(),
        group.as_str(),
    )
    .fetch_all(pool)
    .await?)
}

/// Which pulls a report covers. Every field narrows; `None` does not.
#[derive(Debug, Clone, Default)]
pub struct PullFilter {
    /// From this time on (inclusive).
    pub since: Option<OffsetDateTime>,
    /// Before this time (exclusive).
    pub until: Option<OffsetDateTime>,
    /// One customer.
    pub customer_id: Option<Uuid>,
    /// One repository.
    pub repository: Option<String>,
    /// Pulls of one tag.
    pub tag: Option<String>,
    /// One client kind.
    pub client_kind: Option<String>,
}

/// A pull as reports show it: a top-level manifest GET (an index pull's child GETs are
/// rolled into it, their platforms listed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRow {
    /// The event id.
    pub id: Uuid,
    /// When.
    pub at: OffsetDateTime,
    /// Customer (id and name at the time), for a customer token.
    pub customer_id: Option<Uuid>,
    /// Customer name at the time.
    pub customer_name: Option<String>,
    /// The token.
    pub token_id: Uuid,
    /// Its name at the time.
    pub token_name: Option<String>,
    /// Its display prefix.
    pub token_prefix: Option<String>,
    /// Repository.
    pub repository: String,
    /// As requested.
    pub reference: String,
    /// Served digest.
    pub digest: String,
    /// Matched tags.
    pub tags: Vec<String>,
    /// Media type.
    pub media_type: String,
    /// `os/arch[/variant]` of the platform manifests pulled with it (index pulls).
    pub platforms: Vec<String>,
    /// Client address.
    pub client_addr: Option<String>,
    /// User agent.
    pub user_agent: Option<String>,
    /// Client kind.
    pub client_kind: String,
    /// How many identical GETs in that second this pull stands for.
    pub requests: i32,
}

/// Pulls of `org` matching `filter`, newest first, after the `(at, id)` position `after`;
/// at most `limit`.
pub async fn list_pulls(
    pool: &PgPool,
    org: Uuid,
    filter: &PullFilter,
    after: Option<(OffsetDateTime, Uuid)>,
    limit: i64,
) -> Result<Vec<PullRow>, DbError> {
    Ok(pulls_query(org, filter, after, limit).fetch_all(pool).await?)
}

/// Every pull of `org` matching `filter`, newest first, as a stream of rows (for exports of
/// any size: rows are read as they are sent).
pub fn stream_pulls<'a>(
    pool: &'a PgPool,
    org: Uuid,
    filter: &'a PullFilter,
) -> impl futures_util::Stream<Item = Result<PullRow, sqlx::Error>> + Send + 'a {
    pulls_query(org, filter, None, i64::MAX).fetch(pool)
}

fn pulls_query<'a>(
    org: Uuid,
    filter: &'a PullFilter,
    after: Option<(OffsetDateTime, Uuid)>,
    limit: i64,
) -> sqlx::query::Map<
    'a,
    sqlx::Postgres,
    impl FnMut(sqlx::postgres::PgRow) -> Result<PullRow, sqlx::Error> + Send,
    sqlx::postgres::PgArguments,
> {
    sqlx::query_as!(
        PullRow,
        r#"select e.id, e.at, e.customer_id, e.customer_name, e.token_id, e.token_name,
                  e.token_prefix, e.repository, e.reference, e.digest, e.tags, e.media_type,
                  array(select concat_ws('/', c.platform_os, c.platform_arch, c.platform_variant)
                        from pull_events c
                        where c.parent_id = e.id and c.platform_os is not null
                        order by 1) as "platforms!",
                  host(e.client_addr) as client_addr, e.user_agent, e.client_kind, e.requests
           from pull_events e
           where e.organization_id = $1 and e.parent_id is null
             and ($2::timestamptz is null or e.at >= $2)
             and ($3::timestamptz is null or e.at < $3)
             and ($4::uuid is null or e.customer_id = $4)
             and ($5::text is null or e.repository = $5)
             and ($6::text is null or $6 = any(e.tags))
             and ($7::text is null or e.client_kind = $7)
             and ($8::timestamptz is null or (e.at, e.id) < ($8, $9::uuid))
           order by e.at desc, e.id desc
           limit $10"#,
        org,
        filter.since,
        filter.until,
        filter.customer_id,
        filter.repository.as_deref(),
        filter.tag.as_deref(),
        filter.client_kind.as_deref(),
        after.map(|a| a.0),
        after.map(|a| a.1),
        limit,
    )
}

/// One line of a pull summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullTotal {
    /// The group: a day (`2026-11-24`), a customer id, or `<repository>:<tag>`.
    pub key: String,
    /// A readable label: the day, the customer's latest name, the version.
    pub label: Option<String>,
    /// Pulls (rolled up).
    pub pulls: i64,
    /// Distinct customers among them.
    pub customers: i64,
    /// The latest pull.
    pub last_pull_at: OffsetDateTime,
}

/// How a summary groups pulls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullGrouping {
    /// Per UTC day, oldest first.
    Day,
    /// Per customer, most pulls first.
    Customer,
    /// Per repository and tag (a pull counts for each tag it matched), most recent first:
    /// which customers still run which versions.
    Version,
}

/// Totals of `org`'s pulls matching `filter`, grouped.
///
/// Reads the raw pull events from the UTC day after the retention pass last pruned them
/// (`pull_events_pruned`), and the daily roll-up (`pull_daily_rollup`) for the days before:
/// the counts are the same before and after pruning. In those older days a range counts
/// whole days (a day is in it when its start is at or after `since`'s day and before
/// `until`), and the latest pull of a group is that of its day's roll-up row.
pub async fn summarize_pulls(
    pool: &PgPool,
    org: Uuid,
    filter: &PullFilter,
    group: PullGrouping,
) -> Result<Vec<PullTotal>, DbError> {
    let group = match group {
        PullGrouping::Day => "day",
        PullGrouping::Customer => "customer",
        PullGrouping::Version => "version",
    };
    Ok(sqlx::query_as!(
        PullTotal,
        r#"with pulls as (
               select e.at, e.customer_id, e.customer_name, e.repository, e.tags,
                      e.requests::int8 as requests
               from pull_events e
               where e.organization_id = $1 and e.parent_id is null
                 and ($2::timestamptz is null or e.at >= $2)
                 and ($3::timestamptz is null or e.at < $3)
                 and ($4::uuid is null or e.customer_id = $4)
                 and ($5::text is null or e.repository = $5)
                 and ($6::text is null or $6 = any(e.tags))
                 and ($7::text is null or e.client_kind = $7)
                 -- raw events from the day after the last prune, the roll-up before
                 and e.at >= coalesce((select ((p.pruned_before at time zone 'UTC')::date + 1)
                                              ::timestamp at time zone 'UTC'
                                       from pull_events_pruned p), '-infinity')
               union all
               select r.last_pull_at, r.customer_id, r.customer_name, r.repository, r.tags,
                      r.pulls
               from pull_daily_rollup r
               where r.organization_id = $1
                 and r.day < (select (p.pruned_before at time zone 'UTC')::date + 1
                              from pull_events_pruned p)
                 and ($2::timestamptz is null or r.day >= ($2 at time zone 'UTC')::date)
                 and ($3::timestamptz is null or (r.day::timestamp at time zone 'UTC') < $3)
                 and ($4::uuid is null or r.customer_id = $4)
                 and ($5::text is null or r.repository = $5)
                 and ($6::text is null or $6 = any(r.tags))
                 and ($7::text is null or r.client_kind = $7)
           ),
           keyed as (
               select to_char(p.at at time zone 'UTC', 'YYYY-MM-DD') as key,
                      to_char(p.at at time zone 'UTC', 'YYYY-MM-DD') as label,
                      p.at, p.customer_id, p.requests
               from pulls p where $8 = 'day'
               union all
               select coalesce(p.customer_id::text, 'vendor'),
                      first_value(coalesce(p.customer_name, 'vendor'))
                          over (partition by p.customer_id order by p.at desc),
                      p.at, p.customer_id, p.requests
               from pulls p where $8 = 'customer'
               union all
               select p.repository || ':' || t.tag, p.repository || ':' || t.tag,
                      p.at, p.customer_id, p.requests
               from pulls p cross join lateral unnest(p.tags) as t(tag) where $8 = 'version'
           )
           select key as "key!", max(label) as label, sum(requests)::int8 as "pulls!",
                  count(distinct customer_id) as "customers!", max(at) as "last_pull_at!"
           from keyed
           group by key
           order by case when $8 = 'day' then key end asc,
                    case when $8 = 'customer' then sum(requests) end desc,
                    max(at) desc, key"#,
        org,
        filter.since,
        filter.until,
        filter.customer_id,
        filter.repository.as_deref(),
        filter.tag.as_deref(),
        filter.client_kind.as_deref(),
        group,
    )
    .fetch_all(pool)
    .await?)
}

/// Which bytes a report covers, by UTC day. Every field narrows; `None` does not.
#[derive(Debug, Clone, Default)]
pub struct BytesFilter {
    /// From this day on (inclusive).
    pub since: Option<Date>,
    /// Before this day (exclusive).
    pub until: Option<Date>,
    /// One customer.
    pub customer_id: Option<Uuid>,
    /// One repository.
    pub repository: Option<String>,
}

/// How a bytes summary groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BytesGrouping {
    /// Per UTC day, oldest first.
    Day,
    /// Per customer, most bytes first.
    Customer,
    /// Per repository, most bytes first.
    Repository,
}

/// One line of a bytes summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BytesTotal {
    /// The group: a day (`2026-11-24`), a customer id (`vendor` for vendor tokens) or a
    /// repository name.
    pub key: String,
    /// A readable label: the day, the customer's latest recorded name, the repository.
    pub label: Option<String>,
    /// Blob bytes sent.
    pub bytes: i64,
    /// Blob GETs that sent them.
    pub requests: i64,
    /// Distinct customers among them.
    pub customers: i64,
}

/// Totals of the blob bytes `org` served matching `filter`, grouped.
pub async fn summarize_bytes(
    pool: &PgPool,
    org: Uuid,
    filter: &BytesFilter,
    group: BytesGrouping,
) -> Result<Vec<BytesTotal>, DbError> {
    let group = match group {
        BytesGrouping::Day => "day",
        BytesGrouping::Customer => "customer",
        BytesGrouping::Repository => "repository",
    };
    Ok(sqlx::query_as!(
        BytesTotal,
        r#"with rows as (
               select b.day, b.customer_id, b.customer_name, b.repository, b.bytes, b.requests,
                      case $6
                          when 'day' then to_char(b.day, 'YYYY-MM-DD')
                          when 'customer' then coalesce(b.customer_id::text, 'vendor')
                          else b.repository
                      end as key
               from blob_bytes_daily b
               where b.organization_id = $1
                 and ($2::date is null or b.day >= $2)
                 and ($3::date is null or b.day < $3)
                 and ($4::uuid is null or b.customer_id = $4)
                 and ($5::text is null or b.repository = $5)
           )
           select key as "key!",
                  case $6
                      when 'customer' then coalesce(
                          (array_agg(customer_name order by day desc)
                               filter (where customer_name is not null))[1],
                          case when key = 'vendor' then 'vendor' end)
                      else key
                  end as label,
                  sum(bytes)::int8 as "bytes!", sum(requests)::int8 as "requests!",
                  count(distinct customer_id) as "customers!"
           from rows
           group by key
           order by case when $6 = 'day' then key end asc, sum(bytes) desc, key"#,
        org,
        filter.since,
        filter.until,
        filter.customer_id,
        filter.repository.as_deref(),
        group,
    )
    .fetch_all(pool)
    .await?)
}

#[cfg(test)]
mod tests {
    use sqlx::Row;

    use super::*;
    use crate::registry::repositories;

    async fn org(pool: &PgPool, slug: &str) -> Uuid {
        crate::testing::org(pool, slug).await.id
    }

    /// An index `sha256:i…` with children `a` (linux/amd64) and `b` (linux/arm64), tag `1.0`.
    async fn repository_with_index(pool: &PgPool, org: Uuid, slug: &str) -> Uuid {
        let repo = repositories::find_or_create(pool, org, slug, &format!("{slug}/app"))
            .await
            .unwrap()
            .unwrap();
        for digest in ["sha256:i", "sha256:a", "sha256:b"] {
            sqlx::query(
                "insert into manifests (repository_id, digest, media_type, size, bytes)
                 values ($1, $2, 'application/vnd.oci.image.index.v1+json', 2, '{}')",
            )
            .bind(repo.id)
            .bind(digest)
            .execute(pool)
            .await
            .unwrap();
        }
        for (pos, (child, arch)) in
            [("sha256:a", "amd64"), ("sha256:b", "arm64")].iter().enumerate()
        {
            sqlx::query(
                "insert into manifest_children (repository_id, index_digest, position,
                     child_digest, media_type, size, platform_os, platform_arch)
                 values ($1, 'sha256:i', $2, $3, 'application/vnd.oci.image.manifest.v1+json',
                         2, 'linux', $4)",
            )
            .bind(repo.id)
            .bind(pos as i32)
            .bind(child)
            .bind(arch)
            .execute(pool)
            .await
            .unwrap();
        }
        sqlx::query(
            "insert into tags (repository_id, name, digest) values ($1, '1.0', 'sha256:i')",
        )
        .bind(repo.id)
        .execute(pool)
        .await
        .unwrap();
        repo.id
    }

    fn event(
        org: Uuid,
        token: Uuid,
        repo: &str,
        reference: &str,
        at: OffsetDateTime,
    ) -> NewPullEvent {
        let by_tag = !reference.starts_with("sha256:");
        let is_index = by_tag || reference == "sha256:i";
        NewPullEvent {
            id: Uuid::now_v7(),
            at,
            organization_id: org,
            customer_id: None,
            token_id: token,
            repository: repo.to_owned(),
            reference: reference.to_owned(),
            tag: by_tag.then(|| reference.to_owned()),
            digest: if by_tag { "sha256:i".to_owned() } else { reference.to_owned() },
            media_type: if is_index {
                "application/vnd.oci.image.index.v1+json"
            } else {
                "application/vnd.oci.image.manifest.v1+json"
            }
            .to_owned(),
            client_addr: Some("192.0.2.1".to_owned()),
            user_agent: None,
            client_kind: "other",
            requests: 1,
        }
    }

    async fn rows(pool: &PgPool) -> Vec<(Uuid, Option<Uuid>, Vec<String>, Option<String>)> {
        sqlx::query("select id, parent_id, tags, platform_arch from pull_events order by at, id")
            .fetch_all(pool)
            .await
            .unwrap()
            .into_iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
            .collect()
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn children_roll_up_into_the_index_pull_in_one_batch_and_across_batches(pool: PgPool) {
        let acme = org(&pool, "acme").await;
        repository_with_index(&pool, acme, "acme").await;
        let (token, other) = (Uuid::new_v4(), Uuid::new_v4());
        let t0 = OffsetDateTime::now_utc() - time::Duration::minutes(10);
        let s = time::Duration::seconds;
        // One batch: the index by tag, then its amd64 child by digest.
        let index = event(acme, token, "acme/app", "1.0", t0);
        let child = event(acme, token, "acme/app", "sha256:a", t0 + s(1));
        assert_eq!(insert_pull_events(&pool, &[index.clone(), child.clone()]).await.unwrap(), 2);
        // Later batches: the arm64 child 30 s later (rolls up), again 2 minutes later (too
        // late), and by another token (not its pull).
        let late = [
            event(acme, token, "acme/app", "sha256:b", t0 + s(30)),
            event(acme, token, "acme/app", "sha256:b", t0 + s(120)),
            event(acme, other, "acme/app", "sha256:b", t0 + s(31)),
        ];
        insert_pull_events(&pool, &late).await.unwrap();
        let found = rows(&pool).await;
        let by_id = |id: Uuid| found.iter().find(|r| r.0 == id).unwrap().clone();
        assert_eq!(by_id(index.id).1, None);
        assert_eq!(by_id(index.id).2, vec!["1.0".to_owned()]);
        assert_eq!(by_id(child.id).1, Some(index.id), "same batch");
        assert_eq!(by_id(child.id).3.as_deref(), Some("amd64"));
        assert_eq!(by_id(late[0].id).1, Some(index.id), "a later batch");
        assert_eq!(by_id(late[1].id).1, None, "outside the window");
        assert_eq!(by_id(late[1].id).3.as_deref(), Some("arm64"), "platform all the same");
        assert_eq!(by_id(late[2].id).1, None, "another token");

        // Reports list index pulls with their platforms.
        let pulls = list_pulls(&pool, acme, &PullFilter::default(), None, 10).await.unwrap();
        assert_eq!(pulls.len(), 3);
        let first = pulls.iter().find(|p| p.id == index.id).unwrap();
        assert_eq!(first.platforms, vec!["linux/amd64".to_owned(), "linux/arm64".to_owned()]);
        // Pulled by digest: the tags pointing at it.
        let by_digest = event(acme, token, "acme/app", "sha256:i", t0 + s(300));
        insert_pull_events(&pool, std::slice::from_ref(&by_digest)).await.unwrap();
        assert_eq!(by_id_tags(&pool, by_digest.id).await, vec!["1.0".to_owned()]);
    }

    async fn by_id_tags(pool: &PgPool, id: Uuid) -> Vec<String> {
        sqlx::query_scalar("select tags from pull_events where id = $1")
            .bind(id)
            .fetch_one(pool)
            .await
            .unwrap()
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn copied_events_keep_every_character_names_and_times_exactly(pool: PgPool) {
        let acme = org(&pool, "acme").await;
        repository_with_index(&pool, acme, "acme").await;
        let customer = crate::testing::customer(&pool, acme, "Tab\there \\ \"quoted\" 名前").await;
        let at = OffsetDateTime::now_utc().replace_nanosecond(123_456_789).unwrap();
        let odd = "agent\twith\\back\nslash\r \"and\" \\N";
        let mut by_tag = event(acme, Uuid::new_v4(), "acme/app", "1.0", at);
        by_tag.customer_id = Some(customer.id);
        by_tag.user_agent = Some(odd.to_owned());
        by_tag.requests = 3;
        let mut by_digest = event(acme, by_tag.token_id, "acme/app", "sha256:i", at);
        by_digest.client_addr = None;
        assert_eq!(
            insert_pull_events(&pool, &[by_tag.clone(), by_digest.clone()]).await.unwrap(),
            2
        );
        let row = sqlx::query(
            "select user_agent, customer_name, at, requests, tags, host(client_addr)
             from pull_events where id = $1",
        )
        .bind(by_tag.id)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(row.get::<Option<String>, _>(0).as_deref(), Some(odd));
        assert_eq!(row.get::<Option<String>, _>(1), Some(customer.name.clone()));
        let stored: OffsetDateTime = row.get(2);
        assert_eq!(stored, at.replace_nanosecond(123_456_000).unwrap(), "microseconds, truncated");
        assert_eq!(row.get::<i32, _>(3), 3);
        assert_eq!(row.get::<Vec<String>, _>(4), vec!["1.0".to_owned()]);
        assert_eq!(row.get::<Option<String>, _>(5).as_deref(), Some("192.0.2.1"));
        let (tags, addr): (Vec<String>, Option<String>) =
            sqlx::query_as("select tags, host(client_addr) from pull_events where id = $1")
                .bind(by_digest.id)
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!((tags, addr), (vec!["1.0".to_owned()], None));
        // Both roll-ups counted the batch once.
        let (total, rolled): (i64, i64) = sqlx::query_as(
            "select (select sum(pulls) from pull_daily_totals where dimension = 'total')::int8,
                    (select sum(pulls) from pull_daily_rollup)::int8",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!((total, rolled), (4, 4));
    }

    /// The binary `COPY` stream, column by column: NULLs, empty and non-empty tag arrays,
    /// IPv4, IPv6 and IPv4-mapped addresses, odd characters, times before and after 2000 and
    /// their sub-microsecond part, a count below one.
    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn binary_copy_writes_every_column_kind(pool: PgPool) {
        let acme = org(&pool, "acme").await;
        let repo = repository_with_index(&pool, acme, "acme").await;
        sqlx::query(
            "insert into tags (repository_id, name, digest) values ($1, '0.9', 'sha256:i')",
        )
        .bind(repo)
        .execute(&pool)
        .await
        .unwrap();
        let odd = "Tab\there \\N \"quoted\" 名前 ünïcode\r\n,{}";
        let customer = crate::testing::customer(&pool, acme, odd).await;
        let token = Uuid::new_v4();
        sqlx::query(
            "insert into access_tokens (id, organization_id, kind, name, token_hash,
                 display_prefix, customer_id)
             values ($1, $2, 'customer', $3, sha256('t'::bytea), 'whc_\\x', $4)",
        )
        .bind(token)
        .bind(acme)
        .bind(odd)
        .bind(customer.id)
        .execute(&pool)
        .await
        .unwrap();
        let at = |s: &str| {
            OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).unwrap()
        };
        let mut by_tag =
            event(acme, token, "acme/app", "1.0", at("2026-12-07T10:11:12.123456789Z"));
        by_tag.customer_id = Some(customer.id);
        by_tag.client_addr = Some("2001:db8::7".to_owned());
        by_tag.user_agent = Some(odd.to_owned());
        by_tag.requests = 0;
        // By digest: the two tags pointing at it, sorted; a token that does not exist (no
        // names); an IPv4-mapped address; a time before 2000, rounded down.
        let mut tagged =
            event(acme, Uuid::new_v4(), "acme/app", "sha256:i", at("1999-12-31T23:59:59.9999995Z"));
        tagged.client_addr = Some("::ffff:192.0.2.9".to_owned());
        tagged.requests = 7;
        // By digest, no tag points at it: an empty array; every nullable column NULL.
        let mut bare = event(acme, token, "acme/app", "sha256:none", at("2000-01-01T00:00:00Z"));
        bare.client_addr = None;
        bare.user_agent = None;
        bare.client_kind = "docker";
        let events = [by_tag.clone(), tagged.clone(), bare.clone()];
        assert_eq!(insert_pull_events(&pool, &events).await.unwrap(), 3);

        type Row = (
            (
                OffsetDateTime,
                Uuid,
                Option<Uuid>,
                Option<String>,
                Uuid,
                Option<String>,
                Option<String>,
            ),
            (
                String,
                String,
                String,
                Vec<String>,
                String,
                Option<String>,
                Option<String>,
                String,
                i32,
            ),
        );
        let read = |id: Uuid| {
            let pool = pool.clone();
            async move {
                let r = sqlx::query(
                    "select at, organization_id, customer_id, customer_name, token_id, token_name,
                            token_prefix, repository, reference, digest, tags, media_type,
                            client_addr::text, user_agent, client_kind, requests
                     from pull_events where id = $1",
                )
                .bind(id)
                .fetch_one(&pool)
                .await
                .unwrap();
                let row: Row = (
                    (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5), r.get(6)),
                    (
                        r.get(7),
                        r.get(8),
                        r.get(9),
                        r.get(10),
                        r.get(11),
                        r.get(12),
                        r.get(13),
                        r.get(14),
                        r.get(15),
                    ),
                );
                row
            }
        };
        let manifest = "application/vnd.oci.image.manifest.v1+json".to_owned();
        let index = "application/vnd.oci.image.index.v1+json".to_owned();
        let s = |v: &str| Some(v.to_owned());
        assert_eq!(
            read(by_tag.id).await,
            (
                (
                    at("2026-12-07T10:11:12.123456Z"),
                    acme,
                    Some(customer.id),
                    s(odd),
                    token,
                    s(odd),
                    s("whc_\\x")
                ),
                (
                    "acme/app".into(),
                    "1.0".into(),
                    "sha256:i".into(),
                    vec!["1.0".into()],
                    index.clone(),
                    s("2001:db8::7/128"),
                    s(odd),
                    "other".into(),
                    1
                ),
            )
        );
        assert_eq!(
            read(tagged.id).await,
            (
                (at("1999-12-31T23:59:59.999999Z"), acme, None, None, tagged.token_id, None, None),
                (
                    "acme/app".into(),
                    "sha256:i".into(),
                    "sha256:i".into(),
                    vec!["0.9".into(), "1.0".into()],
                    index,
                    s("::ffff:192.0.2.9/128"),
                    None,
                    "other".into(),
                    7
                ),
            )
        );
        assert_eq!(
            read(bare.id).await,
            (
                (at("2000-01-01T00:00:00Z"), acme, None, None, token, s(odd), s("whc_\\x")),
                (
                    "acme/app".into(),
                    "sha256:none".into(),
                    "sha256:none".into(),
                    vec![],
                    manifest,
                    None,
                    None,
                    "docker".into(),
                    1
                ),
            )
        );
        let ipv4: Option<String> = sqlx::query_scalar(
            "select client_addr::text from pull_events where id = $1 and family(client_addr) = 4",
        )
        .bind({
            let mut v4 = event(acme, token, "acme/app", "1.0", at("2026-12-07T10:11:13Z"));
            v4.client_addr = Some("192.0.2.1".to_owned());
            insert_pull_events(&pool, std::slice::from_ref(&v4)).await.unwrap();
            v4.id
        })
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(ipv4.as_deref(), Some("192.0.2.1/32"));
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn another_organizations_repository_is_not_recorded(pool: PgPool) {
        let acme = org(&pool, "acme").await;
        let rival = org(&pool, "rival").await;
        repository_with_index(&pool, rival, "rival").await;
        let at = OffsetDateTime::now_utc();
        let e = event(acme, Uuid::new_v4(), "rival/app", "1.0", at);
        assert_eq!(insert_pull_events(&pool, &[e]).await.unwrap(), 0);
        let bytes = BlobBytes {
            day: at.date(),
            organization_id: acme,
            token_id: Uuid::new_v4(),
            customer_id: None,
            repository: "rival/app".into(),
            digest: "sha256:a".into(),
            bytes: 10,
            requests: 1,
        };
        assert_eq!(add_blob_bytes(&pool, &[bytes]).await.unwrap(), 0);
    }

    #[sqlx::test(migrator = "crate::MIGRATOR")]
    async fn bytes_add_up_per_token_repository_digest_and_day(pool: PgPool) {
        let acme = org(&pool, "acme").await;
        repository_with_index(&pool, acme, "acme").await;
        let row = BlobBytes {
            day: OffsetDateTime::now_utc().date(),
            organization_id: acme,
            token_id: Uuid::new_v4(),
            customer_id: None,
            repository: "acme/app".into(),
            digest: "sha256:a".into(),
            bytes: 100,
            requests: 2,
        };
        add_blob_bytes(&pool, std::slice::from_ref(&row)).await.unwrap();
        add_blob_bytes(&pool, &[BlobBytes { bytes: 5, requests: 1, ..row.clone() }]).await.unwrap();
        let (bytes, requests): (i64, i64) =
            sqlx::query_as("select bytes, requests from blob_bytes_daily")
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!((bytes, requests), (105, 3));
    }
}
