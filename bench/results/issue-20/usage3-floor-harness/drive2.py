import subprocess, sys, json, statistics, itertools, shutil
import run as R
URL=R.URL
ctr=itertools.count(100)
def psql(sql):
    subprocess.run(['psql',URL,'-v','ON_ERROR_STOP=1','-X','-q','-c',sql],check=True,capture_output=True)
results={}
def once(name, n, fmt, resolve=True, table='pull_events'):
    nb = 22 if n==1000 else 8
    d=f'/tmp/usage3/h/d{next(ctr)}'
    subprocess.run(['python3','gen.py',str(nb),str(n),d,str(next(ctr)*60)],check=True)
    cpu,wall=R.run(d,nb,n,fmt,resolve,table)
    shutil.rmtree(d)
    results.setdefault(name,[]).append((round(cpu,2),round(wall,2)))
reps=int(sys.argv[1])
psql('drop table if exists pull_events_bare; create table pull_events_bare (like pull_events including defaults including constraints); alter table pull_events_bare add primary key (id); insert into pull_events_bare select * from pull_events'); psql('vacuum analyze pull_events_bare')
for r in range(reps):
    once('A text COPY, 1000 rows (as today)',1000,'text')
    once('B binary COPY, 1000 rows',1000,'binary')
    once('C text COPY, 5000 rows',5000,'text')
    once('D binary COPY, 5000 rows',5000,'binary')
    once('E binary COPY, 1000 rows, without the two resolving queries',1000,'binary',resolve=False)
    once('F binary COPY, 1000 rows, bare table (primary key only, no trigger, no resolving)',1000,'binary',False,'pull_events_bare')
    once('G text COPY, 1000 rows, bare table (primary key only, no trigger, no resolving)',1000,'text',False,'pull_events_bare')
    psql('alter table pull_events disable trigger pull_events_roll_ups')
    once('H binary COPY, 1000 rows, without the trigger',1000,'binary')
    psql('drop index pull_events_customer; drop index pull_events_repository')
    once('I binary COPY, 1000 rows, without the trigger and the customer/repository indexes',1000,'binary')
    psql('alter table pull_events enable trigger pull_events_roll_ups')
    once('J binary COPY, 1000 rows, without the customer/repository indexes',1000,'binary')
    psql("create index pull_events_customer on pull_events (organization_id, customer_id, at desc) where customer_id is not null; create index pull_events_repository on pull_events (organization_id, repository, at desc)"); psql('vacuum pull_events')
    print('rep',r,'done',flush=True)
out=[]
for k in sorted(results):
    v=results[k]
    out.append(dict(variant=k, cpu_us_per_row=[c for c,_ in v], wall_us_per_row=[w for _,w in v],
        median_cpu=statistics.median(c for c,_ in v), min_cpu=min(c for c,_ in v), median_wall=statistics.median(w for _,w in v)))
json.dump(out, open('/tmp/usage3/floor2.json','w'), indent=1)
for o in out: print(f"{o['variant']:<90} median {o['median_cpu']:6.2f} min {o['min_cpu']:6.2f} wall {o['median_wall']:6.2f}")
