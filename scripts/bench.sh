#!/usr/bin/env bash
# The benchmark harness (see BENCHMARKS.md). Builds the release `todo` and
# the load client (`todo-load`, crate load/), then for each database and
# each way of running the system: starts it on its own ports with its own
# data, registers two users (the member's address verified with the code
# from its e-mail), seeds a shared list of 10,000 tasks through gRPC, and
# measures every case at a fixed concurrency for a fixed time. It prints
# one line per case (`case= db= mode= rps= p50_ms= p99_ms= errors=`), the
# ratios to the floor and of the edge to direct gRPC, the check of GET's
# p99 while logins are in flight, and the peak RSS (VmHWM) of every
# process of the system against its budget.
#
# Usage: scripts/bench.sh [options]
#   --duration S        measured seconds per case (default 10)
#   --concurrency N     requests in flight per case (default 32)
#   --db D              sqlite | mariadb | both (default both)
#   --mode M            all-in-one | separate | both (default both)
#   --tasks N           tasks seeded in the shared list (default 10000)
#   --logins N          logins in flight beside GET (default 200)
#   --warmup S          unmeasured seconds before each case (default 1)
#   --threads N         load client runtime threads (default 1)
#   --cases LIST        comma-separated case names (default all)
#   --edge-port P       the edge's port (default 18080)
#   --service-port P    the user service's port; task and notify take the
#                       next two (default 18051)
#   --out FILE          also append the lines to FILE
#   --no-build          use the binaries already built
#   --keep              keep the work folder (logs, seed) and say where
#   --smoke             1 s per case, no warm-up, 4 in flight, 8 logins,
#                       200 tasks, SQLite unless --db says otherwise (it
#                       needs no database client); fails unless every
#                       request succeeded
#
# MariaDB: the server of TODO_BENCH_MYSQL_URL, else TODO_TEST_MYSQL_URL,
# else mysql://root@127.0.0.1:3306; the databases todo_bench_<pid>_* are
# created with the mariadb (or mysql) client and dropped afterwards.
# TODO_LOG passes through to the system (default info, as deployed); the
# system's logs stay in the work folder.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

duration='' concurrency='' db='' mode='' tasks='' logins='' warmup='' threads=1
cases=all edge_port=18080 service_port=18051 out='' build=1 keep=0 smoke=0
usage() { sed -n '/^# Usage:/,/^# MariaDB:/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }
while (($#)); do
    case $1 in
        --duration) duration=${2:?}; shift 2 ;;
        --concurrency) concurrency=${2:?}; shift 2 ;;
        --db) db=${2:?}; shift 2 ;;
        --mode) mode=${2:?}; shift 2 ;;
        --tasks) tasks=${2:?}; shift 2 ;;
        --logins) logins=${2:?}; shift 2 ;;
        --warmup) warmup=${2:?}; shift 2 ;;
        --threads) threads=${2:?}; shift 2 ;;
        --cases) cases=${2:?}; shift 2 ;;
        --edge-port) edge_port=${2:?}; shift 2 ;;
        --service-port) service_port=${2:?}; shift 2 ;;
        --out) out=${2:?}; shift 2 ;;
        --no-build) build=0; shift ;;
        --keep) keep=1; shift ;;
        --smoke) smoke=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done
if ((smoke)); then
    : "${duration:=1}" "${concurrency:=4}" "${db:=sqlite}" "${tasks:=200}" "${logins:=8}" "${warmup:=0}"
fi
: "${duration:=10}" "${concurrency:=32}" "${db:=both}" "${mode:=both}" "${tasks:=10000}" "${logins:=200}" "${warmup:=1}"
case $db in sqlite) dbs=(sqlite) ;; mariadb) dbs=(mariadb) ;; both) dbs=(sqlite mariadb) ;; *) usage >&2; exit 2 ;; esac
case $mode in all-in-one) modes=(all-in-one) ;; separate) modes=(separate) ;; both) modes=(all-in-one separate) ;; *) usage >&2; exit 2 ;; esac

user_port=$service_port task_port=$((service_port + 1)) notify_port=$((service_port + 2))
for port in "$edge_port" "$user_port" "$task_port" "$notify_port"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "bench: port $port is already in use (see --edge-port, --service-port)" >&2
        exit 1
    fi
done

# ---- what runs: the names, pids and logs of the system's processes --------
work=$(mktemp -d)
run=$work names=() pids=() databases=()
emit() {
    echo "$*"
    if [[ -n $out ]]; then echo "$*" >>"$out"; fi
}
stop_system() {
    local i
    for i in "${!pids[@]}"; do
        if kill -0 "${pids[i]}" 2>/dev/null; then kill -TERM "${pids[i]}"; fi
    done
    for i in "${!pids[@]}"; do wait "${pids[i]}" 2>/dev/null || true; done
    names=() pids=()
}
drop_databases() {
    local name
    for name in "${databases[@]}"; do sql "DROP DATABASE IF EXISTS \`$name\`" || true; done
    databases=()
}
cleanup() {
    stop_system
    drop_databases
    if ((keep)); then echo "bench: work folder kept: $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
fail() {
    echo "bench: FAILED: $*" >&2
    local log
    for log in "$run"/*.log; do
        [[ -f $log ]] || continue
        echo "--- $(basename "$log") ---" >&2
        tail -n 20 "$log" >&2
    done
    exit 1
}

# ---- MariaDB: the server's address and a client to create databases ------
mysql_url=${TODO_BENCH_MYSQL_URL:-${TODO_TEST_MYSQL_URL:-mysql://root@127.0.0.1:3306}}
sql() {
    local client
    client=$(command -v mariadb || command -v mysql) || { echo "bench: no mariadb or mysql client" >&2; return 1; }
    MYSQL_PWD=$db_pass "$client" --protocol=tcp -h "$db_host" -P "$db_port" -u "$db_user" -e "$1"
}
if [[ " ${dbs[*]} " == *" mariadb "* ]]; then
    re='^mysql://([^:@/]+)(:([^@/]*))?@([^:/@]+)(:([0-9]+))?/?$'
    [[ $mysql_url =~ $re ]] || { echo "bench: cannot read the MariaDB URL $mysql_url" >&2; exit 1; }
    db_user=${BASH_REMATCH[1]} db_pass=${BASH_REMATCH[3]} db_host=${BASH_REMATCH[4]} db_port=${BASH_REMATCH[6]:-3306}
    sql 'SELECT 1' >/dev/null || { echo "bench: MariaDB does not answer at $mysql_url" >&2; exit 1; }
fi

# ---- the binaries: built once, copied so that another build cannot swap
# them during the run ---------------------------------------------------------
if ((build)); then
    "$root/scripts/build-release.sh" >&2
    (cd "$root" && cargo build --release --locked -p todo-load) >&2
fi
bin_dir=${CARGO_TARGET_DIR:-$root/target}/release
mkdir -p "$work/bin"
cp "$bin_dir/todo" "$bin_dir/todo-load" "$work/bin/"
todo=$work/bin/todo load=$work/bin/todo-load

machine() {
    local cpu mem
    cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)
    mem=$(awk '/^MemTotal/ {printf "%.1f", $2 / 1048576}' /proc/meminfo)
    emit "# $1: nproc=$(nproc) cpu=\"$cpu\" mem_gib=$mem loadavg=\"$(cut -d' ' -f1-3 /proc/loadavg)\""
}
machine "machine before"
emit "# settings: duration=${duration}s warmup=${warmup}s concurrency=$concurrency logins=$logins tasks=$tasks threads=$threads"

owner=owner@bench.example member=member@bench.example password='bench keeps the pages warm'

# ---- one configuration ----------------------------------------------------
start() { # start NAME ARG...: a process of the system, logging to NAME.log
    local name=$1
    shift
    (cd "$run" && exec "$todo" "$@") >"$run/$name.log" 2>&1 &
    names+=("$name") pids+=($!)
}
wait_ready() {
    local i _
    for _ in $(seq 240); do
        if curl -fsS "http://127.0.0.1:$edge_port/readyz" >/dev/null 2>&1; then return 0; fi
        for i in "${!pids[@]}"; do
            kill -0 "${pids[i]}" 2>/dev/null || fail "${names[i]} exited"
        done
        sleep 0.25
    done
    fail "/readyz never answered 200"
}
post() { # post PATH JSON: the answer, or the failure
    curl -fsS -X POST "http://127.0.0.1:$edge_port$1" -H 'content-type: application/json' -d "$2" ||
        fail "POST $1"
}

bench_one() {
    local db=$1 mode=$2 service
    run=$work/$db-$mode
    mkdir -p "$run"
    export TODO_INTERNAL_TOKEN TODO_KEY_ENCRYPTION_KEY
    TODO_INTERNAL_TOKEN=$(head -c 32 /dev/urandom | base64 | tr -d '\n')
    TODO_KEY_ENCRYPTION_KEY=$(head -c 32 /dev/urandom | base64 | tr -d '\n')
    export TODO_MAIL_DIR=$run/mail TODO_LINK_BASE_URL=http://127.0.0.1:$edge_port
    export TODO_EDGE_LISTEN=127.0.0.1:$edge_port
    export TODO_USER_LISTEN=127.0.0.1:$user_port TODO_USER_URL=http://127.0.0.1:$user_port
    export TODO_TASK_LISTEN=127.0.0.1:$task_port TODO_TASK_URL=http://127.0.0.1:$task_port
    export TODO_NOTIFY_LISTEN=127.0.0.1:$notify_port TODO_NOTIFY_URL=http://127.0.0.1:$notify_port
    for service in user task notify; do
        local var url
        var=TODO_${service^^}_DATABASE_URL
        if [[ $db == sqlite ]]; then
            url=sqlite://$run/data/$service.db
        else
            local name=todo_bench_$$_$service
            sql "CREATE DATABASE \`$name\`"
            databases+=("$name")
            url=${mysql_url%/}/$name
        fi
        export "$var=$url"
    done

    if [[ $mode == all-in-one ]]; then
        start all-in-one serve
    else
        start user user
        start task task
        start notify notify
        start edge edge
    fi
    wait_ready

    local answer code
    for address in "$owner" "$member"; do
        answer=$(post /v1/users "{\"email\":\"$address\",\"password\":\"$password\",\"displayName\":\"Bench\"}")
        [[ $answer == '{}' ]] || fail "register $address answered $answer"
    done
    code=$("$root/scripts/mail-code.sh" "$member" "$TODO_MAIL_DIR") || fail "no verification e-mail"
    post /v1/auth:verifyEmail "{\"token\":\"$code\"}" >/dev/null

    local grpc=(--user-grpc "$TODO_USER_URL" --task-grpc "$TODO_TASK_URL")
    "$load" seed "${grpc[@]}" --owner "$owner" --member "$member" --password "$password" \
        --tasks "$tasks" --out "$run/seed" 2>"$run/seed.log" || fail "seeding: $(cat "$run/seed.log")"
    emit "# db=$db mode=$mode $(sed 's/^todo-load: //' "$run/seed.log")"

    local strict=()
    if ((smoke)); then strict=(--require-zero-errors); fi
    "$load" run "${grpc[@]}" --edge "127.0.0.1:$edge_port" --seed "$run/seed" \
        --email "$owner" --password "$password" --duration "$duration" --warmup "$warmup" \
        --concurrency "$concurrency" --logins "$logins" --threads "$threads" --cases "$cases" \
        --db "$db" --mode "$mode" "${strict[@]}" >"$run/lines" 2>>"$run/load.log" ||
        { cat "$run/lines"; fail "the load client reported failures ($(tail -n 3 "$run/load.log"))"; }
    while IFS= read -r line; do emit "$line"; done <"$run/lines"

    local i peak budget verdict
    for i in "${!pids[@]}"; do
        kill -0 "${pids[i]}" 2>/dev/null || fail "${names[i]} exited during the run"
        peak=$(awk '/^VmHWM:/ {printf "%.1f", $2 / 1024}' "/proc/${pids[i]}/status")
        budget=60
        [[ ${names[i]} == all-in-one ]] && budget=150
        verdict=$(awk -v p="$peak" -v b="$budget" 'BEGIN { print (p < b ? "ok" : "over") }')
        emit "rss process=${names[i]} db=$db mode=$mode peak_mb=$peak budget_mb=$budget result=$verdict"
    done
    stop_system
    drop_databases
}

for db in "${dbs[@]}"; do
    for mode in "${modes[@]}"; do
        bench_one "$db" "$mode"
    done
done
machine "machine after"
if ((smoke)); then
    echo "bench: smoke passed: ${#dbs[@]} database(s) x ${#modes[@]} mode(s), no request failed" >&2
fi
