#!/bin/sh
# usage: test_walkthrough.sh SOURCE_ROOT LLM_INSPECT MODELS
# docs/WALKTHROUGH.md cannot go stale: every `path:line (name)` it cites
# is a line of that file holding that name; every llm-inspect command of
# its sh blocks runs (in a scratch directory holding the model); the
# hyper-parameters of its table are the ones llm-inspect info reports;
# the token ids, the trace lines and the attention weights it quotes are
# what llm-inspect prints now.
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
"$inspect" trace "$dir/stories260K.gguf" "Once upon a time" -n 1 --top-k 3 --json >"$dir/trace.json"
"$inspect" attention "$dir/stories260K.gguf" "Once upon a time" --layer 0 --head 0 --json >"$dir/att.json"
python3 - "$doc" "$dir"/info.json "$dir"/tokens.json "$dir"/trace.json "$dir"/att.json 2>&1 <<'PY' || fail "the walkthrough disagrees with llm-inspect (above)"
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
trace = json.load(open(sys.argv[4]))
for l in trace["layers"]:
    lens = ", ".join("'%s' %.3f" % (c["piece"], c["p"]) for c in l["lens"])
    line = "layer %2d  |x| %8.3f  lens: %s" % (l["layer"], l["residual_norm"], lens)
    if line not in doc:
        sys.exit("FAIL: the trace now says: " + line)
row = " ".join("%.3f" % p for p in json.load(open(sys.argv[5]))["heads"][0]["weights"][-1])
if f"the weights {row}" not in doc.replace("\n", " "):
    sys.exit("FAIL: layer 0 head 0 now gives the last token the weights " + row)
PY
echo "ok: the table's shapes, the prompt's ids, the trace and the attention weights are the model's"
