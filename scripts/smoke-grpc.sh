#!/usr/bin/env bash
# The gRPC half of the smoke test, run by scripts/smoke.sh against the
# release build on the default ports with TOKEN (a user's access token)
# and TODO_INTERNAL_TOKEN (the service credential) exported:
#  - the README's grpcurl blocks, verbatim, taken from README.md itself;
#  - on every port, with the real grpcurl 1.8.6 (reflection v1alpha): the
#    exact `list`, `describe`, "not found" for another port's service,
#    Health/Check and Health/Watch per service name and for the empty name,
#    and one authenticated call per service.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
: "${TOKEN:?TOKEN must hold an access token}"
: "${TODO_INTERNAL_TOKEN:?TODO_INTERNAL_TOKEN must hold the service credential}"

passed=0
fail() {
    echo "smoke-grpc: FAILED: $*" >&2
    exit 1
}
ok() { passed=$((passed + 1)); }

# Every grpcurl command the README shows, run as written.
for heading in '## Walk-through with grpcurl' 'Operators reach the internal RPCs'; do
    block=$("$root/scripts/readme-block.sh" "$heading")
    grep -q grpcurl <<<"$block" || fail "no grpcurl block under '$heading'"
    out=$(bash -euo pipefail -c "$block" 2>&1) || fail "README block under '$heading' failed: $out"
    ok
done

check_port() {
    local port=$1 package=$2 public=$3 other=$4 call=$5 body=$6
    local expected listed
    expected=$(printf '%s\n' grpc.health.v1.Health grpc.reflection.v1.ServerReflection \
        grpc.reflection.v1alpha.ServerReflection "$package.${public}InternalService" \
        "$package.${public}Service" | sort)
    listed=$(grpcurl -plaintext "localhost:$port" list | sort) || fail "list on $port"
    [[ $listed == "$expected" ]] || fail "list on $port shows: $listed"
    ok

    grpcurl -plaintext "localhost:$port" describe "$package.${public}Service" >/dev/null ||
        fail "describe $package.${public}Service on $port"
    grpcurl -plaintext "localhost:$port" describe grpc.health.v1.Health >/dev/null ||
        fail "describe grpc.health.v1.Health on $port"
    local refused
    if refused=$(grpcurl -plaintext "localhost:$port" describe "$other" 2>&1); then
        fail "$other is described on port $port"
    fi
    grep -qi 'not found' <<<"$refused" || fail "describe $other on $port answered: $refused"
    ok

    for name in "" "$package.${public}Service" "$package.${public}InternalService"; do
        local health
        health=$(grpcurl -plaintext -d "{\"service\":\"$name\"}" "localhost:$port" \
            grpc.health.v1.Health/Check) || fail "Health/Check '$name' on $port"
        grep -q '"SERVING"' <<<"$health" || fail "Health/Check '$name' on $port: $health"
    done
    # Watch streams until the deadline; its first message is the status.
    local watched
    watched=$(grpcurl -plaintext -max-time 2 -d "{\"service\":\"$package.${public}Service\"}" \
        "localhost:$port" grpc.health.v1.Health/Watch 2>&1) || true
    grep -q '"SERVING"' <<<"$watched" || fail "Health/Watch on $port: $watched"
    ok

    grpcurl -plaintext -H "authorization: Bearer $TOKEN" -d "$body" "localhost:$port" \
        "$package.${public}Service/$call" >/dev/null || fail "$call on $port"
    local refused_call
    if refused_call=$(grpcurl -plaintext -d "$body" "localhost:$port" \
        "$package.${public}Service/$call" 2>&1); then
        fail "$call on $port succeeded without a token"
    fi
    grep -q Unauthenticated <<<"$refused_call" || fail "$call without a token: $refused_call"
    ok
}

check_port 50051 todo.user.v1 User todo.task.v1.TaskService GetMe '{}'
check_port 50052 todo.task.v1 Task todo.notify.v1.NotifyService ListTasks '{"pageSize": 10}'
check_port 50053 todo.notify.v1 Notify todo.user.v1.UserService ListNotifications '{"unreadOnly": true}' 

echo "smoke-grpc: $passed passed, 0 failed"
