#!/usr/bin/env bash
# usage: models/get-model.sh [NAME]     (default NAME: stories260K.gguf)
#
# Prints the path of a usable copy of model NAME on stdout; everything else
# goes to stderr. Looks in models/ (beside this script), then in the test
# fixture directory ($LLM_TEST_MODELS, else ../shared/models beside the
# repository), and otherwise downloads NAME from its public source into
# models/. A file whose checksum is known is used only when it matches.
set -euo pipefail

name=${1:-stories260K.gguf}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
fixtures=${LLM_TEST_MODELS:-$(dirname "$(dirname "$here")")/shared/models}

# Public source and sha256 of the models this script can download.
case $name in
    stories260K.gguf)
        url=https://huggingface.co/ggml-org/models/resolve/main/tinyllamas/stories260K.gguf
        sha=270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d ;;
    *)
        url='' sha='' ;;
esac

say() { echo "get-model.sh: $*" >&2; }

sha256_of() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d' ' -f1
    else
        shasum -a 256 "$1" | cut -d' ' -f1
    fi
}

# True when $1 is a readable file with the expected checksum (when one is
# known); a mismatch is reported and the file is not used.
usable() {
    [ -f "$1" ] && [ -r "$1" ] || return 1
    [ -z "$sha" ] && return 0
    local got
    got=$(sha256_of "$1")
    [ "$got" = "$sha" ] && return 0
    say "$1: sha256 is $got, expected $sha; not using it"
    return 1
}

# Downloads url to models/name through a temporary file, which is removed
# on any failure, including a checksum mismatch.
tmp=$here/$name.tmp
download() {
    trap 'rm -f "$tmp"' EXIT
    say "downloading $url"
    if command -v curl >/dev/null 2>&1; then
        curl -fsSL --connect-timeout 15 --max-time 600 -o "$tmp" "$url" || return 1
    elif command -v wget >/dev/null 2>&1; then
        wget -nv --timeout=15 --tries=1 -O "$tmp" "$url" || return 1
    else
        say "neither curl nor wget is installed"
        return 1
    fi
    usable "$tmp" || return 1
    mv -f "$tmp" "$here/$name"
}

for dir in "$here" "$fixtures"; do
    if usable "$dir/$name"; then
        echo "$(cd "$dir" && pwd)/$name"
        exit 0
    fi
done

if [ -n "$url" ] && download; then
    echo "$here/$name"
    exit 0
fi

{
    echo "get-model.sh: no usable $name. Looked in:"
    echo "  $here/"
    echo "  $fixtures/  (set LLM_TEST_MODELS to change)"
    if [ -n "$url" ]; then
        echo "and the download from $url failed."
        echo "Fetch it by hand into models/ and check it:"
        echo "  curl -L -o $here/$name $url"
        echo "  sha256sum $here/$name   # must print $sha"
    else
        echo "No public source is known for $name: copy it into $here/"
        echo "(models/README.md lists where to get models)."
    fi
} >&2
exit 1
