#!/usr/bin/env bash
# The project stands alone: no tracked file (code, config, test, script, doc) may point at a folder
# beside the repository. The pattern is built from parts so this file does not match itself.
# Usage: no_outside_paths.sh SOURCE_DIR
set -euo pipefail
cd "$1"
pattern="\.\./(\.\./)*$(printf 'sha%s' 'red')(/|\b)"
files=$(git ls-files 2> /dev/null || find . -type f -not -path './build*' -not -path '*/node_modules/*' -not -path './.git/*')
hits=$(printf '%s\n' "$files" | grep -v '^$' | xargs -d '\n' grep -nIE "$pattern" -- 2> /dev/null || true)
if [[ -n "$hits" ]]; then
  echo "files refer to a folder outside the repository:"
  echo "$hits"
  exit 1
fi
echo "no reference to a folder beside the repository in $(printf '%s\n' "$files" | wc -l) files"
