#!/bin/sh
# usage: check.sh SRC_DIR BUILD_DIR NPM_CI SCRIPT ARGS...
# Runs tests/server/SCRIPT (api.mjs, load.mjs, page.mjs) with node, beside
# the npm packages pinned by package-lock.json (the official openai client,
# playwright-core), which tests/npm-ci.sh installs into BUILD_DIR/npm.
# Skips (77) without node >= 20 and npm, or without the npm registry.
set -eu
src=$1 build=$2 npm_ci=$3 script=$4
shift 4
npm_dir=$build/npm
rc=0
sh "$npm_ci" "$src" "$npm_dir" openai playwright-core || rc=$?
[ $rc = 0 ] || exit $rc
cp "$src/common.mjs" "$src/$script" "$npm_dir/"  # beside node_modules, where imports resolve
exec node "$npm_dir/$script" "$@"
