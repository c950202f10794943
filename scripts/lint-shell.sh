#!/usr/bin/env bash
# Runs shellcheck on every shell script of the repository: files named *.sh
# and files whose shebang names sh or bash (such as .ci/run). CI's lint job and
# tests/shipping/run.sh both call this, so they check the same set.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts=()
while IFS= read -r -d '' file; do
    [[ -f $file ]] || continue
    if [[ $file == *.sh ]] || head -n1 -- "$file" | grep -Eq '^#!.*[/ ](ba)?sh([[:space:]]|$)'; then
        scripts+=("$file")
    fi
done < <(git ls-files -z --cached --others --exclude-standard)

if ((${#scripts[@]} == 0)); then
    echo "lint-shell: no shell scripts found" >&2
    exit 1
fi
shellcheck "${scripts[@]}"
echo "lint-shell: ${#scripts[@]} scripts clean: ${scripts[*]}"
