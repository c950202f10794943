#!/usr/bin/env bash
# The one release build. The Dockerfile's build stage and the test pipeline
# both run this script, so the binary the tests prove is the binary the
# image ships.
#
# Usage: scripts/build-release.sh [--out-dir DIR [--debug-dir DIR]]
#   --out-dir DIR    also put the shipped binary into DIR (the Dockerfile's
#                    use): its debug info stripped, its symbol names kept, so
#                    a profile taken in production still names functions
#   --debug-dir DIR  put the debug info (line tables) there, as todo.debug,
#                    linked from the shipped binary by .gnu_debuglink so
#                    gdb and perf find it when it is placed beside the binary
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The one binary the image ships: every role is a subcommand (`todo user`,
# `todo edge`, ...), so the dependencies are linked once, not five times.
readonly BINARY=todo

out_dir='' debug_dir=''
while (($#)); do
    case $1 in
        --out-dir) out_dir=${2:?--out-dir needs a directory}; shift 2 ;;
        --debug-dir) debug_dir=${2:?--debug-dir needs a directory}; shift 2 ;;
        *) echo "usage: $0 [--out-dir DIR [--debug-dir DIR]]" >&2; exit 2 ;;
    esac
done
if [[ -n $debug_dir && -z $out_dir ]]; then
    echo "build-release: --debug-dir needs --out-dir" >&2
    exit 2
fi

# --locked: Cargo.lock is the truth. The protos are compiled by
# proto/build.rs (protox): no protoc is needed.
cargo build --release --locked --bin "$BINARY"

built=${CARGO_TARGET_DIR:-target}/release/$BINARY
if [[ ! -x $built ]]; then
    echo "build-release: $built was not built" >&2
    exit 1
fi

if [[ -n $out_dir ]]; then
    mkdir -p "$out_dir"
    if [[ -n $debug_dir ]]; then
        mkdir -p "$debug_dir"
        objcopy --only-keep-debug "$built" "$debug_dir/$BINARY.debug"
        objcopy --strip-debug --add-gnu-debuglink="$debug_dir/$BINARY.debug" \
            "$built" "$out_dir/$BINARY"
    else
        objcopy --strip-debug "$built" "$out_dir/$BINARY"
    fi
fi
echo "build-release: $BINARY in ${out_dir:-$(dirname "$built")}"
