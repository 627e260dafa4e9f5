// node check.mjs FILE[:TYPE,TYPE...]...
//
// Opens each GGUF FILE with Hugging Face's @huggingface/gguf, a parser that
// shares no code with libllm, and holds what it reads against FILE.json,
// libllm's own view of the file (gguf-json). Per file: the header parses;
// the version, every metadata key with its type and value, and every
// tensor's name, shape, type and offset agree; each tensor's bytes, sized
// from its shape with the block table below, lie inside the file, start on
// general.alignment and overlap no other tensor; the hyper-parameters a
// Llama-style model needs are present and the vocabulary has one token per
// embedding row. TYPEs, when given, must each appear among the tensors.
// Prints a line per file; exits 1 if any check fails.
import { readFileSync, statSync } from "node:fs";
import { basename } from "node:path";
import { gguf, GGMLQuantizationType, GGUFValueType } from "@huggingface/gguf";

// Elements and bytes per block, as the GGUF specification gives them.
const BLOCKS = {
	F32: [1, 4], F16: [1, 2], BF16: [1, 2], Q8_0: [32, 34], Q4_0: [32, 18],
	Q4_K: [256, 144], Q5_K: [256, 176], Q6_K: [256, 210],
};
const HPARAMS = ["context_length", "embedding_length", "block_count", "feed_forward_length",
	"attention.head_count", "attention.head_count_kv", "attention.layer_norm_rms_epsilon"];
const INTEGER = new Set([GGUFValueType.UINT8, GGUFValueType.INT8, GGUFValueType.UINT16,
	GGUFValueType.INT16, GGUFValueType.UINT32, GGUFValueType.INT32, GGUFValueType.UINT64,
	GGUFValueType.INT64]);

// True when the reader's value v equals gguf-json's c for GGUF type t.
function same(t, v, c) {
	if (INTEGER.has(t)) return String(v) === c;
	if (t === GGUFValueType.FLOAT32) return Math.fround(Number(c)) === v;
	if (t === GGUFValueType.FLOAT64) return Number(c) === v;
	return v === c;  // BOOL, STRING
}

function checkMetadata(fail, typed, ours) {
	const keys = Object.keys(typed).filter((k) => !["version", "tensor_count", "kv_count"].includes(k));
	const mine = Object.keys(ours.kv);
	if (String(typed.kv_count.value) !== String(mine.length) || keys.length !== mine.length)
		fail(`${keys.length} keys (kv_count ${typed.kv_count.value}), libllm has ${mine.length}`);
	for (const key of mine) {
		const r = typed[key], c = ours.kv[key];
		if (!r) { fail(`key ${key} missing`); continue; }
		if (r.type !== c.type) { fail(`key ${key}: type ${r.type}, libllm ${c.type}`); continue; }
		if (c.type !== GGUFValueType.ARRAY) {
			if (!same(c.type, r.value, c.value)) fail(`key ${key}: ${r.value}, libllm ${c.value}`);
		} else if (r.subType !== c.arr_type || r.value.length !== c.value.length) {
			fail(`key ${key}: array of ${r.value.length} type ${r.subType}, libllm ${c.value.length} type ${c.arr_type}`);
		} else {
			const i = c.value.findIndex((x, j) => !same(c.arr_type, r.value[j], x));
			if (i >= 0) fail(`key ${key}[${i}]: ${r.value[i]}, libllm ${c.value[i]}`);
		}
	}
}

// Bytes of a tensor of this shape and type, or a reason it has none.
function tensorBytes(shape, name) {
	const b = BLOCKS[name];
	if (!b) return `type ${name} is not one libllm writes`;
	if (shape[0] % BigInt(b[0]) !== 0n) return `rows of ${shape[0]} are not whole ${name} blocks`;
	return (shape.reduce((a, x) => a * x, 1n) / BigInt(b[0])) * BigInt(b[1]);
}

function checkTensors(fail, out, ours, fileSize) {
	const align = BigInt(out.metadata["general.alignment"] ?? 32);
	if (String(align) !== ours.alignment) fail(`alignment ${align}, libllm ${ours.alignment}`);
	if (String(out.tensorDataOffset) !== ours.data_offset)
		fail(`data section at ${out.tensorDataOffset}, libllm ${ours.data_offset}`);
	if (out.tensorInfos.length !== ours.tensors.length)
		fail(`${out.tensorInfos.length} tensors, libllm ${ours.tensors.length}`);
	const spans = [];
	out.tensorInfos.forEach((t, i) => {
		const c = ours.tensors[i] ?? {};
		const name = GGMLQuantizationType[t.dtype];
		const what = `tensor ${i} ${t.name}`;
		if (t.name !== c.name) fail(`${what}: libllm calls it ${c.name}`);
		if (t.shape.join() !== c.ne?.join()) fail(`${what}: shape [${t.shape}], libllm [${c.ne}]`);
		if (t.dtype !== c.type || name !== c.type_name) fail(`${what}: type ${name}, libllm ${c.type_name}`);
		if (String(t.offset) !== c.offset) fail(`${what}: offset ${t.offset}, libllm ${c.offset}`);
		const bytes = tensorBytes(t.shape, name);
		if (typeof bytes === "string") return fail(`${what}: ${bytes}`);
		if (String(bytes) !== c.nbytes) fail(`${what}: ${bytes} bytes, libllm ${c.nbytes}`);
		const start = out.tensorDataOffset + t.offset;
		if (start % align !== 0n) fail(`${what}: starts at ${start}, not aligned to ${align}`);
		if (start + bytes > fileSize) fail(`${what}: ends at ${start + bytes}, beyond the file (${fileSize})`);
		spans.push([start, start + bytes, t.name]);
	});
	spans.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
	for (let i = 1; i < spans.length; i++)
		if (spans[i][0] < spans[i - 1][1]) fail(`tensors ${spans[i - 1][2]} and ${spans[i][2]} overlap`);
}

function checkModel(fail, out) {
	const m = out.metadata, arch = m["general.architecture"];
	if (typeof arch !== "string") return fail("no general.architecture");
	for (const h of HPARAMS) if (m[`${arch}.${h}`] === undefined) fail(`no ${arch}.${h}`);
	const tokens = m["tokenizer.ggml.tokens"];
	const embd = out.tensorInfos.find((t) => t.name === "token_embd.weight");
	if (!Array.isArray(tokens) || tokens.length === 0) fail("no tokenizer.ggml.tokens");
	else if (!embd || String(embd.shape[1]) !== String(tokens.length))
		fail(`${tokens.length} tokens but token_embd.weight is [${embd?.shape}]`);
	return arch;
}

async function checkFile(arg) {
	const [, path, want] = arg.match(/^(.*?)(?::([A-Z0-9_,]+))?$/);
	const failures = [];
	const fail = (msg) => failures.push(msg);
	let summary = "";
	try {
		const ours = JSON.parse(readFileSync(`${path}.json`, "utf8"));
		const out = await gguf(path, { allowLocalFile: true, typedMetadata: true });
		if (out.metadata.version !== ours.version) fail(`version ${out.metadata.version}, libllm ${ours.version}`);
		checkMetadata(fail, out.typedMetadata, ours);
		checkTensors(fail, out, ours, BigInt(statSync(path).size));
		const arch = checkModel(fail, out);
		const count = {};
		for (const t of out.tensorInfos) count[GGMLQuantizationType[t.dtype]] = (count[GGMLQuantizationType[t.dtype]] ?? 0) + 1;
		for (const t of want ? want.split(",") : []) if (!count[t]) fail(`no ${t} tensor`);
		const types = Object.entries(count).map(([t, n]) => `${n} ${t}`).join(", ");
		summary = `${arch}, ${Object.keys(ours.kv).length} keys, ${out.tensorInfos.length} tensors (${types})`;
	} catch (e) {
		fail(`${e.message}`);
	}
	for (const f of failures) console.log(`FAIL: ${basename(path)}: ${f}`);
	if (!failures.length) console.log(`ok: ${basename(path)}: ${summary}`);
	return failures.length === 0;
}

let ok = true;
for (const arg of process.argv.slice(2)) ok = (await checkFile(arg)) && ok;
process.exit(ok ? 0 : 1);
