#!/usr/bin/env bash
# Prints the code of the newest e-mail to ADDRESS that carries one
# (verification, address change, password reset), from the .eml files the
# platform writes when no SMTP server is configured. E-mails are sent
# asynchronously (through the outbox), so it waits up to 10 s for one to
# arrive. For trying the API by hand; the README's walk-throughs use it.
#
# Usage: scripts/mail-code.sh ADDRESS [MAIL_DIR]   (MAIL_DIR default ./data/mail)
set -euo pipefail
address=${1:?usage: $0 ADDRESS [MAIL_DIR]}
dir=${2:-data/mail}

python3 - "$address" "$dir" <<'EOF'
import email, email.policy, pathlib, sys, time

address, folder = sys.argv[1].lower(), pathlib.Path(sys.argv[2])
MARK = "Or enter this code"


def newest_code():
    newest = None
    for path in folder.glob("*.eml"):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if address not in str(message["To"]).lower():
            continue
        part = message.get_body(preferencelist=("plain",))
        lines = part.get_content().splitlines() if part else []
        codes = [lines[i + 2].strip() for i, line in enumerate(lines[:-2]) if line.startswith(MARK)]
        if codes and (newest is None or path.stat().st_mtime_ns > newest[0]):
            newest = (path.stat().st_mtime_ns, codes[0])
    return newest


deadline = time.monotonic() + 10
newest = newest_code()
while newest is None and time.monotonic() < deadline:
    time.sleep(0.2)
    newest = newest_code()
if newest is None:
    sys.exit(f"mail-code: no e-mail with a code to {address} in {folder}")
print(newest[1])
EOF
