#!/usr/bin/env bash
# The login of one fake host in tests/shipping/run.sh, run by the test sshd as
# a ForceCommand: it starts the session in the host's own directory (a real
# host starts it in the user's home), puts the docker shim first in PATH, and
# runs what the SSH client asked for, as a login shell would.
#
# Usage (sshd_config): ForceCommand fake-host.sh HOST_DIR
set -euo pipefail

FAKE_HOST_DIR=$1
PATH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/shims:$PATH
export FAKE_HOST_DIR PATH
cd "$FAKE_HOST_DIR"
exec bash -c "${SSH_ORIGINAL_COMMAND:?this fake host runs commands only}"
