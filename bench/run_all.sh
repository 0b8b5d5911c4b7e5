#!/usr/bin/env bash
# Run every benchmark (one after the other), then print the combined table.
# Other engineers may share this machine: the load at the start of each benchmark is in its results.
#   bench/run_all.sh                  every benchmark at the issue's sizes (about an hour on 2 shared cores)
#   bench/run_all.sh logs dag_parse   only these
#   bench/run_all.sh --quick [names]  every benchmark on small data (under 10 minutes here), a quick look;
#                                     results in bench/results/quick/ (the full run's stay as they are)
set -uo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
PY="$REPO/.venv/bin/python"
QUICK=0
if [ "${1:-}" = "--quick" ]; then QUICK=1; shift; export AEGIS_BENCH_RESULTS="$REPO/bench/results/quick"; fi
echo "date:   $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "nproc:  $(nproc)"
echo "memory: $(free -g | awk '/^Mem:/ {print $2 " GiB total, " $7 " GiB available"}')"
echo "uptime: $(uptime)"
BENCHES=("$@")
[ ${#BENCHES[@]} -gt 0 ] || BENCHES=(pg_backup mysql_backup logs dag_parse dag_parse_5000 fanout scale pg_maintenance redis_cleanup distributed)

# the arguments of one benchmark: full size, or small data with --quick
args() {
  local full quick
  case "$1" in
    pg_backup)      full="";                          quick="--scale 5" ;;
    mysql_backup)   full="";                          quick="--tables 3 --rows 50000" ;;
    logs)           full="";                          quick="--size-mib 64" ;;
    dag_parse)      full="";                          quick="--repeats 1" ;;
    dag_parse_5000) full="--targets 5000 --repeats 3"; quick="--targets 5000 --repeats 1" ;;
    fanout)         full="";                          quick="--threads 10 --postgres 8 --redis 2" ;;
    scale)          full="";                          quick="--small 10 --large 100 --databases 4 --redis 2" ;;
    pg_maintenance) full="";                          quick="--tables 200" ;;
    redis_cleanup)  full="";                          quick="--keys 50000 --sample 5000" ;;
    distributed)    full="";                          quick="--postgres 8 --redis 2 --repeats 1" ;;
  esac
  if [ "$QUICK" = 1 ]; then echo "$quick"; else echo "$full"; fi
}

failed=()
for b in "${BENCHES[@]}"; do
  module="$b"; [ "$b" = dag_parse_5000 ] && module=dag_parse
  echo; echo "===== $b $(args "$b") ($(date -u +%H:%M:%S), load: $(cut -d' ' -f1-3 /proc/loadavg))"
  # shellcheck disable=SC2046  (the arguments are words on purpose)
  "$PY" -u -m "bench.$module" $(args "$b") || failed+=("$b")
done
echo; echo "===== all results"
"$PY" -m bench.summary
[ ${#failed[@]} -eq 0 ] || { echo "FAILED: ${failed[*]}"; exit 1; }
