#!/bin/sh
# usage: tools/readme-sync.sh [--check] [REPO_ROOT]
#
# Copies examples/simple.c into README.md, as a ```c block between the lines
# "<!-- simple.c -->" and "<!-- /simple.c -->", so that the README shows
# exactly the program that is built. With --check nothing is written: the
# script fails, showing the difference, when the README is out of date.
set -eu

check=0
if [ "${1:-}" = --check ]; then
    check=1
    shift
fi
root=${1:-$(dirname "$0")/..}
readme=$root/README.md
src=$root/examples/simple.c

for f in "$readme" "$src"; do
    [ -r "$f" ] || { echo "readme-sync: cannot read $f" >&2; exit 1; }
done

new=$(mktemp)
trap 'rm -f "$new"' EXIT
if ! awk -v src="$src" '
    $0 == "<!-- simple.c -->" {
        print; print "```c"
        while ((getline line < src) > 0) print line
        print "```"
        blocks++; inside = 1; next
    }
    $0 == "<!-- /simple.c -->" { if (!inside) exit 1; inside = 0 }
    !inside { print }
    END { if (blocks != 1 || inside) exit 1 }
' "$readme" >"$new"; then
    echo "readme-sync: $readme needs exactly one block from a line" \
         "'<!-- simple.c -->' to a line '<!-- /simple.c -->'" >&2
    exit 1
fi

if [ $check = 1 ]; then
    if ! diff -u "$readme" "$new" >&2; then
        echo "readme-sync: README.md does not show examples/simple.c;" \
             "run tools/readme-sync.sh" >&2
        exit 1
    fi
else
    cat "$new" >"$readme"
fi
