#!/usr/bin/env bash
# Validates the OpenAPI document that the edge generates from the proto
# descriptors, with openapi-spec-validator (pinned, installed into the
# git-ignored .tools/venv on first use). The document comes from
# `todo openapi`, which opens no socket and needs no services.
# Prints `openapi: 1 passed, 0 failed` and exits non-zero when invalid.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

validator_version=0.9.0
venv=.tools/venv

installed_version() {
    "$venv/bin/python" - <<'PY' 2>/dev/null
import importlib.metadata
print(importlib.metadata.version("openapi-spec-validator"))
PY
}

if [[ ! -x $venv/bin/python ]]; then
    python3 -m venv "$venv"
fi
if [[ $(installed_version || true) != "$validator_version" ]]; then
    echo "check-openapi: installing openapi-spec-validator $validator_version" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        "openapi-spec-validator==$validator_version"
fi

document=$(mktemp)
trap 'rm -f -- "$document"' EXIT
# The release binary when the test command has just built it (no second
# build with other features); otherwise whatever cargo builds.
release=${CARGO_TARGET_DIR:-target}/release/todo
if [[ -x $release ]]; then
    "$release" openapi >"$document"
else
    cargo run --quiet --bin todo -- openapi >"$document"
fi

if "$venv/bin/openapi-spec-validator" "$document"; then
    echo "openapi: 1 passed, 0 failed"
else
    echo "openapi: 0 passed, 1 failed"
    exit 1
fi
