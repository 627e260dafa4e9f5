#!/bin/sh
# usage: test_inspect.sh LLM_INSPECT LLM_TOKENIZE MODELS
# llm-inspect on stories260K: every command of its --help runs, in text and
# JSON; what the JSON says is checked against the file and the other tools
# (python3, which meson itself needs, reads the JSON and the pictures):
# tensor totals and alignment gaps make up the file's data section, tokens
# are llm-tokenize's, the last layer's logit lens is the first step's
# distribution, the SVG is XML with n x n cells per head, the PNG has a
# valid signature, IHDR of the drawn size, CRCs and a zlib stream of its
# scanlines; diff of a file with itself is zero, with its Q8_0 copy small,
# with another architecture's file names the tensors of one side only.
set -eu
inspect=$1
tokenize=$2
models=${LLM_TEST_MODELS:-$3}
m=$models/stories260K.gguf
q8=$models/stories260K-q8_0.gguf
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
prompt="Once upon a time, there was a dog"

"$inspect" --help >"$dir/help" || fail "--help"
for cmd in info tensors tokens trace attention diff; do
    grep -q "^  $cmd [AM]" "$dir/help" || fail "--help does not list $cmd"
done
"$inspect" info "$m" >/dev/null || fail "info"
"$inspect" tensors "$m" >/dev/null || fail "tensors"
"$inspect" tokens "$m" "$prompt" >/dev/null || fail "tokens"
"$inspect" trace "$m" "$prompt" -n 2 >/dev/null || fail "trace"
"$inspect" attention "$m" "$prompt" --layer 1 --head 0 >/dev/null || fail "attention"
"$inspect" diff "$m" "$q8" >/dev/null || fail "diff"
for c in "frobnicate $m" "info" "attention $m x" "attention $m x --layer 99" "trace $m x --top-k 0"; do
    # shellcheck disable=SC2086
    if "$inspect" $c >/dev/null 2>"$dir/err"; then fail "'$c' should fail"; fi
    grep -q "llm-inspect: " "$dir/err" || fail "'$c' fails without a message"
done
"$inspect" diff "$models/../golden/arch/phi3.gguf" "$m" >"$dir/cross" || fail "diff of two architectures"
grep -q "attn_qkv.weight .* missing in B" "$dir/cross" && grep -q "ffn_gate.weight .* missing in A" "$dir/cross" &&
    grep -q "ffn_up.weight .* shapes differ" "$dir/cross" || { cat "$dir/cross"; fail "diff: tensors of one side only, shapes"; }
vocab=$models/vocab/ggml-vocab-phi-3.gguf
"$inspect" info "$vocab" | grep -q "^model  *phi3, vocabulary only, vocab 32064" || fail "info of a vocabulary file"
"$inspect" tokens "$vocab" "Hi<|end|>" | grep -q "control  '<|end|>'" || fail "tokens of a vocabulary file"
# A vocabulary file whose chat template holds an escape byte: the text
# spells it out (nothing reaches a terminal raw), the JSON keeps it.
python3 - "$dir/tmpl.gguf" <<'PY' || fail "cannot write the template file"
import struct, sys
def s(x): b=x.encode(); return struct.pack('<Q',len(b))+b
kv=[]
def kv_str(k,v): kv.append(s(k)+struct.pack('<I',8)+s(v))
def kv_u32(k,v): kv.append(s(k)+struct.pack('<I',4)+struct.pack('<I',v))
def kv_arr_str(k,vs): kv.append(s(k)+struct.pack('<I',9)+struct.pack('<IQ',8,len(vs))+b''.join(s(v) for v in vs))
def kv_arr_f32(k,vs): kv.append(s(k)+struct.pack('<I',9)+struct.pack('<IQ',6,len(vs))+b''.join(struct.pack('<f',v) for v in vs))
def kv_arr_i32(k,vs): kv.append(s(k)+struct.pack('<I',9)+struct.pack('<IQ',5,len(vs))+b''.join(struct.pack('<i',v) for v in vs))
toks=['<unk>','<s>','</s>']+['<0x%02X>'%i for i in range(256)]+['\u2581','a','b']
kv_str('general.architecture','llama')
kv_str('tokenizer.ggml.model','llama')
kv_arr_str('tokenizer.ggml.tokens',toks)
kv_arr_f32('tokenizer.ggml.scores',[0.0]*len(toks))
kv_arr_i32('tokenizer.ggml.token_type',[2,3,3]+[6]*256+[1,1,1])
kv_str('tokenizer.chat_template','{% for m in messages %}\x1b[31m{{ m.content }}\n{% endfor %}')
data=b'GGUF'+struct.pack('<IQQ',3,0,len(kv))+b''.join(kv)
open(sys.argv[1],'wb').write(data)
PY
"$inspect" info "$dir/tmpl.gguf" >"$dir/tmpl.txt" || fail "info of a vocabulary file with a template"
grep -q '^{% for m in messages %}\\x1B\[31m{{ m.content }}$' "$dir/tmpl.txt" || { cat "$dir/tmpl.txt"; fail "info: the template"; }
if grep -q "$(printf '\033')" "$dir/tmpl.txt"; then fail "info printed a raw escape byte"; fi
"$inspect" info "$dir/tmpl.gguf" --json | python3 -c 'import json, sys
sys.exit(json.load(sys.stdin)["chat_template"] != "{% for m in messages %}\x1b[31m{{ m.content }}\n{% endfor %}")' ||
    fail "info --json: the template byte for byte"
echo "ok: every command runs; bad ones fail with a message"

"$inspect" info "$m" --json >"$dir/info.json"
"$inspect" tensors "$m" --json >"$dir/tensors.json"
"$inspect" tokens "$m" "$prompt" --json >"$dir/tokens.json"
"$tokenize" -m "$m" -p "$prompt" --special >"$dir/ids.txt"
"$inspect" trace "$m" "$prompt" -n 3 --json >"$dir/trace.json"
"$inspect" attention "$m" "$prompt" --layer 2 --head 3 -o "$dir/one.svg" --json >"$dir/one.json"
"$inspect" attention "$m" "$prompt" --layer 2 -o "$dir/all.svg" >/dev/null
"$inspect" attention "$m" "$prompt" --layer 2 -o "$dir/all.png" >/dev/null
"$inspect" attention "$m" "$prompt" --layer 2 --json >"$dir/weights.json"
"$inspect" diff "$m" "$m" --json >"$dir/self.json"
"$inspect" diff "$m" "$q8" --json >"$dir/q8.json"

python3 - "$dir" "$m" 2>&1 <<'PY' || fail "the JSON or pictures are wrong (above)"
import json, math, os, struct, sys, zlib
import xml.etree.ElementTree as ET
d, model = sys.argv[1], sys.argv[2]
def load(name):
    with open(os.path.join(d, name)) as f:
        return json.load(f)
def check(ok, what):
    if not ok:
        sys.exit("FAIL: " + what)

info = load("info.json")
check((info["architecture"], info["n_embd"], info["n_head"], info["n_head_kv"], info["head_dim"], info["n_ff"],
       info["n_layer"], info["n_vocab"]) == ("llama", 64, 8, 4, 8, 172, 5, 512), "info: stories260K's shape")
check(info["metadata"]["general.architecture"] == "llama", "info: general.architecture")
check(info["metadata"]["tokenizer.ggml.tokens"].endswith("... (512 items)]"), "info: long arrays summarized")
check(info["file_size"] == os.path.getsize(model), "info: file size")

t = load("tensors.json")
size = os.path.getsize(model)
check(t["file_size"] == size, "tensors: file size")
check(sum(x["bytes"] for x in t["tensors"]) == t["tensor_bytes"], "tensors: total of the tensors")
check(sum(x["bytes"] for x in t["types"]) == t["tensor_bytes"], "tensors: totals per type")
check(sum(x["parameters"] for x in t["types"]) == info["parameters"], "tensors: parameters per type")
ts = sorted(t["tensors"], key=lambda x: x["offset"])
gaps = [b["offset"] - (a["offset"] + a["bytes"]) for a, b in zip(ts, ts[1:])]
gaps.append(size - (ts[-1]["offset"] + ts[-1]["bytes"]))
check(all(0 <= g < 32 for g in gaps), "tensors: gaps are alignment padding")
check(ts[0]["offset"] == t["data_start"] and t["data_start"] % 32 == 0, "tensors: the data section's start")
check(t["data_start"] + t["tensor_bytes"] + sum(gaps) == size, "tensors: tensors and padding fill the data section")
for x in t["tensors"]:
    n = math.prod(x["shape"])
    check(x["bytes"] == 4 * n, "tensors: F32 bytes of " + x["name"])

toks = load("tokens.json")
with open(os.path.join(d, "ids.txt")) as f:
    ids = [int(v) for v in f.read().split()]
check([x["id"] for x in toks] == ids, "tokens: the ids llm-tokenize gives")
check(toks[0]["piece"] == "<s>", "tokens: BOS visible")

tr = load("trace.json")
check(len(tr["layers"]) == 5 and len(tr["steps"]) == 3, "trace: 5 layers, 3 steps")
lens, first = tr["layers"][-1]["lens"], tr["steps"][0]["candidates"]
check([x["id"] for x in lens] == [x["id"] for x in first], "trace: last layer's lens tokens are the output's")
check(all(abs(a["p"] - b["p"]) < 1e-6 for a, b in zip(lens, first)), "trace: last layer's lens probabilities")
check(tr["steps"][0]["chosen"]["id"] == first[0]["id"], "trace: greedy step")
n = len(toks)
for l in tr["layers"]:
    check(l["residual_norm"] > 0 and all(0 <= e <= math.log(n) + 1e-6 for e in l["entropy"]), "trace: entropies")

w = load("weights.json")
check(len(w["heads"]) == 8 and len(w["tokens"]) == n, "attention: 8 heads over n tokens")
for h in w["heads"]:
    for i, row in enumerate(h["weights"]):
        check(abs(sum(row) - 1) < 1e-5 and all(v == 0 for v in row[i + 1:]), "attention: rows sum to 1, causal")

def cells(path):
    root = ET.parse(path).getroot()
    return [e for e in root.iter("{http://www.w3.org/2000/svg}rect") if e.get("class") == "cell"]
check(len(cells(os.path.join(d, "one.svg"))) == n * n, "svg: n x n cells")
check(len(cells(os.path.join(d, "all.svg"))) == 8 * n * n, "svg: n x n cells for each of 8 heads")
check(load("one.json")["tokens"] == n, "attention --json: token count")

with open(os.path.join(d, "all.png"), "rb") as f:
    png = f.read()
check(png[:8] == b"\x89PNG\r\n\x1a\n", "png: signature")
p, chunks = 8, {}
while p < len(png):
    length, = struct.unpack(">I", png[p:p + 4])
    kind, data = png[p + 4:p + 8], png[p + 8:p + 8 + length]
    crc, = struct.unpack(">I", png[p + 8 + length:p + 12 + length])
    check(crc == zlib.crc32(kind + data), "png: CRC of " + kind.decode())
    chunks[kind] = data
    p += 12 + length
width, height, depth, ctype = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
check(depth == 8 and ctype == 2 and width > 0 and height > 0, "png: 8-bit RGB")
check(len(zlib.decompress(chunks[b"IDAT"])) == height * (1 + 3 * width), "png: scanlines of the IHDR's size")
check(b"IEND" in chunks, "png: IEND")

self = load("self.json")
check(len(self) == len(t["tensors"]) and all(x["max"] == 0 and x["relative"] == 0 for x in self), "diff: A vs A is 0")
q8 = load("q8.json")
for x in q8:
    quant = x["type_b"] == "Q8_0"
    check((0 < x["relative"] < 0.01) if quant else x["relative"] == 0, "diff: Q8_0 error of " + x["name"])
PY
echo "ok: info, tensors, tokens, trace, attention (SVG, PNG) and diff say what the file and the model hold"
