#!/usr/bin/env bash
# The one release build. The Dockerfile's build stage and the test pipeline
# both run this script, so the binaries the tests prove are the binaries the
# image ships.
#
# Usage: scripts/build-release.sh [--out-dir DIR]
#   --out-dir DIR  also copy the shipped binaries into DIR (the Dockerfile's use)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Every binary the image ships.
readonly BINARIES=(todo todo-user todo-task todo-notify todo-edge)

out_dir=
case ${1-} in
    --out-dir) out_dir=${2:?--out-dir needs a directory} ;;
    '') ;;
    *) echo "usage: $0 [--out-dir DIR]" >&2; exit 2 ;;
esac

# --workspace: the root manifest is also the `todo` package, and without it
# cargo would build that package alone. --locked: Cargo.lock is the truth.
# The protos are compiled by proto/build.rs (protox): no protoc is needed.
cargo build --release --locked --workspace --bins

release_dir=${CARGO_TARGET_DIR:-target}/release
for bin in "${BINARIES[@]}"; do
    if [[ ! -x $release_dir/$bin ]]; then
        echo "build-release: $release_dir/$bin was not built" >&2
        exit 1
    fi
done

if [[ -n $out_dir ]]; then
    mkdir -p "$out_dir"
    for bin in "${BINARIES[@]}"; do
        cp "$release_dir/$bin" "$out_dir/"
    done
fi
echo "build-release: ${BINARIES[*]} in ${out_dir:-$release_dir}"
