-- A vendor organization's branding of its customer portal and of its branded sign-in page
-- (`/s/{slug}/sign-in`), one row per organization that changed anything (no row: defaults).
--
-- The logo is stored here (it is small: at most 256 KiB, checked by the application) with the
-- content type sniffed from its bytes and the SHA-256 it is served under
-- (`/branding/{slug}/logo.{hash}`); the vendor's file name is never kept.
create table organization_branding (
    organization_id   uuid primary key references organizations (id) on delete cascade,
    -- the portal's title; empty: the organization's name
    title             text not null default '' check (length(title) <= 100),
    -- `#rrggbb`, lower-case; null: Wharf's colours
    primary_color     text check (primary_color ~ '^#[0-9a-f]{6}$'),
    -- Markdown as the vendor wrote it; rendered and sanitized when shown
    welcome_markdown  text not null default '' check (length(welcome_markdown) <= 20000),
    -- host[:port] shown in commands; null: the public URL's
    registry_host     text check (length(registry_host) <= 255),
    -- whether the customers see their own pull history (Downloads)
    show_pull_history boolean not null default false,
    logo              bytea check (octet_length(logo) <= 262144),
    logo_content_type text check (logo_content_type in ('image/png', 'image/jpeg', 'image/svg+xml')),
    logo_sha256       text check (logo_sha256 ~ '^[0-9a-f]{64}$'),
    updated_at        timestamptz not null default now(),
    check ((logo is null) = (logo_content_type is null) and (logo is null) = (logo_sha256 is null))
);

-- Customer tokens owned by the customer rather than by the person who created them (for CI
-- and clusters): they are kept when that person is removed from the customer, while the
-- personal tokens of a removed person are revoked.
create table customer_service_tokens (
    token_id    uuid primary key references access_tokens (id) on delete cascade,
    customer_id uuid not null references customers (id) on delete cascade
);

create index customer_service_tokens_customer on customer_service_tokens (customer_id);
