#!/usr/bin/env bash
# Smoke test of a deployed edge, from outside, as a client sees it: the
# pipeline runs it against staging before production is deployed, and
# scripts/smoke.sh runs it against the local release build.
#
# Usage: scripts/smoke-remote.sh BASE_URL     (e.g. https://staging.example.com)
#
# It reads only and writes nothing, so it is safe against production too:
# liveness, readiness of every upstream, the OpenAPI document, and the JSON
# error shape of an unauthenticated call and of an unknown route.
set -euo pipefail
base=${1:?usage: $0 BASE_URL}
base=${base%/}

passed=0
fail() {
    echo "smoke-remote: FAILED: $*" >&2
    exit 1
}

# status BODY_FILE PATH: the HTTP status of GET PATH, the body in BODY_FILE.
body=$(mktemp)
trap 'rm -f -- "$body"' EXIT
status() {
    curl -sS --max-time 10 -o "$body" -w '%{http_code}' "$base$1" || echo 000
}
json_field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))$1)" "$body"; }

for path in /healthz /readyz; do
    code=$(status "$path")
    [[ $code == 200 ]] || fail "GET $path answered $code: $(head -c 300 "$body")"
    passed=$((passed + 1))
done

code=$(status /openapi.json)
[[ $code == 200 ]] || fail "GET /openapi.json answered $code"
[[ $(json_field "['openapi']") == 3.1.* ]] || fail "/openapi.json is not OpenAPI 3.1"
passed=$((passed + 1))

code=$(status /v1/tasks)
[[ $code == 401 ]] || fail "GET /v1/tasks without a token answered $code"
[[ $(json_field "['error']['status']") == UNAUTHENTICATED ]] || fail "401 body: $(head -c 300 "$body")"
passed=$((passed + 1))

code=$(status /v1/no-such-route)
[[ $code == 404 ]] || fail "an unknown route answered $code"
[[ $(json_field "['error']['code']") == 404 ]] || fail "404 body: $(head -c 300 "$body")"
passed=$((passed + 1))

echo "smoke-remote: $passed passed, 0 failed"
