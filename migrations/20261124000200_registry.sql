-- The registry's metadata: repositories, blobs and their per-repository links, manifests and
-- the manifest graph, tags with their history, and upload sessions.
--
-- Blob bytes live in the blob store (filesystem or S3), addressed by digest; these tables say
-- what exists and who may see it. A row here is written only after the bytes it describes are
-- in storage, so nothing visible here is ever missing there (garbage collection deletes the
-- rows before it deletes the bytes). Digests are stored as their canonical text
-- (`sha256:<hex>`), validated by the registry before they get here.

-- A repository `<org-slug>/<path>`, created on first push by a member of that organization.
create table repositories (
    id              uuid primary key,
    organization_id uuid not null references organizations (id) on delete cascade,
    name            text not null unique check (length(name) between 3 and 255),
    -- Vendors may make a repository public explicitly; default deny.
    public          boolean not null default false,
    created_at      timestamptz not null default now()
);

-- The catalog lists an organization's repositories in byte order.
create index repositories_organization on repositories (organization_id, name collate "C");

-- What the blob store holds: one row per content address, the authority garbage collection
-- consults. Inserted when an upload (or a manifest's bytes) is committed to storage.
create table blobs (
    digest      text primary key,
    size        bigint not null check (size >= 0),
    created_at  timestamptz not null default now()
);

-- Which repository sees which blob: a repository sees only blobs linked to it (by an upload,
-- a mount, or a manifest push that stored its bytes).
create table repository_blobs (
    repository_id uuid not null references repositories (id) on delete cascade,
    digest        text not null references blobs (digest),
    created_at    timestamptz not null default now(),
    primary key (repository_id, digest)
);

create index repository_blobs_digest on repository_blobs (digest);

-- Manifests, stored exactly as pushed (`bytes`); `digest` is computed over those bytes.
create table manifests (
    repository_id  uuid not null references repositories (id) on delete cascade,
    digest         text not null,
    media_type     text not null,
    -- What the referrers API reports: `artifactType`, else `config.mediaType`.
    artifact_type  text,
    size           bigint not null check (size >= 0),
    bytes          bytea not null,
    -- The manifest this one refers to (signature, SBOM); need not exist.
    subject_digest text,
    -- Top-level annotations, for the referrers API.
    annotations    jsonb not null default '{}'::jsonb,
    pushed_at      timestamptz not null default now(),
    primary key (repository_id, digest),
    check (octet_length(bytes) = size)
);

create index manifests_subject on manifests (repository_id, subject_digest)
    where subject_digest is not null;

-- The blobs an image manifest references: its config and its layers, in order. External
-- (non-distributable, `urls`) layers are recorded but need not exist in the repository.
create table manifest_blobs (
    repository_id   uuid not null,
    manifest_digest text not null,
    position        integer not null check (position >= 0),
    kind            text not null check (kind in ('config', 'layer')),
    digest          text not null,
    media_type      text not null,
    size            bigint not null check (size >= 0),
    external        boolean not null default false,
    primary key (repository_id, manifest_digest, position),
    foreign key (repository_id, manifest_digest)
        references manifests (repository_id, digest) on delete cascade
);

create index manifest_blobs_digest on manifest_blobs (digest);

-- The children of an index (manifest list), in order, with their platforms, so entitlements
-- can close a tag over the whole graph.
create table manifest_children (
    repository_id  uuid not null,
    index_digest   text not null,
    position       integer not null check (position >= 0),
    child_digest   text not null,
    media_type     text not null,
    size           bigint not null check (size >= 0),
    platform_os    text,
    platform_arch  text,
    platform_variant text,
    primary key (repository_id, index_digest, position),
    foreign key (repository_id, index_digest)
        references manifests (repository_id, digest) on delete cascade
);

create index manifest_children_child on manifest_children (repository_id, child_digest);

-- Tags as they are now. `pushed_at` is when the tag was set to this digest. Deleting a
-- manifest deletes the tags pointing at it (the registry closes their history first).
create table tags (
    repository_id uuid not null,
    name          text not null check (name ~ '^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$'),
    digest        text not null,
    pushed_at     timestamptz not null default now(),
    primary key (repository_id, name),
    foreign key (repository_id, digest)
        references manifests (repository_id, digest) on delete cascade
);

create index tags_digest on tags (repository_id, digest);

-- Which digest each tag pointed to, from when until when (`valid_until` is null while the tag
-- still points there). Closed when the tag moves or is deleted, never deleted with
-- manifests: entitlements' re-tag grace window and usage analytics read it.
create table tag_history (
    id            bigint generated always as identity primary key,
    repository_id uuid not null references repositories (id) on delete cascade,
    tag           text not null,
    digest        text not null,
    valid_from    timestamptz not null,
    valid_until   timestamptz,
    check (valid_until is null or valid_until >= valid_from)
);

-- At most one open entry per tag.
create unique index tag_history_open on tag_history (repository_id, tag) where valid_until is null;
create index tag_history_by_tag on tag_history (repository_id, tag, valid_from);

-- Upload sessions, bound to a repository, an organization and the principal that started
-- them, so any instance can continue any upload and nobody else can. `byte_offset` is the
-- number of bytes received. An append first claims the session (`append_lease`, only while no
-- unexpired lease is held and the offset is the one it read), streams its bytes, then records
-- the new offset under that lease: two requests can never write the same session's temporary
-- data at once, even on different instances.
create table upload_sessions (
    id              uuid primary key,
    repository_id   uuid not null references repositories (id) on delete cascade,
    organization_id uuid not null references organizations (id) on delete cascade,
    created_by      text not null,
    byte_offset     bigint not null default 0 check (byte_offset >= 0),
    -- The streaming hash: its algorithm and `Hasher::save` state after `byte_offset` bytes.
    hash_algorithm  text not null check (hash_algorithm in ('sha256', 'sha512')),
    hash_state      bytea not null,
    -- The blob store's opaque `UploadState` (temporary file or S3 multipart progress).
    storage_state   text not null,
    -- The append in progress, if any, and until when its claim holds (the writer stops
    -- before then, so an expired claim can be taken over safely).
    append_lease       uuid,
    append_lease_until timestamptz,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    expires_at      timestamptz not null
);

create index upload_sessions_expires on upload_sessions (expires_at);
