#!/bin/bash
# Issue 13: the three-seed study through the CLI, local executor against a two-worker Dask
# LocalCluster, alternating in one run; times and load in $OUT/times.log (about 25 minutes).
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/dask-vs-local}; mkdir -p $OUT
log=$OUT/times.log
run() { # name args...
  name=$1; shift
  rm -rf $OUT/$name
  echo "=== $name start $(date -u +%FT%TZ) load: $(cut -d' ' -f1-3 /proc/loadavg)" >>$log
  s=$(date +%s.%N)
  mnist-mlp report --jobs 2 "$@" --out $OUT/$name >$OUT/$name.out 2>$OUT/$name.err
  rc=$?
  e=$(date +%s.%N)
  echo "=== $name end $(date -u +%FT%TZ) rc=$rc seconds=$(awk "BEGIN {print $e - $s}") load: $(cut -d' ' -f1-3 /proc/loadavg)" >>$log
}
run quick-local-1 --quick --seeds 3
run quick-dask-1 --quick --seeds 3 --executor dask
run quick-dask-2 --quick --seeds 3 --executor dask
run quick-local-2 --quick --seeds 3
run full-local --executor local
run full-dask --executor dask
echo done >>$log
