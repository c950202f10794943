#!/usr/bin/env bash
# Makes sure headless Chromium and its WebDriver server are installed for the
# browser tests (tests/browser.rs): Debian's chromium and chromium-driver,
# installed only when missing. The package index is refreshed only when the
# install fails without it (a fresh machine has none).
set -euo pipefail

if [[ -x /usr/bin/chromium && -x /usr/bin/chromedriver ]]; then
    exit 0
fi
install() {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
}
echo "ensure-chromium: installing chromium and chromium-driver" >&2
if ! install; then
    echo "ensure-chromium: refreshing the package index" >&2
    apt-get update -qq
    install
fi
if [[ ! -x /usr/bin/chromium || ! -x /usr/bin/chromedriver ]]; then
    echo "ensure-chromium: /usr/bin/chromium or /usr/bin/chromedriver still missing" >&2
    exit 1
fi
