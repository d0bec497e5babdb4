\timing off
insert into pull_events (id, at, organization_id, customer_id, customer_name, token_id, repository, reference, digest, media_type, client_kind)
 select gen_random_uuid(), now() - interval '29 days' + i * interval '1 minute', '11111111-1111-1111-1111-111111111111', '99999999-9999-9999-9999-999999999999', 'Rare', '99999999-9999-9999-9999-999999999999', 'acme/rare', '1', 'sha256:x', 'm', 'docker' from generate_series(1,5) i;
insert into pull_events_asc select * from pull_events where customer_id = '99999999-9999-9999-9999-999999999999';
analyze pull_events; analyze pull_events_asc;
\echo === list by rare customer, indexes as today
explain (analyze, costs off, timing off, summary on) select e.id, e.at from pull_events e where e.organization_id = '11111111-1111-1111-1111-111111111111' and e.parent_id is null and e.customer_id = '99999999-9999-9999-9999-999999999999' order by e.at desc, e.id desc limit 50;
\echo === list by rare customer, ascending indexes
explain (analyze, costs off, timing off, summary on) select e.id, e.at from pull_events_asc e where e.organization_id = '11111111-1111-1111-1111-111111111111' and e.parent_id is null and e.customer_id = '99999999-9999-9999-9999-999999999999' order by e.at desc, e.id desc limit 50;
\echo === list by rare repository, ascending indexes
explain (analyze, costs off, timing off, summary on) select e.id, e.at from pull_events_asc e where e.organization_id = '11111111-1111-1111-1111-111111111111' and e.parent_id is null and e.repository = 'acme/rare' order by e.at desc, e.id desc limit 50;
\echo === list unfiltered, ascending indexes
explain (analyze, costs off, timing off, summary on) select e.id, e.at from pull_events_asc e where e.organization_id = '11111111-1111-1111-1111-111111111111' and e.parent_id is null order by e.at desc, e.id desc limit 50;
\echo === list unfiltered, indexes as today
explain (analyze, costs off, timing off, summary on) select e.id, e.at from pull_events e where e.organization_id = '11111111-1111-1111-1111-111111111111' and e.parent_id is null order by e.at desc, e.id desc limit 50;
begin;
drop index pull_events_customer; drop index pull_events_repository;
\echo === list by rare customer, WITHOUT pull_events_customer
explain (analyze, costs off, timing off, summary on) select e.id, e.at from pull_events e where e.organization_id = '11111111-1111-1111-1111-111111111111' and e.parent_id is null and e.customer_id = '99999999-9999-9999-9999-999999999999' order by e.at desc, e.id desc limit 50;
\echo === list by rare repository, WITHOUT pull_events_repository
explain (analyze, costs off, timing off, summary on) select e.id, e.at from pull_events e where e.organization_id = '11111111-1111-1111-1111-111111111111' and e.parent_id is null and e.repository = 'acme/rare' order by e.at desc, e.id desc limit 50;
\echo === a customer's last pull (customers list), WITHOUT pull_events_customer
explain (analyze, costs off, timing off, summary on) select max(at) from pull_events where organization_id = '11111111-1111-1111-1111-111111111111' and customer_id = '99999999-9999-9999-9999-999999999999';
rollback;
