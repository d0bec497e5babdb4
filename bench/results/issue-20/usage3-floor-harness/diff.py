import sys, subprocess, collections
def selfs(data,pid):
    out=subprocess.run(['perf','script','-i',data,'--pid',pid,'-F','tid,ip,sym'],capture_output=True,text=True).stdout
    c=collections.Counter(); n=0; first=False
    for line in out.split('\n'):
        if not line.strip(): continue
        if not line.startswith('\t'): n+=1; first=True; continue
        if first:
            sym=line.strip().split(' ',1)[-1]
            c[sym]+=1; first=False
    return c,n
a,na=selfs(sys.argv[1],sys.argv[2]); b,nb=selfs(sys.argv[3],sys.argv[4])
print('samples on',na,'off',nb)
rows=[(100*a[k]/na-100*b[k]/nb,100*a[k]/na,100*b[k]/nb,k) for k in set(a)|set(b)]
rows.sort(reverse=True)
for d,x,y,k in rows[:int(sys.argv[5]) if len(sys.argv)>5 else 30]: print(f'{d:+6.2f}  on {x:5.2f}  off {y:5.2f}  {k[:110]}')
