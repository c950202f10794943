#!/usr/bin/env bash
# Smoke test of the release build, exactly as the README runs it:
# `cargo run --release` in a fresh working folder, then the README's curl
# and grpcurl walk-throughs against the default ports.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools=$("$root/scripts/install-tools.sh")
export PATH="$tools:$PATH"

# shellcheck source=scripts/lib/server.sh
source "$root/scripts/lib/server.sh"
server_work smoke

for port in 8080 50051 50052 50053; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        fail "port $port is already in use"
    fi
done

# The service credential, so the README's operator command can run.
TODO_INTERNAL_TOKEN=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')
export TODO_INTERNAL_TOKEN

cd "$work"
cargo run --quiet --release --locked --manifest-path "$root/Cargo.toml" >"$work/server.log" 2>&1 &
pid=$!

# Poll readiness (bounded: 240 x 0.5 s, the build is already done by then
# in CI, but a cold build may still be linking).
server_wait_ready http://127.0.0.1:8080 240

json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

user=$(curl -fsS -X POST http://127.0.0.1:8080/v1/users -H 'content-type: application/json' \
    -d '{"email":"smoke@example.com","password":"correct horse battery","displayName":"Smoke"}') || fail "register"
[[ $user == '{}' ]] || fail "register answered $user"

token=$(curl -fsS -X POST http://127.0.0.1:8080/v1/auth:login -H 'content-type: application/json' \
    -d '{"email":"smoke@example.com","password":"correct horse battery"}' | json "['accessToken']") || fail "login"

resent=$(curl -fsS -X POST http://127.0.0.1:8080/v1/users/me:resendVerification -H "authorization: Bearer $token" \
    -H 'content-type: application/json' -d '{}') || fail "resend verification"
[[ $resent == '{}' ]] || fail "resend verification answered $resent"

task=$(curl -fsS -X POST http://127.0.0.1:8080/v1/tasks -H "authorization: Bearer $token" \
    -H 'content-type: application/json' -d '{"title":"Buy milk","priority":"HIGH"}') || fail "create task"
[[ $(json "['priority']" <<<"$task") == HIGH ]] || fail "create answered $task"

list=$(curl -fsS "http://127.0.0.1:8080/v1/tasks?pageSize=10" -H "authorization: Bearer $token") || fail "list tasks"
[[ $(json "['tasks'][0]['title']" <<<"$list") == "Buy milk" ]] || fail "list answered $list"

code=$(curl -sS -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/v1/tasks) || fail "anonymous list"
[[ $code == 401 ]] || fail "anonymous list answered $code"

# The README's curl walk-through, verbatim, from README.md itself (it
# calls scripts/mail-code.sh by its path in the repository).
ln -s "$root/scripts" "$work/scripts"
walkthrough=$("$root/scripts/readme-block.sh" '## Walk-through with curl')
bash -euo pipefail -c "$walkthrough" >"$work/walkthrough.log" 2>&1 ||
    fail "the README's curl walk-through: $(tail -n 5 "$work/walkthrough.log")"
grep -q '"emailVerified":true' "$work/walkthrough.log" ||
    fail "the README's walk-through did not verify the address: $(cat "$work/walkthrough.log")"

# The README's sharing walk-through, verbatim: invitation of an address
# without an account, sign-up, acceptance, a viewer's refused write, and a
# removed member's 404.
sharing=$("$root/scripts/readme-block.sh" '## Sharing a list')
bash -euo pipefail -c "$sharing" >"$work/sharing.log" 2>&1 ||
    fail "the README's sharing walk-through: $(tail -n 5 "$work/sharing.log")"
python3 - "$work/sharing.log" <<'PY' || fail "the README's sharing walk-through answered: $(cat "$work/sharing.log")"
import json, sys
# curl prints each answer without a newline: decode them one after another.
text, answers, decoder, at = open(sys.argv[1]).read(), [], json.JSONDecoder(), 0
while (at := text.find("{", at)) >= 0:
    answer, at = decoder.raw_decode(text, at)
    answers.append(answer)
accepted = [a for a in answers if a.get("title") == "Groceries" and a.get("role") == "EDITOR"]
statuses = [a["error"]["status"] for a in answers if "error" in a]
assert accepted, "the invitation was not accepted"
assert any(len(a.get("members", [])) == 2 for a in answers), "the list has not two members"
assert statuses == ["PERMISSION_DENIED", "NOT_FOUND"], statuses
PY

# The README's due-date walk-through, verbatim: a weekly task completed
# twice across the DST change keeps its local time, and its relative
# reminder follows.
due=$("$root/scripts/readme-block.sh" '## Due dates, recurrence and reminders')
bash -euo pipefail -c "$due" >"$work/due.log" 2>&1 ||
    fail "the README's due-date walk-through: $(tail -n 5 "$work/due.log")"
python3 - "$work/due.log" <<'PY' || fail "the README's due-date walk-through answered: $(cat "$work/due.log")"
import json, sys
text, answers, decoder, at = open(sys.argv[1]).read(), [], json.JSONDecoder(), 0
while (at := text.find("{", at)) >= 0:
    answer, at = decoder.raw_decode(text, at)
    answers.append(answer)
meeting = [a for a in answers if a.get("title") == "Team meeting"]
assert [m["dueTime"] for m in meeting] == ["2030-04-01T07:00:00Z", "2030-04-08T07:00:00Z"], meeting
assert all(m["done"] is False and "completeTime" in m for m in meeting), meeting
assert meeting[-1]["reminders"][0]["fireTime"] == "2030-04-08T06:45:00Z", meeting
rent = [a for a in answers if a.get("title") == "Pay rent"]
assert rent and rent[0]["reminders"][0]["fireTime"] == "2030-03-30T07:00:00Z", rent
PY

TOKEN=$token "$root/scripts/smoke-grpc.sh" || fail "gRPC checks"
# What the pipeline checks on staging before production, here on the
# local build.
"$root/scripts/smoke-remote.sh" http://127.0.0.1:8080 || fail "remote smoke checks"

changed=$(curl -fsS -X POST http://127.0.0.1:8080/v1/users/me:changeEmail -H "authorization: Bearer $token" \
    -H 'content-type: application/json' \
    -d '{"newEmail":"smoke.new@example.com","password":"correct horse battery"}') || fail "change e-mail"
[[ $changed == '{}' ]] || fail "change e-mail answered $changed"

# The welcome e-mail lands as a file under ./data when no SMTP is set
# (bounded poll: the outbox relays it asynchronously).
for _ in $(seq 40); do
    if grep -rqs 'Welcome to ToDo' data/mail; then break; fi
    sleep 0.25
done
grep -rqs 'smoke@example.com' data/mail || fail "no welcome e-mail under ./data/mail"
[[ -f data/user.db && -f data/task.db && -f data/notify.db ]] || fail "no SQLite files under ./data"

echo "smoke: 14 passed, 0 failed"
