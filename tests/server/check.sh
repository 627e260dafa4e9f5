#!/bin/sh
# usage: check.sh SRC_DIR BUILD_DIR NPM_CI SCRIPT ARGS...
# Runs tests/server/SCRIPT (api.mjs, load.mjs, page.mjs) with node, beside
# the npm packages pinned by package-lock.json (the official openai client,
# playwright-core), which tests/npm-ci.sh installs into BUILD_DIR/npm.
# Skips (77) without node >= 20 and npm, or without the npm registry; the
# page test installs Debian's chromium when it can (as root, or with sudo
# that needs no password) and skips without it.
set -eu
src=$1 build=$2 npm_ci=$3 script=$4
shift 4
npm_dir=$build/npm
rc=0
sh "$npm_ci" "$src" "$npm_dir" openai playwright-core || rc=$?
[ $rc = 0 ] || exit $rc
if [ "$script" = page.mjs ]; then
    find_chromium() {
        for c in /usr/lib/chromium/chromium "$(command -v chromium || true)" "$(command -v chromium-browser || true)"; do
            [ -n "$c" ] && [ -x "$c" ] && { echo "$c"; return 0; }
        done
        return 1
    }
    if ! CHROMIUM=$(find_chromium) && command -v apt-get >/dev/null 2>&1; then
        sudo=
        [ "$(id -u)" = 0 ] || sudo="sudo -n"
        echo "installing chromium with apt-get"
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >"$build/chromium-install.log" 2>&1 ||
            { $sudo apt-get update -q >>"$build/chromium-install.log" 2>&1 &&
              $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >>"$build/chromium-install.log" 2>&1; } || true
    fi
    CHROMIUM=$(find_chromium) || { echo "skip: chromium is not installed and cannot be (see $build/chromium-install.log)"; exit 77; }
    export CHROMIUM
fi
cp "$src/common.mjs" "$src/$script" "$npm_dir/"  # beside node_modules, where imports resolve
exec node "$npm_dir/$script" "$@"
