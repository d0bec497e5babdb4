import subprocess, sys, json, statistics, itertools, shutil
import run as R
URL=R.URL
ctr=itertools.count(1000)
def psql(sql):
    subprocess.run(['psql',URL,'-v','ON_ERROR_STOP=1','-X','-q','-c',sql],check=True,capture_output=True)
results={}
def once(name, n, fmt, table):
    nb = 22 if n==1000 else 8
    d=f'/tmp/usage3/h/d{next(ctr)}'
    subprocess.run(['python3','gen.py',str(nb),str(n),d,str(next(ctr)*60)],check=True)
    cpu,wall=R.run(d,nb,n,fmt,False,table)
    shutil.rmtree(d)
    results.setdefault(name,[]).append((round(cpu,2),round(wall,2)))
if sys.argv[2]=='setup':
  psql('drop table if exists pull_events_asc; create table pull_events_asc (like pull_events including defaults including constraints)')
  psql('insert into pull_events_asc select * from pull_events')
  psql("""alter table pull_events_asc add primary key (id);
  create index on pull_events_asc using brin (at);
  create index on pull_events_asc (organization_id, at, id);
  create index on pull_events_asc (organization_id, customer_id, at) where customer_id is not null;
  create index on pull_events_asc (organization_id, repository, at);
  create index on pull_events_asc (token_id, repository, digest, at desc) where media_type in ('application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json');
  create index on pull_events_asc (parent_id) where parent_id is not null;
  create trigger pull_events_roll_ups after insert on pull_events_asc referencing new table as inserted for each statement execute function pull_events_roll_ups();""")
  psql('vacuum analyze pull_events_asc'); psql('vacuum analyze pull_events')
for r in range(int(sys.argv[1])):
    once('A binary COPY, 1000 rows, indexes as today (at desc)',1000,'binary','pull_events')
    once('K binary COPY, 1000 rows, the same indexes ascending (at, id)',1000,'binary','pull_events_asc')
    print('rep',r,flush=True)
out=[]
for k in sorted(results):
    v=results[k]
    out.append(dict(variant=k, cpu_us_per_row=[c for c,_ in v], wall_us_per_row=[w for _,w in v],
        median_cpu=statistics.median(c for c,_ in v), min_cpu=min(c for c,_ in v), median_wall=statistics.median(w for _,w in v)))
json.dump(out, open('/tmp/usage3/floor3.json','w'), indent=1)
for o in out: print(f"{o['variant']:<90} median {o['median_cpu']:6.2f} min {o['min_cpu']:6.2f} wall {o['median_wall']:6.2f}")
