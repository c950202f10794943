#!/usr/bin/env bash
# Makes sure axe-core, the accessibility checker the browser tests
# (tests/browser.rs) inject into each page, is installed: a pinned version
# from the npm registry into the git-ignored .tools/axe/, only when missing
# or of another version. npm comes from Debian's nodejs and npm packages
# when it is not on the PATH (which needs root, as scripts/ensure-chromium.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Keep in step with AXE_VERSION in tests/browser.rs.
readonly VERSION=4.14.1
readonly DIR=.tools/axe
readonly SCRIPT=$DIR/node_modules/axe-core/axe.min.js

installed() {
    [[ -f $SCRIPT ]] &&
        [[ $(node -p 'require(process.argv[1]).version' "$PWD/$DIR/node_modules/axe-core/package.json" 2>/dev/null) == "$VERSION" ]]
}

if command -v node >/dev/null && installed; then
    exit 0
fi
if ! command -v npm >/dev/null; then
    echo "ensure-axe: installing nodejs and npm" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
echo "ensure-axe: installing axe-core $VERSION into $DIR" >&2
mkdir -p "$DIR"
# npm checks the package against the registry's integrity hash.
npm install --prefix "$DIR" --no-audit --no-fund --loglevel=error "axe-core@$VERSION" >/dev/null
if ! installed; then
    echo "ensure-axe: $SCRIPT is still missing or not version $VERSION" >&2
    exit 1
fi
