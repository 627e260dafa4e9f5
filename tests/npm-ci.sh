#!/bin/sh
# usage: npm-ci.sh SRC_DIR NPM_DIR PACKAGE...
# Installs the packages pinned by SRC_DIR/package-lock.json with npm ci into
# NPM_DIR (its cache there too), again only when the lock changed or one of
# the PACKAGEs is missing; tests running at once take turns (flock). Exits
# 0 when installed, 77 (a skip) without node >= 20 and npm or when npm
# cannot reach the registry, 1 when npm fails otherwise.
set -eu
src=$1 npm_dir=$2
shift 2

skip() { echo "skip: $*"; exit 77; }

command -v node >/dev/null 2>&1 || skip "node is not installed"
command -v npm >/dev/null 2>&1 || skip "npm is not installed"
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
[ "$node_major" -ge 20 ] 2>/dev/null || skip "node $(node --version 2>/dev/null) is older than 20"

mkdir -p "$npm_dir"
if command -v flock >/dev/null 2>&1; then
    exec 9>"$npm_dir/.lock"
    flock 9
fi
missing=0
for p in "$@"; do
    [ -f "$npm_dir/node_modules/$p/package.json" ] || missing=1
done
cmp -s "$src/package-lock.json" "$npm_dir/package-lock.json" && [ $missing = 0 ] && exit 0
cp "$src/package.json" "$src/package-lock.json" "$npm_dir/"
if ! npm ci --prefix "$npm_dir" --cache "$npm_dir/cache" --prefer-offline \
    --no-audit --no-fund >"$npm_dir/install.log" 2>&1; then
    rm -f "$npm_dir/package-lock.json"  # retry next time
    if grep -Eq 'ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|network' \
        "$npm_dir/install.log"; then
        skip "npm cannot reach the registry: $(grep -m1 -E 'ERR|error' "$npm_dir/install.log")"
    fi
    cat "$npm_dir/install.log"
    echo "FAIL: npm ci failed"
    exit 1
fi
