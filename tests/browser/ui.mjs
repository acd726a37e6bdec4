// Drives Debian's chromium (headless, through playwright-core) against a running clio:
// load the page, find a series, plot it, zoom, read a value from the chart's data,
// evaluate a function, open the status page, run a collector from it. Screenshots go to the artifacts directory.
// Usage: node ui.mjs BASE_URL ARTIFACT_DIR SERIES_MEASUREMENT
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";

const [base, artifacts, measurement] = process.argv.slice(2);
mkdirSync(artifacts, { recursive: true });
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const browser = await chromium.launch({ executablePath, args: ["--no-sandbox"] });
const fail = async (page, msg) => {
  await page.screenshot({ path: `${artifacts}/failure.png`, fullPage: true });
  console.error(msg);
  await browser.close();
  process.exit(1);
};
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(base + "/");
  await page.fill("#q-measurement", measurement);
  await page.click("#search button");
  await page.waitForSelector("#series-list li");
  const items = await page.$$eval("#series-list li", (ls) => ls.map((l) => l.textContent));
  if (!items.some((t) => t.startsWith(measurement))) await fail(page, "series not listed: " + items);
  await page.click("#series-list li");
  // One hour of raw points.
  await page.waitForFunction(() => window.clioChartData && window.clioChartData[0].length > 0);
  const raw = await page.evaluate(() => ({ n: window.clioChartData[0].length, last: window.clioChartData[1].at(-1), res: document.querySelector("#resolution").textContent }));
  if (!raw.res.startsWith("raw points")) await fail(page, "expected raw points: " + raw.res);
  if (raw.last !== 359) await fail(page, "last value read from the chart is " + raw.last + ", expected 359");
  await page.screenshot({ path: `${artifacts}/raw.png` });
  // Zoom: drag across the middle of the plot; fewer points remain.
  const over = await page.$(".u-over");
  const box = await over.boundingBox();
  await page.mouse.move(box.x + box.width * 0.4, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2, { steps: 5 });
  await page.mouse.up();
  await page.waitForFunction((n) => window.clioChartData[0].length < n && window.clioChartData[0].length > 0, raw.n);
  await page.screenshot({ path: `${artifacts}/zoomed.png` });
  // A year: trend buckets with a min/max band.
  await page.click("#reset");
  await page.selectOption("#range", "31536000000");
  await page.waitForFunction(() => document.querySelector("#resolution").textContent.startsWith("trend buckets"));
  await page.screenshot({ path: `${artifacts}/trends.png` });
  // A history function.
  await page.selectOption("#fn-name", "avg");
  await page.fill("#fn-args", "#10");
  await page.click("#fn-run");
  await page.waitForFunction(() => document.querySelector("#fn-out").textContent.startsWith("="));
  const fn = await page.textContent("#fn-out");
  if (fn !== "= 354.5") await fail(page, "avg(#10) shows " + fn);
  // Status.
  await page.click('a[data-view="status"]');
  await page.waitForFunction(() => document.querySelector("#st-storage table"));
  // Alerts: the test's rule over the series fires (avg of the 10 newest > 100).
  await page.waitForFunction(() => document.querySelector("#alerts-active"));
  const alerts = await page.$$eval("#alerts-active tr", (rs) => rs.slice(1).map((r) => Array.from(r.cells).map((c) => c.textContent)));
  if (!alerts.some((r) => r[0] === "firing" && r[1] === "kiln-hot")) await fail(page, "no firing alert listed: " + JSON.stringify(alerts));
  const header = await page.textContent("#health");
  if (!header.includes("firing")) await fail(page, "header does not mention the firing alert: " + header);
  // Collectors: the demo simulator is listed; "Run now" runs it and reports the run.
  await page.waitForSelector('#collectors-table tr[data-collector="demo"]');
  const demo = await page.$$eval('#collectors-table tr[data-collector="demo"] td', (cs) => cs.map((c) => c.textContent));
  if (demo[1] !== "simulator" || !demo[2].includes("5000")) await fail(page, "collector row: " + JSON.stringify(demo));
  await page.click('#collectors-table tr[data-collector="demo"] button.run-now');
  await page.waitForFunction(() => document.querySelector("#collector-run").textContent.startsWith("demo: ok, 26 points"));
  await page.waitForFunction(() => {
    const cells = document.querySelectorAll('#collectors-table tr[data-collector="demo"] td');
    return cells.length > 5 && Number(cells[5].textContent) >= 26 && cells[4].textContent === "ok";
  });
  await page.screenshot({ path: `${artifacts}/status.png`, fullPage: true });
  if (errors.length) await fail(page, "page errors: " + errors.join("; "));
  console.log(JSON.stringify({ ok: true, raw_points: raw.n, fn, alerts: alerts.length }));
} finally {
  await browser.close();
}
