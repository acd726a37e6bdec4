// The page against a server with authentication on: the first call answers 401, the page
// asks for a token once (a browser prompt), keeps it, and every later call carries it.
// Usage: CLIO_TOKEN=... node auth.mjs BASE_URL ARTIFACT_DIR SERIES_MEASUREMENT
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";

const [base, artifacts, measurement] = process.argv.slice(2);
mkdirSync(artifacts, { recursive: true });
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const browser = await chromium.launch({ executablePath, args: ["--no-sandbox"] });
let prompts = 0;
try {
  const page = await browser.newPage();
  page.on("console", (m) => console.error("console", m.text()));
  page.on("pageerror", (e) => console.error("pageerror", String(e)));
  page.on("dialog", async (d) => {
    prompts += 1;
    await d.accept(process.env.CLIO_TOKEN);
  });
  await page.goto(base + "/");
  await page.fill("#q-measurement", measurement);
  await page.click("#search button");
  await page.waitForSelector("#series-list li", { timeout: 20000 });
  const items = await page.$$eval("#series-list li", (ls) => ls.map((l) => l.textContent));
  const stored = await page.evaluate(() => localStorage.getItem("clioToken"));
  await page.screenshot({ path: `${artifacts}/auth.png` });
  const ok = items.some((t) => t.startsWith(measurement)) && stored === process.env.CLIO_TOKEN && prompts === 1;
  console.log(JSON.stringify({ ok, prompts, items: items.length }));
  await browser.close();
  process.exit(ok ? 0 : 1);
} catch (e) {
  const pages = browser.contexts().flatMap((c) => c.pages());
  const shown = pages.length ? await pages[0].evaluate(() => document.getElementById("error")?.textContent) : "";
  console.error(String(e), "prompts:", prompts, "page error:", shown);
  await browser.close();
  process.exit(1);
}
