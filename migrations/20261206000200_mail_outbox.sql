-- The mail outbox: every message Wharf sends (invitations, password resets) is written here
-- by the request that causes it, and delivered by a background worker on every instance.
--
-- Delivery: a worker claims one due row (`status = 'queued'` and `next_attempt_at <= now()`)
-- with `for update skip locked`, counts the attempt and moves `next_attempt_at` a lease ahead
-- in the same statement, then talks SMTP outside any transaction. Another instance skips a
-- row being claimed and sees a claimed one as not due, so a message is sent once even when
-- several instances share this database. The result is written only while the row still
-- carries the attempt the worker claimed. A failed attempt is retried with exponential
-- backoff (`next_attempt_at`); a permanent SMTP refusal (5xx) or the last attempt ends as
-- `failed`.
--
-- The bodies hold single-use links (invitation and password-reset tokens): they are set to
-- null as soon as the message is sent or has failed for good, and only a queued message has
-- them. `last_error` holds the class and code of the last failure ("transient SMTP error
-- 421", "connection failed"), never a body or a link.
create table mail_outbox (
    id              uuid primary key,
    -- the vendor organization the message is sent for; null for instance mail (password
    -- resets, sign-up invitations). The portal reads deliveries scoped to it.
    organization_id uuid references organizations (id) on delete cascade,
    -- what the message is about: `invitation` + the invitation's id, `password_reset` + the
    -- user's id
    about_kind      text not null check (about_kind in ('invitation', 'password_reset')),
    about_id        uuid not null,
    -- the address, as given (a single mailbox)
    recipient       text not null check (length(recipient) between 3 and 320),
    -- display name of the From header (the configured address stays the same), e.g.
    -- "Acme via Wharf"; null: the configured name
    sender_name     text check (length(sender_name) <= 300),
    subject         text not null check (length(subject) <= 998),
    body_text       text,
    body_html       text,
    status          text not null default 'queued' check (status in ('queued', 'sent', 'failed')),
    -- attempts made so far (an attempt counts when it is claimed)
    attempts        integer not null default 0 check (attempts >= 0),
    -- when the next attempt is due (or, while one runs, when its lease ends)
    next_attempt_at timestamptz not null default now(),
    last_error      text check (length(last_error) <= 500),
    created_at      timestamptz not null default now(),
    sent_at         timestamptz,
    check ((status = 'queued') = (body_text is not null and body_html is not null)),
    check ((status = 'sent') = (sent_at is not null))
);

-- The worker's claim: the earliest due queued message.
create index mail_outbox_due on mail_outbox (next_attempt_at) where status = 'queued';

-- "Did the mail about this invitation go out?": the newest message about it.
create index mail_outbox_about on mail_outbox (about_kind, about_id, created_at desc);
