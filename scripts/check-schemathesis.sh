#!/usr/bin/env bash
# Tests the live system against its own OpenAPI document with schemathesis
# (pinned, installed into the git-ignored .tools/venv on first use): every
# request the document calls valid must be accepted, every invalid one
# refused, and every response must match the document. It runs the release
# binary `todo` on free ports in a fresh directory, signs a user up, and
# fuzzes as that user with every check, a fixed seed and a bounded time.
#
# Operations that would end the test's own session (account deletion,
# password change, logout) are left out; the rest of what is configured in
# scripts/schemathesis.toml is explained in the README ("What the OpenAPI
# document cannot say").
# Prints `schemathesis: N passed, M failed` (operations) and exits non-zero
# on any failure.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

schemathesis_version=4.32.5
venv=.tools/venv
seed=20260101
max_time=120

installed_version() {
    "$venv/bin/python" - <<'PY' 2>/dev/null
import importlib.metadata
print(importlib.metadata.version("schemathesis"))
PY
}

if [[ ! -x $venv/bin/python ]]; then
    python3 -m venv "$venv"
fi
if [[ $(installed_version || true) != "$schemathesis_version" ]]; then
    echo "check-schemathesis: installing schemathesis $schemathesis_version" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        "schemathesis==$schemathesis_version"
fi

# The release binary the test command has just built; built here otherwise.
binary=${CARGO_TARGET_DIR:-$root/target}/release/todo
if [[ ! -x $binary ]]; then
    cargo build --quiet --release --locked --bin todo
fi

# shellcheck source=scripts/lib/server.sh
source "$root/scripts/lib/server.sh"
server_work check-schemathesis

# Four ports the kernel reports free, never the defaults a developer's own
# instance may hold.
read -r edge_port user_port task_port notify_port < <(python3 - <<'PY'
import socket
sockets = [socket.socket() for _ in range(4)]
for s in sockets:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in sockets))
for s in sockets:
    s.close()
PY
)
base=http://127.0.0.1:$edge_port

# The abuse limits count every sign-up and failed login of the fuzzer; at
# their defaults the run would mostly test the throttle. The fuzzer's one
# keep-alive connection may idle longer than the header read timeout while
# it generates data, and a request racing that close is lost (the README's
# note on load balancers): the timeout is raised above the run's length.
(
    cd "$work"
    TODO_EDGE_LISTEN=127.0.0.1:$edge_port \
    TODO_USER_LISTEN=127.0.0.1:$user_port \
    TODO_TASK_LISTEN=127.0.0.1:$task_port \
    TODO_NOTIFY_LISTEN=127.0.0.1:$notify_port \
    TODO_LINK_BASE_URL=$base \
    TODO_USER_LOGIN_FAILURE_LIMIT=1000000/1 \
    TODO_USER_REGISTRATION_LIMIT=1000000/1 \
    TODO_USER_RESET_REQUEST_LIMIT=1000000/1 \
    TODO_EDGE_HEADER_READ_TIMEOUT_MS=600000 \
    exec "$binary" >"$work/server.log" 2>&1
) &
pid=$!

server_wait_ready "$base" 120

json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
curl -fsS -X POST "$base/v1/users" -H 'content-type: application/json' \
    -d '{"email":"fuzz@example.com","password":"correct horse battery","displayName":"Fuzz"}' \
    >/dev/null || fail "register"
token=$(curl -fsS -X POST "$base/v1/auth:login" -H 'content-type: application/json' \
    -d '{"email":"fuzz@example.com","password":"correct horse battery"}' |
    json "['accessToken']") || fail "login"

# From the temp directory, where schemathesis leaves its cache.
status=0
cd "$work"
"$root/$venv/bin/schemathesis" --config-file "$root/scripts/schemathesis.toml" \
    run "$base/openapi.json" \
    --header "Authorization: Bearer $token" \
    --checks all \
    --seed "$seed" \
    --max-time "$max_time" \
    --workers 1 \
    --exclude-operation-id UserService_DeleteMe \
    --exclude-operation-id UserService_ChangePassword \
    --exclude-operation-id UserService_Logout \
    --report junit --report-junit-path "$work/junit.xml" \
    >"$work/schemathesis.log" 2>&1 || status=$?

# One test case per operation in the JUnit report.
read -r passed failed < <(python3 - "$work/junit.xml" <<'PY'
import sys
import xml.etree.ElementTree as ET
try:
    cases = list(ET.parse(sys.argv[1]).getroot().iter("testcase"))
except (OSError, ET.ParseError):
    cases = []
bad = sum(1 for c in cases if c.find("failure") is not None or c.find("error") is not None)
print(len(cases) - bad, bad)
PY
)
if [[ $status -ne 0 || $failed -ne 0 || $passed -eq 0 ]]; then
    cat "$work/schemathesis.log"
    echo "schemathesis: $passed passed, $failed failed"
    fail "schemathesis exited with $status"
fi
echo "schemathesis: $passed passed, 0 failed"
