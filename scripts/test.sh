#!/usr/bin/env bash
# The project's test command: formatting, lints, the unit and integration
# suites (SQLite always; MariaDB too when TODO_TEST_MYSQL_URL is set, e.g.
# mysql://root@127.0.0.1:3306, the server started here if need be), the
# schemathesis run, the smoke test of the release build with curl and
# grpcurl, the smoke form of the benchmark harness, the shipping checks,
# and mutation testing of the security controls.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TERM_COLOR=never

step() { printf '\n==> %s\n' "$*"; }
# Free space where the build writes, so a run that fills the disk says so.
disk() { df -h --output=avail,target . | tail -n 1 | awk '{print "disk: " $1 " free on " $2}'; }
disk

# A local server is started when the URL points at this machine; any other
# host (a CI service container) is expected to be up already.
case ${TODO_TEST_MYSQL_URL:-} in
    mysql://*@127.0.0.1:3306* | mysql://*@localhost:3306*)
        step "MariaDB"
        scripts/ensure-mariadb.sh
        ;;
esac

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "Chromium, chromedriver and axe-core for the browser tests"
scripts/ensure-chromium.sh
scripts/ensure-axe.sh

step "cargo test"
TODO_TEST_BROWSER=required cargo test --workspace --locked

step "release build"
scripts/build-release.sh

step "OpenAPI document validated"
scripts/check-openapi.sh

step "schemathesis against the release build"
scripts/check-schemathesis.sh

step "smoke test of the release build"
scripts/smoke.sh

step "benchmark harness, smoke form (SQLite, both modes, 1 s per case, no failed request)"
scripts/bench.sh --smoke

step "shipping checks"
bash tests/shipping/run.sh

# Last: it mutates the sources in place (and restores them) while it runs.
step "mutation testing of the security controls (bounded)"
disk
scripts/mutants.sh --ci
