#!/usr/bin/env bash
# Tests of the shipping files: the shell scripts, .gitlab-ci.yml, the
# Dockerfile, docker-compose.yml and deploy.sh.
#
# Usage: bash tests/shipping/run.sh        (as root: it may apt-get install)
#
# Installs what it lacks, once: Debian's openssh-server, shellcheck and
# nodejs/npm, and pinned npm tools under .tools/ (git-ignored). Needs no Rust
# build and no Docker daemon.
#
# deploy.sh runs unmodified against a real OpenSSH server started here on a
# free port, listening on 127.0.0.1, .2 and .3: three "hosts", each with its
# own directory (see fake-host.sh). Key authentication and host key checking
# are real. On the hosts, `docker` is tests/shipping/shims/docker, which
# records its calls and models only the behaviour deploy.sh depends on.
#
# So these tests prove the order of the commands deploy.sh sends, per host,
# for a good rollout, a failed health check (rollback to the previous tag,
# later hosts untouched), a dry run (no SSH connection at all) and a repeated
# rollout (nothing changes); and that the files it leaves on a host are right.
# They do not prove that Docker, Compose, the registry, the image or an ALB
# behave as the shim assumes: that is only shown by a rollout on real hosts.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# Hermetic: no deploy setting of the calling shell may reach a real host.
unset "${!DEPLOY_@}"
here=$root/tests/shipping
tools=$root/.tools
readonly NPM_TOOLS=(gitlab-ci-local@4.64.0 js-yaml@4.1.0 dockerfile-utils@0.16.3 dockerfile-ast@0.7.1)

work=$(mktemp -d "${TMPDIR:-/tmp}/shipping.XXXXXX")
sshd_pid=
cleanup() {
    if [[ -n $sshd_pid ]]; then
        kill "$sshd_pid" 2>/dev/null || true
        wait "$sshd_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# ---- tools ---------------------------------------------------------------------
install_tools() {
    local missing=()
    [[ -x /usr/sbin/sshd ]] || missing+=(openssh-server)
    command -v shellcheck >/dev/null || missing+=(shellcheck)
    command -v npm >/dev/null || missing+=(nodejs npm)
    if ((${#missing[@]})); then
        echo "installing ${missing[*]}"
        # policy-rc.d keeps the package from starting a system sshd on port 22.
        local policy=/usr/sbin/policy-rc.d ours=false
        if [[ ! -e $policy ]]; then
            printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && ours=true
        fi
        apt-get update -qq &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
        local rc=$?
        if $ours; then rm -f "$policy"; fi
        ((rc == 0)) || return "$rc"
    fi

    mkdir -p "$tools"
    printf '*\n' >"$tools/.gitignore"
    if [[ $(cat "$tools/installed" 2>/dev/null) != "${NPM_TOOLS[*]}" ]]; then
        echo "installing ${NPM_TOOLS[*]} into .tools/"
        npm install --prefix "$tools" --no-audit --no-fund --loglevel=error "${NPM_TOOLS[@]}" >/dev/null
        printf '%s\n' "${NPM_TOOLS[*]}" >"$tools/installed"
    fi
}

# ---- harness -------------------------------------------------------------------
passed=0 failed=0

# run_test NAME COMMAND...: runs COMMAND in a subshell with errexit, so the
# first failing line fails the test; its output is shown only on failure.
run_test() {
    local name=$1 log=$work/test.log rc start=$SECONDS
    shift
    set +e
    (set -e; "$@") >"$log" 2>&1
    rc=$?
    set -e
    if ((rc == 0)); then
        passed=$((passed + 1))
        echo "ok   $name ($((SECONDS - start))s)"
    else
        failed=$((failed + 1))
        echo "FAIL $name ($((SECONDS - start))s)"
        sed 's/^/     | /' "$log"
    fi
}

fail() { echo "$*" >&2; return 1; }

# assert_eq WHAT EXPECTED ACTUAL
assert_eq() {
    [[ $2 == "$3" ]] && return 0
    printf '%s differs\n--- expected\n%s\n--- actual\n%s\n' "$1" "$2" "$3" >&2
    return 1
}

node_tool() { NODE_PATH=$tools/node_modules node "$here/inspect.cjs" "$@"; }

# ---- static checks -----------------------------------------------------------------
test_shellcheck() {
    "$root/scripts/lint-shell.sh"
}

test_pipeline() {
    # gitlab-ci-local reads the pipeline of a git repository: give it one
    # holding only .gitlab-ci.yml, on branch main, with a GitLab remote.
    local repo=$work/pipeline gcl=$tools/node_modules/.bin/gitlab-ci-local
    mkdir -p "$repo"
    cp "$root/.gitlab-ci.yml" "$repo/"
    git -C "$repo" init -q -b main
    git -C "$repo" add .gitlab-ci.yml
    git -C "$repo" -c user.name=ci -c user.email=ci@example.invalid commit -q -m pipeline
    git -C "$repo" remote add origin https://gitlab.example.com/acme/todo.git
    (
        cd "$repo"
        # --preview validates against GitLab's JSON schema and expands extends.
        "$gcl" --preview >preview.yml 2>gcl.log || { cat gcl.log; exit 1; }
        "$gcl" --list-json --no-json-schema-validation >main.json 2>>gcl.log
        "$gcl" --validate-dependency-chain --no-json-schema-validation >>gcl.log 2>&1 ||
            { cat gcl.log; exit 1; }
        # A merge request pipeline, as GitLab sets it up: no CI_COMMIT_BRANCH.
        "$gcl" --list-json --no-json-schema-validation --unset-variable CI_COMMIT_BRANCH \
            --variable CI_PIPELINE_SOURCE=merge_request_event --variable CI_MERGE_REQUEST_IID=1 \
            --ignore-predefined-vars CI_PIPELINE_SOURCE >mr.json 2>>gcl.log
        # main with the production gate set to manual by an operator.
        "$gcl" --list-json --no-json-schema-validation --variable PRODUCTION_DEPLOY=manual \
            >manual.json 2>>gcl.log
    )
    node_tool pipeline "$repo/preview.yml" "$repo/main.json" "$repo/mr.json" "$repo/manual.json"
}

test_dockerfile() {
    node_tool dockerfile "$root/Dockerfile" "$root/.gitlab-ci.yml"
}

test_one_build_command() {
    # The Dockerfile calls scripts/build-release.sh (test_dockerfile); the
    # script is the release build, and the test command runs it too.
    # shellcheck disable=SC2016 # the script's own text, $BINARY unexpanded
    grep -Eq '^cargo build --release --locked --bin "\$BINARY"' "$root/scripts/build-release.sh" ||
        fail "scripts/build-release.sh does not run cargo build --release --locked --bin"
    grep -q '^scripts/build-release.sh' "$root/scripts/test.sh" ||
        fail "the test command, scripts/test.sh, does not run scripts/build-release.sh"
    grep -q 'scripts/test.sh' "$root/.ci/run" || fail ".ci/run does not run scripts/test.sh"
}

# The shipped binary: stripped of debug info (kept apart, linked by
# .gnu_debuglink), symbol names kept for profiles, and under a size bound.
readonly MAX_SHIPPED_MIB=40
test_shipped_binary() {
    local bin=$work/image/bin debug=$work/image/debug
    "$root/scripts/build-release.sh" --out-dir "$bin" --debug-dir "$debug" >/dev/null
    local size
    size=$(($(stat -c %s "$bin/todo") / 1048576))
    ((size < MAX_SHIPPED_MIB)) || fail "the shipped binary is $size MiB (bound: $MAX_SHIPPED_MIB MiB)"
    local sections
    sections=$(readelf -S --wide "$bin/todo")
    ! grep -q '\.debug_info' <<<"$sections" || fail "the shipped binary carries debug info"
    grep -q '\.symtab' <<<"$sections" || fail "the shipped binary lost its symbol names"
    grep -q '\.gnu_debuglink' <<<"$sections" || fail "the shipped binary does not name its debug file"
    # Read whole before matching: `grep -q` quits at its first match, and
    # under pipefail the writer's SIGPIPE would fail the check at random.
    local debug_sections usage
    debug_sections=$(readelf -S --wide "$debug/todo.debug")
    grep -q '\.debug_line' <<<"$debug_sections" || fail "the debug file has no line tables"
    usage=$("$bin/todo" --help)
    grep -q 'user | task | notify | edge' <<<"$usage" || fail "todo --help does not list the roles"
    echo "shipped binary: $size MiB (bound $MAX_SHIPPED_MIB MiB); debug info apart"
}

test_compose() {
    node_tool compose "$root/docker-compose.yml"
}

# ---- a real sshd with three fake hosts ---------------------------------------------
readonly fake_hosts=(127.0.0.1 127.0.0.2 127.0.0.3)
readonly image=registry.example.test/acme/todo
readonly secret='s3cret pass'
readonly probe='compose exec -T edge todo probe http http://127.0.0.1:8080/readyz'
ssh_dir=$work/ssh
hosts_dir=$work/hosts
port=

free_port() {
    node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => {
        console.log(s.address().port); s.close(); });'
}

start_sshd() {
    local host user
    user=$(id -un)
    port=$(free_port)
    mkdir -m 700 "$ssh_dir"
    # sshd's privilege separation directory, normally made by its service.
    mkdir -p /run/sshd
    ssh-keygen -q -t ed25519 -N '' -C test-host -f "$ssh_dir/host_key"
    ssh-keygen -q -t ed25519 -N '' -C test-deployer -f "$ssh_dir/client_key"
    cp "$ssh_dir/client_key.pub" "$ssh_dir/authorized_keys"
    : >"$ssh_dir/known_hosts"
    {
        for host in "${fake_hosts[@]}"; do echo "ListenAddress $host:$port"; done
        cat <<EOF
HostKey $ssh_dir/host_key
PidFile none
AuthorizedKeysFile $ssh_dir/authorized_keys
AllowUsers $user
AuthenticationMethods publickey
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
# The keys live under /tmp, which is world-writable.
StrictModes no
LogLevel INFO
EOF
        for host in "${fake_hosts[@]}"; do
            printf 'Match LocalAddress %s\n    ForceCommand %s %s\n' "$host" "$here/fake-host.sh" "$hosts_dir/$host"
            echo "[$host]:$port $(cat "$ssh_dir/host_key.pub")" >>"$ssh_dir/known_hosts"
        done
    } >"$ssh_dir/sshd_config"

    /usr/sbin/sshd -t -f "$ssh_dir/sshd_config"
    /usr/sbin/sshd -D -e -f "$ssh_dir/sshd_config" 2>"$ssh_dir/sshd.log" &
    sshd_pid=$!

    # Ready when every address accepts a connection; bounded, no fixed wait.
    local attempt
    for ((attempt = 0; attempt < 200; attempt++)); do
        kill -0 "$sshd_pid" 2>/dev/null || { cat "$ssh_dir/sshd.log"; return 1; }
        for host in "${fake_hosts[@]}"; do
            (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null || continue 2
        done
        return 0
    done
    echo "sshd did not listen on port $port" >&2
    return 1
}

# Every host runs release v1 of an older compose file; todo.env is in place.
reset_hosts() {
    local host dir
    rm -rf "$hosts_dir"
    for host in "${fake_hosts[@]}"; do
        dir=$hosts_dir/$host
        mkdir -p "$dir/todo"
        echo 'TODO_LOG=info' >"$dir/todo/todo.env"
        printf 'TODO_IMAGE=%s\nTODO_TAG=v1\nCOMPOSE_PROFILES=\n' "$image" >"$dir/todo/.env"
        echo '# the compose file of release v1' >"$dir/todo/docker-compose.yml"
        echo v1 >"$dir/running-tag"
    done
}

deploy() {
    DEPLOY_HOSTS=${test_hosts:-${fake_hosts[*]}} DEPLOY_SSH_PORT=$port DEPLOY_SSH_USER=$(id -un) \
        DEPLOY_SSH_KEY=$ssh_dir/client_key DEPLOY_KNOWN_HOSTS=$ssh_dir/known_hosts \
        DEPLOY_DIR=todo DEPLOY_IMAGE=$image DEPLOY_REGISTRY_USER=deployer \
        DEPLOY_REGISTRY_PASSWORD=$secret DEPLOY_READY_ATTEMPTS=3 DEPLOY_READY_INTERVAL=0 \
        "$root/deploy.sh" "$@"
}

# rollout_calls TAG MIGRATE(true|false): the docker calls of a good rollout.
rollout_calls() {
    echo "login --username deployer --password-stdin registry.example.test"
    echo "pull $image:$1"
    if $2; then echo "compose run --rm migrate"; fi
    echo "compose up -d --remove-orphans"
    echo "$probe"
}

docker_log() { cat "$hosts_dir/$1/docker.log" 2>/dev/null || true; }
host_tag() { sed -n 's/^TODO_TAG=//p' "$hosts_dir/$1/todo/.env"; }
accepted_logins() { grep -c 'Accepted publickey' "$ssh_dir/sshd.log" || true; }

assert_host_runs() { # HOST TAG
    assert_eq "$1 running tag" "$2" "$(cat "$hosts_dir/$1/running-tag")"
    assert_eq "$1 TODO_TAG in .env" "$2" "$(host_tag "$1")"
}

test_good_rollout() {
    reset_hosts
    DEPLOY_TAG=v2 deploy || fail "deploy.sh failed"
    local host migrate=true
    for host in "${fake_hosts[@]}"; do
        assert_eq "$host docker calls" "$(rollout_calls v2 $migrate)" "$(docker_log "$host")"
        migrate=false
        assert_host_runs "$host" v2
        cmp "$root/docker-compose.yml" "$hosts_dir/$host/todo/docker-compose.yml"
        assert_eq "$host registry password (stdin)" "$secret" "$(cat "$hosts_dir/$host/registry-password")"
        assert_eq "$host rollback point" v1 "$(sed -n 's/^TODO_TAG=//p' "$hosts_dir/$host/todo/.env.rollback")"
        cmp -s "$hosts_dir/$host/todo/todo.env" <(echo 'TODO_LOG=info') || fail "$host: todo.env was changed"
    done
}

test_failed_health_check() {
    reset_hosts
    echo v2 >"$hosts_dir/127.0.0.2/broken-tag"
    local rc=0
    DEPLOY_TAG=v2 deploy >"$work/out" 2>&1 || rc=$?
    cat "$work/out"
    ((rc != 0)) || fail "deploy.sh succeeded although 127.0.0.2 never became ready"

    assert_eq "127.0.0.1 docker calls" "$(rollout_calls v2 true)" "$(docker_log 127.0.0.1)"
    assert_host_runs 127.0.0.1 v2

    # Three failed probes, then the previous release, which is ready again.
    local expected
    expected=$(
        rollout_calls v2 false
        echo "$probe"
        echo "$probe"
        echo "compose up -d --remove-orphans"
        echo "$probe"
    )
    assert_eq "127.0.0.2 docker calls" "$expected" "$(docker_log 127.0.0.2)"
    assert_host_runs 127.0.0.2 v1
    assert_eq "127.0.0.2 compose file" '# the compose file of release v1' \
        "$(cat "$hosts_dir/127.0.0.2/todo/docker-compose.yml")"
    grep -q '127.0.0.2: rolling back to v1' "$work/out" || fail "no rollback reported"

    assert_eq "127.0.0.3 docker calls" "" "$(docker_log 127.0.0.3)"
    assert_host_runs 127.0.0.3 v1
}

test_dry_run() {
    reset_hosts
    local before host
    before=$(accepted_logins)
    DEPLOY_TAG=v2 deploy --dry-run >"$work/out"
    cat "$work/out"
    assert_eq "SSH logins during the dry run" "$before" "$(accepted_logins)"
    for host in "${fake_hosts[@]}"; do
        assert_eq "$host docker calls" "" "$(docker_log "$host")"
        assert_host_runs "$host" v1
        grep -q "@$host 'cd todo && docker pull $image:v2'" "$work/out" || fail "$host: no pull printed"
        grep -q "@$host 'cd todo && docker compose up -d --remove-orphans'" "$work/out" ||
            fail "$host: no compose up printed"
    done
    assert_eq "migrations printed" 1 "$(grep -c 'docker compose run --rm migrate' "$work/out")"
    if grep -v '^+ ssh ' "$work/out"; then fail "stdout has lines that are not commands"; fi
    if grep -qF "$secret" "$work/out"; then fail "the registry password was printed"; fi
}

test_idempotent() {
    # A property of each host: one host shows it.
    local test_hosts=127.0.0.1
    reset_hosts
    DEPLOY_TAG=v2 deploy 2>/dev/null || fail "first rollout failed"
    state() { (cd "$hosts_dir/127.0.0.1" && sha256sum running-tag todo/.env todo/docker-compose.yml); }
    local first
    first=$(state)
    rm -f "$hosts_dir"/*/docker.log
    DEPLOY_TAG=v2 deploy || fail "second rollout failed"
    assert_eq "host state after the second rollout" "$first" "$(state)"
    assert_eq "docker calls of the second run" "$(rollout_calls v2 true)" "$(docker_log 127.0.0.1)"
}

test_unprepared_host() {
    reset_hosts
    rm "$hosts_dir/127.0.0.1/todo/todo.env"
    if DEPLOY_TAG=v2 deploy; then fail "deploy.sh went on without todo.env"; fi
    local host
    for host in "${fake_hosts[@]}"; do
        assert_eq "$host docker calls" "" "$(docker_log "$host")"
    done
}

test_cli() {
    local usage
    usage=$("$root/deploy.sh" --help)
    grep -q 'DEPLOY_HOSTS' <<<"$usage" || fail "deploy.sh --help does not name DEPLOY_HOSTS"
    local rc=0
    "$root/deploy.sh" --bogus 2>/dev/null || rc=$?
    assert_eq "exit status for an unknown option" 2 "$rc"
    if DEPLOY_HOSTS=h DEPLOY_IMAGE=$image "$root/deploy.sh" 2>"$work/err"; then fail "ran without DEPLOY_TAG"; fi
    grep -q 'DEPLOY_TAG' "$work/err"
    if DEPLOY_HOSTS=h DEPLOY_IMAGE=$image DEPLOY_TAG='v2;reboot' "$root/deploy.sh" 2>/dev/null; then
        fail "accepted a tag that is not an image tag"
    fi
}

# ---- main --------------------------------------------------------------------------
started=$SECONDS
install_tools

run_test "shellcheck: every shell script is clean" test_shellcheck
run_test "gitlab-ci-local: stages, MR/main job sets, deploy needs test, production gate" test_pipeline
run_test "Dockerfile: lint, stages, non-root runtime, health check, labels" test_dockerfile
run_test "one release build command for the image and CI" test_one_build_command
run_test "shipped binary: one, stripped, under the size bound" test_shipped_binary
run_test "docker-compose.yml: services, health checks, limits, one port" test_compose
run_test "deploy.sh: --help, bad arguments, missing configuration" test_cli

if start_sshd >"$work/sshd-start.log" 2>&1; then
    run_test "deploy.sh: good rollout, migrations once, hosts in turn" test_good_rollout
    run_test "deploy.sh: failed /readyz rolls back, later hosts untouched" test_failed_health_check
    run_test "deploy.sh: --dry-run prints every command, runs none" test_dry_run
    run_test "deploy.sh: a second rollout of the same tag changes nothing" test_idempotent
    run_test "deploy.sh: stops before touching anything without todo.env" test_unprepared_host
else
    failed=$((failed + 1))
    echo "FAIL sshd on loopback did not start"
    sed 's/^/     | /' "$work/sshd-start.log"
fi

echo "($((SECONDS - started))s)"
echo "shipping: $passed passed, $failed failed"
((failed == 0))
