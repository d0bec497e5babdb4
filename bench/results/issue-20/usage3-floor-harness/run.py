import subprocess, sys, os, statistics, re, json
URL=open('/tmp/usage3/url').read().split('=',1)[1].strip()
COLS="(id, at, organization_id, customer_id, customer_name, token_id, token_name, token_prefix, repository, reference, digest, tags, media_type, client_addr, user_agent, client_kind, requests)"
RESOLVE1="""select m.ord, r.id is not null, exists (select 1 from manifest_children mc where mc.repository_id = r.id and mc.child_digest = m.digest),
 case when m.by_digest then coalesce((select array_agg(g.name order by g.name collate "C") from tags g where g.repository_id = r.id and g.digest = m.digest), '{}') end
 from unnest('{11111111-1111-1111-1111-111111111111}'::uuid[], '{acme/app3}'::text[], '{sha256:d874e4e4a5df21173b0f83e313151f813bea4f488686efe670ae47f87c177595}'::text[], '{f}'::bool[]) with ordinality as m(organization_id, repository, digest, by_digest, ord)
 left join repositories r on r.name = m.repository and r.organization_id = m.organization_id;"""
RESOLVE2="""select true, c.id, c.name, null::text from customers c where c.id = any('{33333333-3333-3333-3333-333333333307}'::uuid[])
 union all select false, t.id, t.name, t.display_prefix from access_tokens t where t.id = any('{44444444-4444-4444-4444-444444444407}'::uuid[]);"""
def script(d, nb, fmt, resolve=True, warm=2, table='pull_events'):
    s=["\\set QUIET on","\\o /dev/null","set synchronous_commit = off;","select pg_backend_pid() as pid \\gset","\\setenv PGPID :pid"]
    def batch(b):
        out=["begin;"]
        if resolve: out+= [RESOLVE1, RESOLVE2]
        ext = 'bin' if fmt=='binary' else 'txt'
        w = " with (format binary)" if fmt=='binary' else ""
        out.append(f"\\copy {table} {COLS} from '{d}/b{b}.{ext}'{w}")
        out.append("commit;")
        return out
    for b in range(warm): s+=batch(b)
    s.append("\\! echo start $(cut -d' ' -f1 /proc/$PGPID/schedstat) $(date +%s%N)")
    for b in range(warm, nb): s+=batch(b)
    s.append("\\! echo end $(cut -d' ' -f1 /proc/$PGPID/schedstat) $(date +%s%N)")
    return "\n".join(s)+"\n"
def run_table(d, nb, n, fmt, table):
    global COLS
    old=COLS
    return run(d, nb, n, fmt, False, table)
def run(d, nb, n, fmt, resolve=True, table='pull_events'):
    p=subprocess.run(['psql',URL,'-v','ON_ERROR_STOP=1','-X'],input=script(d,nb,fmt,resolve,table=table),capture_output=True,text=True)
    if p.returncode: print(p.stderr); sys.exit(1)
    v={}
    for l in p.stdout.split('\n'):
        if l.startswith(('start','end')):
            k,cpu,wall=l.split(); v[k]=(int(cpu),int(wall))
    rows=(nb-2)*n
    return (v['end'][0]-v['start'][0])/1000/rows, (v['end'][1]-v['start'][1])/1000/rows
if __name__=='__main__':
    d,nb,n,fmt=sys.argv[1],int(sys.argv[2]),int(sys.argv[3]),sys.argv[4]
    resolve = len(sys.argv)<6 or sys.argv[5]!='noresolve'
    cpu,wall=run(d,nb,n,fmt,resolve)
    print(json.dumps(dict(dir=d,batches=nb-2,rows_per_batch=n,fmt=fmt,resolve=resolve,cpu_us_per_row=round(cpu,2),wall_us_per_row=round(wall,2))))
