// Drives apijongler serve's dashboard in Debian's Chromium with
// playwright-core, as cmd/apijongler's TestDashboardBrowser asks: prints
// "ok NAME" for each check passed and exits 1 at the first failure.
// Env: SERVE_URL, TOKEN, CONNECTOR, GEN_PATH (a generate request's path
// under the connector), SECRETS (key values, comma-separated), SCREENSHOT
// (where to save the page), CHROMIUM (default /usr/bin/chromium).
import { chromium } from "playwright-core";

const env = (n) => {
  const v = process.env[n];
  if (!v) throw new Error(`$${n} is not set`);
  return v;
};
const base = env("SERVE_URL");
const token = env("TOKEN");
const connector = env("CONNECTOR");
const genPath = env("GEN_PATH");
const secrets = env("SECRETS").split(",");
const shot = env("SCREENSHOT");

function check(cond, name, detail) {
  if (!cond) throw new Error(`${name}: ${detail === undefined ? "failed" : detail}`);
  console.log("ok " + name);
}

// generate sends one request through the proxy, as a client would.
async function generate() {
  const r = await fetch(base + "/" + connector + genPath, {
    method: "POST",
    headers: { "x-goog-api-key": token, "Content-Type": "application/json" },
    body: JSON.stringify({ contents: [{ role: "user", parts: [{ text: "Hello" }] }] }),
  });
  await r.arrayBuffer();
  return r.status;
}

async function statusOf(key) {
  const r = await fetch(base + "/status", { headers: { Authorization: "Bearer " + token } });
  const rows = await r.json();
  return rows.find((k) => k.connector === connector && k.key === key);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});
let failed = false;
try {
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();
  const problems = [];
  page.on("console", (m) => { if (m.type() === "error" && !/401/.test(m.text())) problems.push(m.text()); });
  page.on("pageerror", (e) => problems.push(String(e)));
  const urls = [];
  page.on("request", (r) => urls.push(r.url()));
  const bodies = [];
  page.on("response", async (r) => {
    try { bodies.push({ url: r.url(), status: r.status(), text: await r.text() }); } catch (e) { /* redirects have none */ }
  });

  const first = await page.goto(base + "/ui/");
  const h = first.headers();
  check(first.status() === 200, "page served", first.status());
  check(/default-src 'self'/.test(h["content-security-policy"] || "") && /frame-ancestors 'none'/.test(h["content-security-policy"]),
    "strict CSP", h["content-security-policy"]);
  check(h["x-frame-options"] === "DENY", "X-Frame-Options DENY", h["x-frame-options"]);

  // Before the token: the form, no key data.
  await page.waitForSelector('input[name="token"]', { state: "visible" });
  check(await page.locator("[data-key]").count() === 0, "no key data before the token");
  check(await page.getByLabel("Proxy token").count() === 1, "the token field is labelled");

  // Without the token the page's data calls get 401.
  const without = await page.evaluate(async () => {
    const a = await fetch("/admin/dashboard");
    const b = await fetch("/admin/keys/reset", { method: "POST", headers: { "Content-Type": "application/json" }, body: '{"connector":"x","key":"y"}' });
    return [a.status, b.status, (await a.json()).error || ""];
  });
  check(without[0] === 401 && without[1] === 401 && without[2] !== "", "401 JSON without the token", JSON.stringify(without));

  // A wrong token is refused, and the form says so.
  await page.fill('input[name="token"]', "wrong-token-0000000000");
  await page.press('input[name="token"]', "Enter");
  await page.waitForSelector("#login-error:has-text('refused')");
  check(true, "a wrong token is refused");

  // The token, given by keyboard in the form.
  await page.focus('input[name="token"]');
  await page.keyboard.type(token);
  await page.keyboard.press("Enter");
  await page.waitForSelector(`[data-connector="${connector}"][data-key]`);
  const keys = await page.locator(`li[data-connector="${connector}"][data-key]`).evaluateAll((els) => els.map((e) => [e.dataset.key, e.dataset.state]));
  check(keys.length === secrets.length && keys.every(([, s]) => ["VACANT", "LOCKED", "LOCKDOWN", "ERROR"].includes(s)),
    "every key shown with its state", JSON.stringify(keys));
  check(await page.evaluate(() => sessionStorage.getItem("apijongler.token")) === token, "the token is kept in sessionStorage");
  await page.evaluate(() => { window.notReloaded = true; });

  // A key cools down by requests; the page shows it without a reload.
  const statuses = [];
  for (let i = 0; i < secrets.length + 1; i++) statuses.push(await generate());
  check(statuses.filter((s) => s === 200).length === secrets.length, "requests served through the proxy", statuses.join(" "));
  const cooling = page.locator(`li[data-connector="${connector}"][data-state="LOCKDOWN"]`).first();
  await cooling.waitFor({ timeout: 4000 });
  check(await page.evaluate(() => window.notReloaded === true), "the page changed without a reload");
  const coolKey = await cooling.getAttribute("data-key");
  const cd1 = await cooling.locator(".countdown").textContent();
  check(/^back in (\d+s|\d+m \d+s)$/.test(cd1), "a cooling key's countdown", cd1);
  check((await cooling.locator(".reason").textContent()).length > 0, "a cooling key's reason");
  await page.waitForTimeout(2100);
  const cd2 = await cooling.locator(".countdown").textContent();
  const secs = (t) => { const m = /(?:(\d+)m )?(\d+)s/.exec(t); return Number(m[1] || 0) * 60 + Number(m[2]); };
  check(secs(cd2) < secs(cd1), "the countdown runs", `${cd1} then ${cd2}`);
  const req = Number(await page.locator(`section[data-connector="${connector}"] .n-req`).textContent());
  const abs = Number(await page.locator(`section[data-connector="${connector}"] .n-abs`).textContent());
  const pass = Number(await page.locator(`section[data-connector="${connector}"] .n-pass`).textContent());
  check(req === statuses.length && pass === statuses.filter((s) => s === 429).length && abs + pass >= 1,
    "the last hour's requests and 429s", `requests ${req}, absorbed ${abs}, passed on ${pass}, answers ${statuses}`);
  check(await page.locator(`section[data-connector="${connector}"] svg.chart rect`).count() > 0, "the chart draws the hour");
  const budget = await page.locator(`section[data-connector="${connector}"] .budget-list li`).first().textContent();
  check(/ 1\/1 this minute/.test(budget), "a learned quota's use, used vs. limit", budget);
  const client = await page.locator('#clients li[data-client="token"]').textContent();
  check(new RegExp(`^token: ${statuses.length} this minute, ${statuses.length} today`).test(client), "the client's requests, by name", client);

  // Reset the cooling key by clicking (and confirming).
  page.once("dialog", (d) => d.accept());
  await cooling.locator('[data-action="reset"]').click();
  const resetKey = page.locator(`li[data-connector="${connector}"][data-key="${coolKey}"]`);
  await page.waitForFunction(([c, k]) => document.querySelector(`li[data-connector="${c}"][data-key="${k}"]`).dataset.state === "VACANT", [connector, coolKey], { timeout: 4000 });
  check((await statusOf(coolKey)).state === "VACANT", "reset shows in the page and in /status", coolKey);

  // Disable a key for maintenance, then enable it.
  await resetKey.locator("select").selectOption("1h");
  await resetKey.locator('[data-action="disable"]').click();
  await page.waitForFunction(([c, k]) => document.querySelector(`li[data-connector="${c}"][data-key="${k}"]`).dataset.state === "LOCKDOWN", [connector, coolKey], { timeout: 4000 });
  const held = await statusOf(coolKey);
  check(held.state === "LOCKDOWN" && /^disabled for maintenance/.test(held.reason), "disable shows in /status", JSON.stringify(held));
  check(/^back at \d/.test(await resetKey.locator(".countdown").textContent()),
    "a long hold shows its end", await resetKey.locator(".countdown").textContent());
  await resetKey.locator('[data-action="enable"]').focus();
  await page.keyboard.press("Enter");
  await page.waitForFunction(([c, k]) => document.querySelector(`li[data-connector="${c}"][data-key="${k}"]`).dataset.state === "VACANT", [connector, coolKey], { timeout: 4000 });
  check((await statusOf(coolKey)).state === "VACANT", "enable by keyboard");

  // Every button has a name for screen readers.
  const unnamed = await page.locator("button:visible").evaluateAll((bs) => bs.filter((b) => !(b.getAttribute("aria-label") || b.textContent.trim())).length);
  check(unnamed === 0, "every button is labelled", unnamed);

  await page.waitForTimeout(1200); // one more poll: the page as it stands
  await page.screenshot({ path: shot, fullPage: true });
  check(true, "screenshot saved");

  // Dark mode and a phone's width.
  const light = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  await page.emulateMedia({ colorScheme: "dark" });
  const dark = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  check(light !== dark, "a dark mode", `${light} / ${dark}`);
  await page.setViewportSize({ width: 360, height: 740 });
  await page.waitForTimeout(1200);
  const wide = await page.evaluate(() => document.documentElement.scrollWidth);
  const over = await page.evaluate(() => [...document.querySelectorAll("body *")].filter((e) => e.getBoundingClientRect().right > 361 || (e.scrollWidth > e.clientWidth + 1 && e.clientWidth > 0))
    .slice(0, 5).map((e) => e.tagName + "." + e.className + " " + Math.round(e.getBoundingClientRect().right)).join(", ") +
    " text: " + (() => { const w = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT); const out = []; let n;
      while ((n = w.nextNode())) { const r = document.createRange(); r.selectNodeContents(n); const b = r.getBoundingClientRect(); if (b.right > 361) out.push(n.parentElement.className + ":" + n.textContent.slice(0, 40) + ":" + Math.round(b.right)); }
      return out.join(" | "); })());
  check(wide <= 360, "fits a phone's width", `${wide}: ${over} inner ${await page.evaluate(() => window.innerWidth + " body " + document.body.scrollWidth)}`);

  // Nothing the page received holds a key value or the token; the token
  // was never in a URL; no CSP or script error.
  await page.waitForTimeout(300);
  const leaks = bodies.filter((b) => secrets.some((s) => b.text.includes(s)) || b.text.includes(token)).map((b) => b.url);
  check(bodies.length > 5 && leaks.length === 0, "no key value or token in what the page received", leaks.join(" "));
  check(!urls.some((u) => u.includes(token)), "the token never in a URL");
  check(problems.length === 0, "no script or CSP error", problems.join(" | "));
} catch (e) {
  console.log("FAIL " + e.message);
  failed = true;
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
