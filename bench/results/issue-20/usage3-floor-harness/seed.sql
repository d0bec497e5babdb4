insert into organizations (id, slug, name) values ('11111111-1111-1111-1111-111111111111', 'acme', 'Acme');
insert into repositories (id, organization_id, name)
  select ('22222222-2222-2222-2222-2222222222' || lpad(i::text, 2, '0'))::uuid, '11111111-1111-1111-1111-111111111111', 'acme/app' || i from generate_series(0, 9) i;
insert into customers (id, organization_id, name)
  select ('33333333-3333-3333-3333-3333333333' || lpad(i::text, 2, '0'))::uuid, '11111111-1111-1111-1111-111111111111', 'Customer ' || i from generate_series(0, 49) i;
insert into access_tokens (id, organization_id, kind, name, token_hash, display_prefix, customer_id)
  select ('44444444-4444-4444-4444-4444444444' || lpad(i::text, 2, '0'))::uuid, '11111111-1111-1111-1111-111111111111', 'customer', 'ci token ' || i, sha256(i::text::bytea), 'whc_' || i, ('33333333-3333-3333-3333-3333333333' || lpad(i::text, 2, '0'))::uuid from generate_series(0, 49) i;
insert into tags (repository_id, name, digest)
  select ('22222222-2222-2222-2222-2222222222' || lpad(r::text, 2, '0'))::uuid, '1.' || t || '.0', 'sha256:' || encode(sha256((r*100+t)::text::bytea), 'hex') from generate_series(0,9) r, generate_series(0,19) t;
-- 1M existing events over 30 days, time-ordered ids (v7-like: 48-bit ms then random)
insert into pull_events (id, at, organization_id, customer_id, customer_name, token_id, token_name, token_prefix, repository, reference, digest, tags, media_type, client_addr, user_agent, client_kind, requests)
select
  (lpad(to_hex((extract(epoch from a.at) * 1000)::bigint), 12, '0') || '7' || substr(md5(i::text), 1, 19))::uuid,
  a.at, '11111111-1111-1111-1111-111111111111',
  ('33333333-3333-3333-3333-3333333333' || lpad((i % 50)::text, 2, '0'))::uuid, 'Customer ' || (i % 50),
  ('44444444-4444-4444-4444-4444444444' || lpad((i % 50)::text, 2, '0'))::uuid, 'ci token ' || (i % 50), 'whc_' || (i % 50),
  'acme/app' || (i % 10), '1.' || (i % 20) || '.0', 'sha256:' || encode(sha256(((i%10)*100 + i%20)::text::bytea), 'hex'),
  array['1.' || (i % 20) || '.0'], 'application/vnd.oci.image.manifest.v1+json',
  ('10.' || (i % 250) || '.' || (i / 250 % 250) || '.1')::inet, 'docker/24.0.' || (i % 7) || ' go/go1.21', (array['docker','containerd','podman','other'])[1 + i % 4], 1
from generate_series(0, 999999) i
cross join lateral (select now() - interval '30 days' + (i * interval '30 days' / 1000000) as at) a;
vacuum analyze;
