import struct, uuid, os, sys, datetime, random
ORG='11111111-1111-1111-1111-111111111111'
CUST='33333333-3333-3333-3333-333333333307'
TOK='44444444-4444-4444-4444-444444444407'
REPO='acme/app3'; TAG='1.4.0'
import hashlib
DIGEST='sha256:'+hashlib.sha256(b'304').hexdigest()
MT='application/vnd.oci.image.manifest.v1+json'
PG_EPOCH=datetime.datetime(2000,1,1,tzinfo=datetime.timezone.utc)
def rows(batch, n, start):
    for i in range(n):
        k=batch*n+i
        at=start+datetime.timedelta(microseconds=35*k)
        ms=int(at.timestamp()*1000)
        rid=uuid.UUID(('%012x'%ms)+'7'+os.urandom(10).hex()[:19])
        yield dict(id=rid, at=at, org=uuid.UUID(ORG), cust=uuid.UUID(CUST), cname='Customer 7', tok=uuid.UUID(TOK),
                   tname='ci token 7', tprefix='whc_7', repo=REPO, ref=TAG, digest=DIGEST, tags=[TAG], mt=MT,
                   addr='127.0.0.1', ua='bench-client/%d/%d'%(k%64, k), kind='other', req=1)
def text_row(r):
    ts=r['at'].strftime('%Y-%m-%d %H:%M:%S.%f')+'+00'
    tags='{'+','.join('"%s"'%t for t in r['tags'])+'}'
    return '\t'.join([str(r['id']),ts,str(r['org']),str(r['cust']),r['cname'],str(r['tok']),r['tname'],r['tprefix'],r['repo'],r['ref'],r['digest'],tags,r['mt'],r['addr'],r['ua'],r['kind'],str(r['req'])])+'\n'
def f(b): return struct.pack('!i',len(b))+b
def btext(s): return f(s.encode())
def bin_row(r):
    us=int((r['at']-PG_EPOCH)/datetime.timedelta(microseconds=1))
    tags=r['tags']
    if tags:
        arr=struct.pack('!iiiii',1,0,25,len(tags),1)+b''.join(btext(t) for t in tags)
    else:
        arr=struct.pack('!iii',0,0,25)
    a=bytes(int(x) for x in r['addr'].split('.'))
    inet=bytes([2,32,0,4])+a
    fields=[f(r['id'].bytes),f(struct.pack('!q',us)),f(r['org'].bytes),f(r['cust'].bytes),btext(r['cname']),f(r['tok'].bytes),btext(r['tname']),btext(r['tprefix']),btext(r['repo']),btext(r['ref']),btext(r['digest']),f(arr),btext(r['mt']),f(inet),btext(r['ua']),btext(r['kind']),f(struct.pack('!i',r['req']))]
    return struct.pack('!h',len(fields))+b''.join(fields)
nb=int(sys.argv[1]); n=int(sys.argv[2]); tag=sys.argv[3]
start=datetime.datetime.now(datetime.timezone.utc)+datetime.timedelta(seconds=int(sys.argv[4]) if len(sys.argv)>4 else 0)
os.makedirs(tag,exist_ok=True)
for b in range(nb):
    rs=list(rows(b,n,start))
    open(f'{tag}/b{b}.txt','w').write(''.join(text_row(r) for r in rs))
    open(f'{tag}/b{b}.bin','wb').write(b'PGCOPY\n\xff\r\n\x00'+struct.pack('!ii',0,0)+b''.join(bin_row(r) for r in rs)+struct.pack('!h',-1))
