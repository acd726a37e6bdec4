// Page numbers for BENCHMARKS.md: the page's load time and the time from picking a series
// (range: one year) to its first plot, in Debian's headless chromium via playwright-core.
// Usage: node bench.mjs BASE_URL SERIES_MEASUREMENT [RUNS]
import { chromium } from "playwright-core";

const [base, measurement, runsArg] = process.argv.slice(2);
const runs = Number(runsArg || 5);
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const browser = await chromium.launch({ executablePath, args: ["--no-sandbox"] });
const load = [], plot = [];
let points = 0;
try {
  for (let i = 0; i < runs; i++) {
    // A fresh context each run: nothing cached.
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await ctx.newPage();
    await page.goto(base + "/", { waitUntil: "load" });
    load.push(await page.evaluate(() => performance.getEntriesByType("navigation")[0].loadEventEnd));
    await page.fill("#q-measurement", measurement);
    await page.click("#search button");
    await page.waitForSelector("#series-list li");
    await page.selectOption("#range", "31536000000");
    const t0 = await page.evaluate(() => performance.now());
    await page.click("#series-list li");
    await page.waitForFunction(() => window.clioChartData && window.clioChartData[0].length > 0
      && document.querySelector("#resolution").textContent.startsWith("trend buckets"));
    // The chart is drawn in the same task that publishes its data; one frame to paint.
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => r())));
    plot.push(await page.evaluate((t) => performance.now() - t, t0));
    points = await page.evaluate(() => window.clioChartData[0].length);
    await ctx.close();
  }
} finally {
  await browser.close();
}
const med = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
console.log(JSON.stringify({ ok: true, runs, load_ms: load.map(Math.round), plot_ms: plot.map(Math.round),
  load_median_ms: Math.round(med(load)), plot_median_ms: Math.round(med(plot)), plotted_buckets: points }));
