#!/usr/bin/env bash
# Makes the web app's screenshots in docs/screenshots/: runs the browser
# test suite (tests/browser.rs) in headless Chromium with
# TODO_SCREENSHOTS_DIR set, so its stories save a PNG of each main page on
# the way, at desktop width and a few at phone width.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/ensure-chromium.sh
scripts/ensure-axe.sh
mkdir -p docs/screenshots
TODO_SCREENSHOTS_DIR="$PWD/docs/screenshots" TODO_TEST_BROWSER=required \
    cargo test --locked --test browser
ls -l docs/screenshots
