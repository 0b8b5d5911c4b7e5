#!/usr/bin/env bash
# Run every benchmark (one after the other), then print the combined table.
# Other engineers may share this machine: the load at the start of each benchmark is in its results.
#   bench/run_all.sh            every benchmark at the issue's sizes (about 40 minutes on 2 shared cores)
#   bench/run_all.sh logs dag_parse   only these
set -uo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
PY="$REPO/.venv/bin/python"
echo "date:   $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "nproc:  $(nproc)"
echo "memory: $(free -g | awk '/^Mem:/ {print $2 " GiB total, " $7 " GiB available"}')"
echo "uptime: $(uptime)"
BENCHES=("$@")
[ ${#BENCHES[@]} -gt 0 ] || BENCHES=(pg_backup logs dag_parse fanout pg_maintenance redis_cleanup distributed)
failed=()
for b in "${BENCHES[@]}"; do
  echo; echo "===== $b ($(date -u +%H:%M:%S), load: $(cut -d' ' -f1-3 /proc/loadavg))"
  "$PY" -u -m "bench.$b" || failed+=("$b")
done
echo; echo "===== all results"
"$PY" -m bench.summary
[ ${#failed[@]} -eq 0 ] || { echo "FAILED: ${failed[*]}"; exit 1; }
