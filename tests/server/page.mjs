// node page.mjs LLM_SERVER MODELS_DIR OUT_DIR   (CHROMIUM: the browser)
//
// The chat page at / in headless Chromium (the system's, driven by
// playwright-core): type a message, see the reply shown delta by delta as
// it streams, and no request leave for anywhere but the server (the page
// must work offline). Saves OUT_DIR/server-page.png.
import { chromium } from "playwright-core";
import { join } from "node:path";
import { check, startServer, testModel } from "./common.mjs";

const [serverExe, modelsDir, outDir] = process.argv.slice(2);
const srv = await startServer(serverExe, ["-m", testModel(modelsDir), "--chat-template", "chatml"]);
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM, args: ["--no-sandbox"] });
try {
	const page = await browser.newPage();
	const foreign = [];
	page.on("request", (r) => { if (!r.url().startsWith(srv.url + "/")) foreign.push(r.url()); });
	const errors = [];
	page.on("pageerror", (e) => errors.push(e.message));
	await page.goto(srv.url + "/");
	await page.waitForFunction(() => document.getElementById("model").textContent === "stories260K.gguf");
	// Counts the changes to the reply's text (one per delta the page shows,
	// however many of them the browser reads at once).
	await page.evaluate(() => {
		window.updates = 0;
		new MutationObserver((records) => (window.updates += records.length)).observe(document.getElementById("log"),
			{ subtree: true, childList: true, characterData: true });
	});
	await page.fill("#text", "Tell me a story");
	await page.press("#text", "Enter");
	await page.waitForSelector(".assistant[data-done='1']", { timeout: 30000 });
	const reply = await page.textContent(".assistant");
	const updates = await page.evaluate(() => window.updates);
	await page.screenshot({ path: join(outDir, "server-page.png") });
	check(await page.textContent(".user") === "Tell me a story", "the message is not shown");
	check(reply.length > 10, `the reply is ${JSON.stringify(reply)}`);
	check(updates > 5, `the reply arrived in ${updates} updates, not streamed`);
	check(!foreign.length, "the page asked for " + foreign.join(", "));
	check(!errors.length, "the page raised " + errors.join("; "));
	console.log(`page: a ${reply.length}-character reply in ${updates} updates; ${join(outDir, "server-page.png")}`);
} finally {
	await browser.close();
}
await srv.stop();
