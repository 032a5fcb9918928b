#!/usr/bin/env bash
# The habits the tools check (scripts/test.sh runs this; so does CI):
#  - every C++ file under src/, test/unit and test/fuzz is formatted as
#    .clang-format says (clang-format from Debian's clang-format package);
#  - every source file of src/common includes common/cpp_only.h, which makes
#    the compiler refuse a PostgreSQL header there.
# Prints each offending file; exits non-zero if there is one.
#   scripts/check-style.sh          check
#   scripts/check-style.sh --fix    format the files in place instead
set -uo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
cd "$HERE"

# Files not yet formatted (none now; a file that no longer exists is ignored).
NOT_YET_FORMATTED=()

bad=0
checked=()
while IFS= read -r f; do
  skip=0
  for x in "${NOT_YET_FORMATTED[@]}"; do [ "$f" = "$x" ] && skip=1; done
  [ $skip -eq 0 ] && checked+=("$f")
done < <(find src test/unit test/fuzz -type f \( -name '*.cpp' -o -name '*.h' \) | sort)
if [ "${1:-}" = "--fix" ]; then
  clang-format -i "${checked[@]}"
else
  # One run over all files; it names each file that would change.
  unformatted=$(clang-format --dry-run "${checked[@]}" 2>&1 | sed -n 's/^\([^:]*\):[0-9]*:[0-9]*: warning: code should be clang-formatted.*/\1/p' | sort -u)
  for f in $unformatted; do echo "not formatted: $f (scripts/check-style.sh --fix formats it)"; bad=1; done
fi

for f in src/common/*.cpp; do
  grep -q '^#include "common/cpp_only.h"' "$f" || { echo "missing #include \"common/cpp_only.h\" (last): $f"; bad=1; }
done
exit $bad
