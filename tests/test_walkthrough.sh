#!/bin/sh
# usage: test_walkthrough.sh SOURCE_ROOT LLM_INSPECT MODELS
# docs/WALKTHROUGH.md cannot go stale: every `path:line (name)` it cites
# is a line of that file holding that name; every llm-inspect command of
# its sh blocks runs (in a scratch directory holding the model); the
# hyper-parameters of its table are the ones llm-inspect info reports;
# the token ids it gives are the tokenizer's.
set -eu
src=$1
inspect=$2
models=${LLM_TEST_MODELS:-$3}
doc=$src/docs/WALKTHROUGH.md
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

grep -o '[A-Za-z0-9_./-]*\.[ch]:[0-9][0-9]* ([A-Za-z0-9_]*)' "$doc" >"$dir/cites" || true
n=$(wc -l <"$dir/cites")
[ "$n" -ge 30 ] || fail "only $n path:line (name) citations found in $doc"
while IFS= read -r cite; do
    path=${cite%%:*}
    rest=${cite#*:}
    line=${rest%% *}
    name=${rest#*(}
    name=${name%)}
    [ -f "$src/$path" ] || fail "$cite: no file $path"
    text=$(sed -n "${line}p" "$src/$path")
    [ -n "$text" ] || fail "$cite: $path has no line $line"
    case $text in
        *"$name"*) ;;
        *) fail "$cite: line $line of $path is now: $text (the first line with $name:" \
                "$(grep -n -F -m 1 "$name" "$src/$path" | cut -d: -f1))" ;;
    esac
done <"$dir/cites"
echo "ok: $n citations hold what they name"

ln -s "$models/stories260K.gguf" "$dir/stories260K.gguf"
awk '/^```sh/ { on = 1; next } /^```/ { on = 0 } on && /^llm-inspect / { print }' "$doc" >"$dir/commands"
[ -s "$dir/commands" ] || fail "no llm-inspect commands in $doc"
while IFS= read -r cmd; do
    (cd "$dir" && eval "\"$inspect\" ${cmd#llm-inspect }" >"$dir/out" 2>&1) || { cat "$dir/out"; fail "$cmd"; }
done <"$dir/commands"
echo "ok: $(wc -l <"$dir/commands") llm-inspect commands run"

"$inspect" info "$dir/stories260K.gguf" --json >"$dir/info.json"
"$inspect" tokens "$dir/stories260K.gguf" "Once upon a time" --json >"$dir/tokens.json"
python3 - "$doc" "$dir/info.json" "$dir/tokens.json" 2>&1 <<'PY' || fail "$doc disagrees with llm-inspect (above)"
import json, re, sys
doc = open(sys.argv[1], encoding="utf-8").read()
info = json.load(open(sys.argv[2]))
rows = dict(re.findall(r"^\| `([\w.]+)`[^|]*\| ([0-9e.-]+) \|", doc, re.M))
for key in ("n_embd", "n_head", "n_head_kv", "head_dim", "n_ff", "n_layer", "n_vocab"):
    if int(rows[key]) != info[key]:
        sys.exit(f"FAIL: the table says {key} {rows[key]}, the model {info[key]}")
if int(rows["rope.dimension_count"]) != int(info["metadata"]["llama.rope.dimension_count"]):
    sys.exit("FAIL: rope dimensions")
ids = " ".join(str(t["id"]) for t in json.load(open(sys.argv[3])))
if f"ids `{ids}`" not in doc:
    sys.exit(f"FAIL: the prompt's ids are {ids}")
PY
echo "ok: the table's shapes and the prompt's ids are the model's"
