#!/usr/bin/env bash
# usage: profile.sh <wharf binary> <label>
set -u
bin=$1; label=$2; out=/tmp/usage3/prof-$label; mkdir -p $out
/tmp/usage3/wharf-bench usage --wharf "$bin" --runs 1 --duration 5 --out $out/usage.json > $out/stdout 2> $out/stderr &
bench=$!
onpid=; offpid=
while kill -0 $bench 2>/dev/null; do
  if [ -z "$onpid" ] || [ -z "$offpid" ]; then
    for p in $(pgrep -f "^$bin serve"); do
      if tr '\0' '\n' < /proc/$p/environ 2>/dev/null | grep -q '^WHARF_USAGE_EVENTS=on$'; then onpid=$p; fi
      if tr '\0' '\n' < /proc/$p/environ 2>/dev/null | grep -q '^WHARF_USAGE_EVENTS=off$'; then offpid=$p; fi
    done
  fi
  if grep -q "run 1: one client, events off" $out/stderr && [ ! -e $out/on.data ]; then
    perf record -F 999 -g -a -o $out/on.data -- sleep 5 2>/dev/null &
    sleep 0.5
  fi
  if grep -q "run 1: distinct clients, events on" $out/stderr && [ ! -e $out/off.data ]; then
    perf record -F 999 -g -a -o $out/off.data -- sleep 7 2>/dev/null &
    sleep 0.5
  fi
  sleep 0.05
done
wait
echo "on=$onpid off=$offpid"
