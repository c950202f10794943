# shellcheck shell=bash
# Sourced by the scripts that run the `todo` server for a check (smoke.sh,
# check-schemathesis.sh): a fresh work folder, removed on exit with the
# server stopped; a failure that shows the server's log; a bounded wait
# until the edge answers /readyz.
#
#   server_work NAME      sets `work` (a fresh folder) and `pid` (empty, the
#                         caller sets it to the server's) and stops the
#                         server and removes the folder on exit; NAME starts
#                         every failure message. The server logs to
#                         "$work/server.log".
#   fail MESSAGE...       prints the failure and the log's tail, exits 1.
#   server_wait_ready BASE TRIES
#                         polls BASE/readyz every 0.5 s, at most TRIES times;
#                         fails when the server exits first or never answers.

server_work() {
    server_name=$1
    work=$(mktemp -d)
    pid=
    trap server_cleanup EXIT
}

server_cleanup() {
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        wait "$pid" || true
    fi
    rm -rf "$work"
}

fail() {
    echo "$server_name: FAILED: $*" >&2
    echo "--- server log ---" >&2
    tail -n 40 "$work/server.log" >&2 || true
    exit 1
}

server_wait_ready() {
    local base=$1 tries=$2 _
    for _ in $(seq "$tries"); do
        if curl -fsS "$base/readyz" >/dev/null 2>&1; then return 0; fi
        kill -0 "$pid" 2>/dev/null || fail "the server exited"
        sleep 0.5
    done
    fail "/readyz never answered 200"
}
