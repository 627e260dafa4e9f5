#!/bin/sh
# The README's example program (examples/simple.c): 64 greedy tokens from
# BOS must be the beginning of the reference story.
set -eu
simple=$1
models=${LLM_TEST_MODELS:-$2}
out=$("$simple" "$models/stories260K.gguf")
golden=$(cat "$models/../golden/stories260K/noprompt-256.txt")
[ ${#out} -gt 100 ] || { echo "simple printed too little: '$out'"; exit 1; }
case "$golden" in
  "$out"*) echo "ok: simple printed ${#out} bytes of the golden story" ;;
  *) printf 'simple printed:\n%s\nwhich does not begin the golden story\n' "$out"; exit 1 ;;
esac
