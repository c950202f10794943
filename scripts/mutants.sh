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
#   --ci    the bounded form that .ci/run runs: for each group, only the
#           mutants on lines of its files changed since the commit named in
#           scripts/mutants-base (`git diff BASE -- FILES`, given to
#           cargo-mutants as --in-diff); a group whose files are unchanged
#           is skipped. When that file is missing or its commit is not in
#           this clone's history (a shallow clone), the groups marked `ci`
#           run in full instead.
#
# scripts/mutants-base names the commit from which --ci tests changed
# lines; the README's table says how each group's last full run ended.
# After full runs (`scripts/mutants.sh GROUP...` on a clean checkout) with
# no unexplained miss, move it forward:
#   git rev-parse HEAD > scripts/mutants-base
# The diff covers only the mutated files: a change to a test alone runs
# nothing, which is why the full run is repeated from time to time.
#
# Results (caught / missed / unviable / timeout per group) are printed at
# the end.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

readonly MUTANTS_VERSION=27.1.0

# One group a row, its fields separated by ';': name; `ci` when --ci runs
# it in full for want of a base to diff against; the package whose tests
# run; the files mutated; only the mutants whose name matches this regex
# (empty: all); more cargo arguments (which of the package's test targets
# to build and run). cargo-mutants 27.1.0 does not apply the regex to its
# "delete field" mutants: a filtered group also gets every field deleted
# from a struct literal with `..` in its files.
readonly GROUPS_TABLE=(
    "tokens;ci;todo-common;services/common/src/auth.rs services/common/src/verified_tokens.rs;;"
    "tokens-e2e;;todo;services/common/src/auth.rs;JwksSource for UserServiceClient;--test=system"
    "pages;ci;todo-common;services/common/src/paging.rs;;"
    "erased;ci;todo-store;services/store/src/erased.rs;;"
    "access;ci;todo-task;services/task/src/access.rs services/task/src/list_fields.rs;;"
    "positions;ci;todo-task;services/task/src/position.rs;;"
    "passwords;;todo-user;services/user/src/password.rs services/user/src/domain.rs;;"
    "throttle;;todo-user;services/user/src/throttle.rs;;"
    "edge-limits;;todo-edge;edge/src/limits.rs edge/src/error.rs edge/src/metadata.rs;;"
    "ssrf;;todo-task;services/task/src/preview/guard.rs;;"
    "idempotency;;todo-task;services/task/src/request.rs services/task/src/idempotency.rs services/task/src/store/tasks.rs;idempotency;"
    "idempotency-e2e;;todo;services/task/src/tasks.rs services/task/src/links.rs;State::create_task_(hashed|from_url);--test=tasks --test=previews"
    "schedule;;todo-task;services/task/src/due.rs services/task/src/recurrence.rs;;"
    "ownership;;todo-task;services/task/src/store/lists.rs services/task/src/store/tasks.rs services/task/src/store/links.rs;(replace|in) (get|page|children|list|for_tasks)(_inline)?( ->|$);"
)

ci=
wanted=()
for arg in "$@"; do
    case $arg in
        --ci) ci=1 ;;
        -h | --help) sed -n '2,/^[^#]/{/^#/p}' "${BASH_SOURCE[0]}"; exit 0 ;;
        -*) echo "mutants: unknown option $arg" >&2; exit 2 ;;
        *) wanted+=("$arg") ;;
    esac
done

if [[ $(cargo mutants --version 2>/dev/null) != "cargo-mutants $MUTANTS_VERSION" ]]; then
    echo "mutants: installing cargo-mutants $MUTANTS_VERSION" >&2
    cargo install --locked --quiet cargo-mutants --version "$MUTANTS_VERSION"
fi

for name in "${wanted[@]}"; do
    printf '%s\n' "${GROUPS_TABLE[@]}" | grep -q "^$name;" || {
        echo "mutants: no group named $name" >&2
        exit 2
    }
done

allowed=scripts/mutants-allowed.txt
base_file=scripts/mutants-base
out=${MUTANTS_OUT:-target/mutants}
mkdir -p "$out"

# --ci diffs against the base commit when this clone has it.
base=
if [[ -n $ci ]]; then
    [[ ! -f $base_file ]] || base=$(tr -d '[:space:]' <"$base_file")
    if [[ -n $base ]] && git cat-file -e "$base^{commit}" 2>/dev/null; then
        base=$(git rev-parse --short "$base^{commit}")
        echo "mutants: --ci: only mutants on lines changed since $base ($base_file)"
    else
        echo "mutants: --ci: base commit ${base:-missing} not in this clone; the groups marked ci run in full"
        base=
    fi
fi
summary=()
unexplained=()
used_allowances=()

# "file:line:col: description" -> "file: description": allow-list entries
# must survive edits that only move code.
strip_position() { sed -E 's/^([^:]+):[0-9]+:[0-9]+:/\1:/'; }

for row in "${GROUPS_TABLE[@]}"; do
    IFS=';' read -r name in_ci package files only cargo_args <<<"$row"
    if ((${#wanted[@]})); then
        [[ " ${wanted[*]} " == *" $name "* ]] || continue
    elif [[ -n $ci && -z $base && $in_ci != ci ]]; then
        continue
    fi
    # A run that finds no mutant to test writes no results: none may be
    # left from an earlier run.
    rm -rf "${out:?}/$name"
    # The system tests of the root package take longer than a crate's.
    timeout=120
    [[ $package != todo ]] || timeout=300
    args=(--workspace --test-package "$package" --in-place --baseline skip --no-shuffle
        --output "$out/$name" --timeout "$timeout")
    for f in $files; do args+=(--file "$f"); done
    [[ -z $only ]] || args+=(--re "$only")
    for a in $cargo_args; do args+=(--cargo-arg "$a"); done
    scope="all mutants"
    if [[ -n $base ]]; then
        diff=$out/$name.diff
        # shellcheck disable=SC2086 # $files is a list of paths
        git diff --no-color --no-ext-diff --src-prefix=a/ --dst-prefix=b/ "$base" -- $files >"$diff"
        if [[ ! -s $diff ]]; then
            echo "==> mutants: $name skipped: $files unchanged since $base"
            summary+=("$name: skipped, unchanged since $base")
            continue
        fi
        # shellcheck disable=SC2086
        scope="mutants on changed lines only ($(git diff --shortstat "$base" -- $files | sed 's/^ *//'))"
        args+=(--in-diff "$diff")
    fi
    echo "==> mutants: $name ($files; tests of $package): $scope"
    started=$SECONDS
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
    took=$((SECONDS - started))s
    if [[ ! -d $dir ]]; then
        # Only --in-diff finds nothing: the changed lines hold no mutant
        # (tests, comments, imports).
        summary+=("$name: no mutants on the changed lines ($took)")
        continue
    fi
    count() { if [[ -f $dir/$1.txt ]]; then grep -c . "$dir/$1.txt" || true; else echo 0; fi; }
    summary+=("$name: caught $(count caught), missed $(count missed), unviable $(count unviable), timeout $(count timeout) ($took)")
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
