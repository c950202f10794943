#!/usr/bin/env bash
# Prints the first ```sh block of README.md after the line that starts with
# TEXT (a heading or a paragraph), so the smoke test runs the README's
# commands exactly as written.
#
# Usage: scripts/readme-block.sh TEXT
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
python3 - "$root/README.md" "${1:?usage: $0 TEXT}" <<'PY'
import sys
text = open(sys.argv[1], encoding="utf-8").read()
start = text.find(sys.argv[2])
if start < 0:
    sys.exit(f"readme-block: {sys.argv[2]!r} is not in README.md")
body = text.index("```sh\n", start) + len("```sh\n")
print(text[body:text.index("```", body)], end="")
PY
