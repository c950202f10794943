#!/usr/bin/env bash
# Mutation testing of the security controls: cargo-mutants breaks each
# control in turn (a check replaced by `true`, a comparison inverted, a
# function returning a default) and runs the tests that cover it. A mutant
# the tests do not notice ("missed") is a control nothing would defend.
#
# Every missed mutant must either be killed by a test or be listed, with a
# one-line reason, in scripts/mutants-allowed.txt (equivalent or harmless
# mutants: Debug output, log text, timing of a cache). The script fails on
# any unexplained miss.
#
# Usage: scripts/mutants.sh [--ci] [GROUP...]
#   GROUP   one of the groups below (default: all of them)
#   --ci    the bounded form that .ci/run runs: the groups marked `ci`
#
# Results (caught / missed / unviable per group) are printed at the end.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

readonly MUTANTS_VERSION=27.1.0

# name | ci? | the package whose tests run | the files mutated | only the
# mutants whose name matches this regex (empty: all)
readonly GROUPS_TABLE=(
    "tokens|ci|todo-common|services/common/src/auth.rs services/common/src/verified_tokens.rs|"
    "tokens-e2e||todo|services/common/src/auth.rs|JwksSource for UserServiceClient"
    "pages|ci|todo-common|services/common/src/paging.rs|"
    "erased|ci|todo-store|services/store/src/erased.rs|"
    "access|ci|todo-task|services/task/src/access.rs services/task/src/list_fields.rs|"
    "positions|ci|todo-task|services/task/src/position.rs|"
    "passwords||todo-user|services/user/src/password.rs services/user/src/domain.rs|"
    "throttle||todo-user|services/user/src/throttle.rs|"
    "edge-limits||todo-edge|edge/src/limits.rs edge/src/error.rs edge/src/metadata.rs|"
    "ssrf||todo-task|services/task/src/preview/guard.rs|"
)

ci=
wanted=()
for arg in "$@"; do
    case $arg in
        --ci) ci=1 ;;
        -h | --help) sed -n '2,16p' "${BASH_SOURCE[0]}"; exit 0 ;;
        -*) echo "mutants: unknown option $arg" >&2; exit 2 ;;
        *) wanted+=("$arg") ;;
    esac
done

if [[ $(cargo mutants --version 2>/dev/null) != "cargo-mutants $MUTANTS_VERSION" ]]; then
    echo "mutants: installing cargo-mutants $MUTANTS_VERSION" >&2
    cargo install --locked --quiet cargo-mutants --version "$MUTANTS_VERSION"
fi

allowed=scripts/mutants-allowed.txt
out=${MUTANTS_OUT:-target/mutants}
mkdir -p "$out"
summary=()
unexplained=()
used_allowances=()

# "file:line:col: description" -> "file: description": allow-list entries
# must survive edits that only move code.
strip_position() { sed -E 's/^([^:]+):[0-9]+:[0-9]+:/\1:/'; }

for row in "${GROUPS_TABLE[@]}"; do
    IFS='|' read -r name in_ci package files only <<<"$row"
    if ((${#wanted[@]})); then
        [[ " ${wanted[*]} " == *" $name "* ]] || continue
    elif [[ -n $ci && $in_ci != ci ]]; then
        continue
    fi
    args=(--workspace --test-package "$package" --in-place --baseline skip --no-shuffle
        --output "$out/$name" --timeout 120)
    for f in $files; do args+=(--file "$f"); done
    [[ -z $only ]] || args+=(--re "$only")
    echo "==> mutants: $name ($files; tests of $package)"
    # Exit status 2 means "some mutants missed", 3 "some timed out" (the
    # tests did not pass: caught); misses are judged below instead.
    status=0
    cargo mutants "${args[@]}" >"$out/$name.log" 2>&1 || status=$?
    if ((status != 0 && status != 2 && status != 3)); then
        tail -n 30 "$out/$name.log" >&2
        echo "mutants: cargo mutants failed for $name (exit $status)" >&2
        exit 1
    fi
    dir=$out/$name/mutants.out
    count() { if [[ -f $dir/$1.txt ]]; then grep -c . "$dir/$1.txt" || true; else echo 0; fi; }
    summary+=("$name: caught $(count caught), missed $(count missed), unviable $(count unviable), timeout $(count timeout)")
    if [[ -f $dir/missed.txt ]]; then
        while IFS= read -r mutant; do
            key=$(strip_position <<<"$mutant")
            if grep -qxF -- "$key" <(sed -E 's/[[:space:]]+#.*$//' "$allowed"); then
                used_allowances+=("$key")
            else
                unexplained+=("$mutant")
            fi
        done <"$dir/missed.txt"
    fi
done

echo
printf '%s\n' "${summary[@]}"
if ((${#unexplained[@]})); then
    echo
    echo "mutants: missed and not in $allowed:"
    printf '  %s\n' "${unexplained[@]}"
    exit 1
fi
echo "mutants: no unexplained missed mutants (${#used_allowances[@]} allowed)"
