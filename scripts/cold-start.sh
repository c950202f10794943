#!/usr/bin/env bash
# Cold start of the all-in-one binary: starts it in a fresh working folder
# (new SQLite files, migrations included) and prints the milliseconds until
# the edge's /readyz answers 200, polled every 5 ms. Port 8080 and the
# service ports must be free.
#
# Usage: scripts/cold-start.sh [BINARY] [RUNS]   (default target/release/todo, 5)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=$(realpath "${1:-$root/target/release/todo}")
runs=${2:-5}

for _ in $(seq "$runs"); do
    dir=$(mktemp -d)
    start=$(date +%s%N)
    (cd "$dir" && exec "$bin") >/dev/null 2>&1 &
    pid=$!
    until curl -fsS -o /dev/null http://127.0.0.1:8080/readyz 2>/dev/null; do
        kill -0 "$pid" 2>/dev/null || { echo "cold-start: $bin exited" >&2; exit 1; }
        sleep 0.005
    done
    end=$(date +%s%N)
    kill -TERM "$pid"
    wait "$pid" || true
    rm -rf "$dir"
    echo "cold start to /readyz: $(((end - start) / 1000000)) ms"
done
