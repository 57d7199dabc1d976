/**
 * End to end in a real headless Chromium against the compiled binary, real pebble and
 * nginx: sign in with the token, the overview's rows, filter and sort with and without
 * script, Renew now watched live (nginx frozen holds the renewal open), the live
 * indicator across a daemon restart, axe-core on every page in light and dark, a
 * cross-site form refused, markup in user input shown as text, sign out. Screenshots
 * go to test-artifacts/. One daemon and one browser for the whole file.
 */
import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, startDaemon, waitFor, type Daemon } from "../harness/index.ts";
import { launchBrowser, newContext, screenshot, seriousAxeViolations, type Browser, type BrowserContext, type Page } from "../harness/browser.ts";
import { startWorld, type World } from "./fixture.ts";
import { audit, waitForRenewal } from "./helpers.ts";

// test/setup.ts's setDefaultTimeout reaches only the first file of a run (it is per file):
// a browser waiting on a real renewal needs more than bun's 5 s wherever this file falls.
setDefaultTimeout(120_000);

const TOKEN = `browser-${crypto.randomUUID()}`;
const ODD_CA = `pebble "<img src=x id=pwned onerror=alert(1)>" ü`;
let world: World;
let config: string;
let daemon: Daemon;
let origin: string;
let browser: Browser;
/** Signed in, script on, light and dark; and signed in with script off. */
let light: BrowserContext;
let dark: BrowserContext;
let noScript: BrowserContext;

interface CertJson {
  days_left: number | null;
  last_renewal: { id: string; status: string } | null;
  latest_issued: { serial: string } | null;
}

beforeAll(async () => {
  world = await startWorld();
  const port = await freePort();
  origin = `http://127.0.0.1:${port}`;
  writeFileSync(join(world.dir, "token"), TOKEN, { mode: 0o600 });
  config = world.writeConfig({
    // www's threshold beyond pebble's 90 days keeps it due, so Renew now renews it; api stays ok.
    certs: [
      { id: "www", domains: ["www.example.test", "example.test"], extra: "renew_threshold_days = 100" },
      { id: "api", domains: ["api.example.test"] },
    ],
    extra: [
      `\n[http]\nlisten = "127.0.0.1:${port}"\ntoken_file = ${JSON.stringify(join(world.dir, "token"))}`,
      // Backend names are free text: the third cert's CA is named with markup, quotes and unicode.
      `\n[[ca]]\nname = ${JSON.stringify(ODD_CA)}\ntype = "acme"\ndirectory_url = "${world.pebble.directoryUrl}"\nemail = "ops@example.test"\nca_bundle = ${JSON.stringify(world.pebble.caBundlePath)}`,
      `\n[[cert]]\nid = "odd"\ndomains = ["odd.example.test"]\nca = ${JSON.stringify(ODD_CA)}\ndcv = "web"\ninstall = "files"\nkey_path = ${JSON.stringify(join(world.stateDir, "keys", "odd.key"))}\n`,
    ].join("\n"),
  });
  daemon = startDaemon(config, { env: world.env });
  browser = await launchBrowser();
  await Promise.all(["www", "api", "odd"].map((id) => waitForRenewal(world.socket, id, (r) => r.status === "succeeded")));
  [light, dark, noScript] = await Promise.all([
    newContext(browser, { baseURL: origin }),
    newContext(browser, { baseURL: origin, colorScheme: "dark" }),
    newContext(browser, { baseURL: origin, javaScriptEnabled: false }),
  ]);
});

afterAll(async () => {
  await browser?.close();
  await daemon?.stop();
  await world?.stop();
});

async function api<T>(path: string): Promise<T> {
  const res = await fetch(`${origin}${path}`, { headers: { Authorization: `Bearer ${TOKEN}` } });
  if (!res.ok) throw new Error(`GET ${path}: ${res.status}`);
  return (await res.json()) as T;
}

async function signIn(ctx: BrowserContext): Promise<void> {
  const page = await ctx.newPage();
  await page.goto("/login");
  await page.getByLabel("API token").fill(TOKEN);
  await Promise.all([page.waitForURL(`${origin}/`), page.getByRole("button", { name: "Sign in" }).click()]);
  await page.close();
}

/** Marks the document: the mark survives htmx swaps and is gone after any navigation or reload. */
async function mark(page: Page): Promise<void> {
  await page.evaluate(() => {
    (window as unknown as { rotaTestMark: boolean }).rotaTestMark = true;
  });
}

async function stillMarked(page: Page): Promise<boolean> {
  return page.evaluate(() => (window as unknown as { rotaTestMark?: boolean }).rotaTestMark === true);
}

/** The cert ids in the overview's table, in order. */
function rowIds(page: Page): Promise<string[]> {
  return page.getByRole("table", { name: "Certificates" }).locator("tbody tr td:first-child a").allTextContents();
}

async function waitForRows(page: Page, want: string[]): Promise<void> {
  await waitFor(async () => JSON.stringify(await rowIds(page)) === JSON.stringify(want), 10_000, 50, `rows ${want.join(", ")}`);
}

/** The page's text without the separators a serial may be shown with, lower-cased. */
async function flatText(page: Page): Promise<string> {
  return (await page.locator("main").innerText()).toLowerCase().replace(/[:\s]/g, "");
}

test("signing in: a wrong token is refused, the right one leads back to the page asked for", async () => {
  const page = await light.newPage();
  await page.goto("/?sort=id");
  expect(new URL(page.url()).pathname).toBe("/login");
  expect(new URL(page.url()).searchParams.get("next")).toBe("/?sort=id");
  await page.getByLabel("API token").fill("not-the-token");
  await Promise.all([page.waitForURL(/\/login$/), page.getByRole("button", { name: "Sign in" }).click()]);
  await page.getByRole("alert").filter({ hasText: "That token is not right." }).waitFor();
  await page.goto("/login?next=%2F%3Fsort%3Did");
  await page.getByLabel("API token").fill(TOKEN);
  await Promise.all([page.waitForURL(`${origin}/?sort=id`), page.getByRole("button", { name: "Sign in" }).click()]);
  await page.getByRole("heading", { name: "Certificates" }).waitFor();
  expect(await page.evaluate(() => document.compatMode)).toBe("CSS1Compat");
  await page.close();
  await Promise.all([signIn(dark), signIn(noScript)]);
});

test("the overview lists each cert with its status and days left", async () => {
  const page = await light.newPage();
  await page.goto("/");
  expect(await rowIds(page)).toEqual(["www", "api", "odd"]);
  for (const [id, status] of [["www", "due"], ["api", "ok"]] as const) {
    const { days_left } = await api<CertJson>(`/api/certs/${id}`);
    expect(days_left).toBeGreaterThan(88);
    const row = page.getByRole("row").filter({ has: page.getByRole("link", { name: id, exact: true }) });
    const cells = await row.getByRole("cell").allInnerTexts();
    expect(cells[1]).toContain(status);
    expect(cells[2]).toBe(String(Math.floor(days_left!)));
  }
  // On a phone the page fits the width: only the table scrolls sideways, inside its frame.
  await page.setViewportSize({ width: 375, height: 740 });
  expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(375);
  await screenshot(page, "overview-phone-light");
  await page.close();
});

test("filter and sort with script: the table changes in place and the URL follows", async () => {
  const page = await light.newPage();
  await page.goto("/");
  await mark(page);
  await page.getByRole("searchbox", { name: "Search" }).fill("api");
  await waitForRows(page, ["api"]);
  expect(new URL(page.url()).searchParams.get("q")).toBe("api");
  await page.getByRole("searchbox", { name: "Search" }).fill("");
  await waitForRows(page, ["www", "api", "odd"]);
  await page.getByRole("combobox", { name: "Status" }).selectOption("due");
  await waitForRows(page, ["www"]);
  await page.getByRole("combobox", { name: "Status" }).selectOption("");
  await waitForRows(page, ["www", "api", "odd"]);
  await page.getByRole("link", { name: "Certificate", exact: true }).click();
  await waitFor(() => new URL(page.url()).searchParams.get("order") === "asc", 10_000, 50, "the URL to say order=asc");
  await waitForRows(page, ["api", "odd", "www"]);
  await page.getByRole("link", { name: "Certificate", exact: true }).click();
  await waitForRows(page, ["www", "odd", "api"]);
  expect(Object.fromEntries(new URL(page.url()).searchParams)).toEqual({ sort: "id", order: "desc" });
  expect(await stillMarked(page)).toBe(true);
  await page.close();
});

test("filter and sort without script: the form and the column links load pages", async () => {
  const page = await noScript.newPage();
  await page.goto("/");
  await page.getByRole("searchbox", { name: "Search" }).fill("api");
  await Promise.all([page.waitForURL(/\?q=api/), page.getByRole("button", { name: "Apply" }).click()]);
  expect(await rowIds(page)).toEqual(["api"]);
  await page.goto("/");
  await page.getByRole("combobox", { name: "Status" }).selectOption("due");
  await Promise.all([page.waitForURL(/status=due/), page.getByRole("button", { name: "Apply" }).click()]);
  expect(await rowIds(page)).toEqual(["www"]);
  await page.goto("/");
  await Promise.all([page.waitForURL(/order=asc/), page.getByRole("link", { name: "Certificate", exact: true }).click()]);
  expect(await rowIds(page)).toEqual(["api", "odd", "www"]);
  await Promise.all([page.waitForURL(/order=desc/), page.getByRole("link", { name: "Certificate", exact: true }).click()]);
  expect(await rowIds(page)).toEqual(["www", "odd", "api"]);
  await page.close();
});

test("markup in what a visitor sends, or in a CA's name, is shown as text", async () => {
  const dialogs: string[] = [];
  const watch = (page: Page) =>
    page.on("dialog", (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
  const page = await light.newPage();
  watch(page);
  // The search box holds the text verbatim; nothing matches it.
  const q = `"><img src=x id=pwned onerror=alert(1)>`;
  await page.goto(`/?q=${encodeURIComponent(q)}`);
  expect(await page.getByRole("searchbox", { name: "Search" }).inputValue()).toBe(q);
  await page.getByText("No certificate matches.").waitFor();
  // A refused filter is reported above the table, the page still whole.
  await page.goto(`/?status=${encodeURIComponent("<b id=bold>x</b>")}`);
  expect(await page.getByRole("alert").innerText()).toStartWith("status must be one or more of ok, due,");
  expect(await rowIds(page)).toEqual(["www", "api", "odd"]);
  // A CA name in the table: its text exactly.
  const odd = page.getByRole("row").filter({ has: page.getByRole("link", { name: "odd", exact: true }) });
  expect(await odd.getByRole("cell").nth(4).innerText()).toBe(ODD_CA);
  expect(await page.locator("#pwned, #bold").count()).toBe(0);
  // The login's `next` goes back into a hidden field.
  const guest = await newContext(browser, { baseURL: origin });
  const login = await guest.newPage();
  watch(login);
  const next = `/"><script id=evil>alert(2)</script>`;
  await login.goto(`/login?next=${encodeURIComponent(next)}`);
  expect(await login.locator('input[name="next"]').inputValue()).toBe(next);
  expect(await login.locator("#evil").count()).toBe(0);
  expect(dialogs).toEqual([]);
  await guest.close();
  await page.close();
});

test("a CA name with markup is text on the cert page", async () => {
  const page = await light.newPage();
  let dialogs = 0;
  page.on("dialog", (d) => {
    dialogs++;
    void d.dismiss();
  });
  await page.goto("/certs/odd");
  // The CA is shown with its type beside it: the name is in the text, as text.
  await page.getByRole("main").getByText(ODD_CA).first().waitFor();
  expect(await page.locator("#pwned").count()).toBe(0);
  expect(dialogs).toBe(0);
  await page.close();
});

test("a form posted from another site's page starts nothing", async () => {
  const before = (await audit(world.socket, "www")).length;
  // The attacker's page is not under our CSP: its own script submits the form at once.
  const evil = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: () =>
      new Response(
        `<!doctype html><form id="f" method="post" action="${origin}/api/certs/www/renew?force=1"><input name="_csrf" value="guess"></form><script>document.getElementById("f").submit()</script>`,
        { headers: { "Content-Type": "text/html" } },
      ),
  });
  try {
    const page = await light.newPage();
    const refused = page.waitForResponse((r) => r.url().startsWith(`${origin}/api/certs/www/renew`));
    await page.goto(`http://127.0.0.1:${evil.port}/`);
    const res = await refused;
    expect(res.status()).toBe(403);
    expect(res.request().headers().origin).toBe(`http://127.0.0.1:${evil.port}`);
    await page.close();
  } finally {
    await evil.stop(true);
  }
  const www = await api<CertJson>("/api/certs/www");
  expect(www.last_renewal?.status).toBe("succeeded");
  expect((await audit(world.socket, "www")).length).toBe(before);
});

test("Renew now, watched live: steps while nginx holds the renewal open, then success and the new serial, without a reload", async () => {
  const before = await api<CertJson>("/api/certs/www");
  const oldSerial = before.latest_issued!.serial.toLowerCase().replace(/:/g, "");
  await world.nginx.freeze();
  try {
    // One tab stays on the cert page, following it live; the other presses Renew now and is taken to the renewal.
    const certPage = await light.newPage();
    await certPage.goto("/certs/www");
    expect(await flatText(certPage)).toContain(oldSerial);
    await mark(certPage);
    const renewalPage = await light.newPage();
    await renewalPage.goto("/certs/www");
    await Promise.all([renewalPage.waitForURL(/\/renewals\//), renewalPage.getByRole("button", { name: "Renew now" }).click()]);
    const id = new URL(renewalPage.url()).pathname.split("/").at(-1)!;
    await mark(renewalPage);
    await renewalPage.getByText(/publish/i).first().waitFor();
    await screenshot(renewalPage, "renewal-running-light");
    // Pebble cannot reach the frozen nginx: the page shows steps of a renewal not yet ended.
    expect((await api<CertJson>("/api/certs/www")).last_renewal).toMatchObject({ id, status: "running" });
    // The cert page's history gains the running renewal by itself.
    await certPage.locator(`main a[href="/renewals/${id}"]`).first().waitFor();

    await world.nginx.thaw();
    // Ended: the last step is there and nothing reads "running" any more.
    await waitFor(
      async () => {
        const text = await renewalPage.locator("main").innerText();
        return /install/i.test(text) && /succeeded/i.test(text) && !/running/i.test(text);
      },
      60_000,
      50,
      "the renewal page to show the end",
    );
    const after = await api<CertJson>("/api/certs/www");
    expect(after.last_renewal).toMatchObject({ id, status: "succeeded" });
    const newSerial = after.latest_issued!.serial.toLowerCase().replace(/:/g, "");
    expect(newSerial).not.toBe(oldSerial);
    await waitFor(async () => (await flatText(certPage)).includes(newSerial), 15_000, 50, "the new serial on the cert page");
    expect(await stillMarked(certPage)).toBe(true);
    expect(await stillMarked(renewalPage)).toBe(true);
    await certPage.close();
    await renewalPage.close();
  } finally {
    await world.nginx.thaw();
  }
});

/** Every page of the dashboard, signed in; the renewal page shows www's latest renewal. */
const PAGES: Array<[string, () => Promise<string>]> = [
  ["overview", async () => "/"],
  ["cert", async () => "/certs/www"],
  ["renewal", async () => `/renewals/${(await api<CertJson>("/api/certs/www")).last_renewal!.id}`],
  ["audit", async () => "/audit"],
  ["status", async () => "/status"],
];

for (const [name, pathOf] of PAGES) {
  test(`axe-core finds nothing serious or critical on the ${name} page, light and dark; screenshots`, async () => {
    const path = await pathOf();
    const found: Record<string, unknown> = {};
    for (const [scheme, ctx] of [["light", light], ["dark", dark]] as const) {
      const page = await ctx.newPage();
      const res = await page.goto(path);
      expect(`${new URL(page.url()).pathname} ${res?.status()}`).toBe(`${path} 200`);
      await page.getByRole("main").waitFor();
      const v = await seriousAxeViolations(page);
      if (v.length > 0) found[scheme] = v;
      await screenshot(page, `${name}-${scheme}`);
      await page.close();
    }
    expect(found).toEqual({});
  });
}

test("axe-core finds nothing serious or critical on the sign-in page, light and dark", async () => {
  const found: Record<string, unknown> = {};
  for (const scheme of ["light", "dark"] as const) {
    const guest = await newContext(browser, { baseURL: origin, colorScheme: scheme });
    const page = await guest.newPage();
    await page.goto("/login");
    const v = await seriousAxeViolations(page);
    if (v.length > 0) found[scheme] = v;
    await screenshot(page, `login-${scheme}`);
    await guest.close();
  }
  expect(found).toEqual({});
});

test("the live indicator says reconnecting while the daemon restarts, then live again", async () => {
  const page = await light.newPage();
  await page.goto("/");
  await page.getByRole("status").filter({ hasText: /^live$/ }).waitFor();
  await mark(page);
  await daemon.stop();
  await page.getByRole("status").filter({ hasText: "reconnecting…" }).waitFor();
  daemon = startDaemon(config, { env: world.env });
  await page.getByRole("status").filter({ hasText: /^live$/ }).waitFor({ timeout: 60_000 });
  // Never a blank page: the table stayed while the daemon was away.
  expect(await rowIds(page)).toEqual(["www", "api", "odd"]);
  expect(await stillMarked(page)).toBe(true);
  await page.close();
});

test("a session ended elsewhere: the page keeps its content, says signed out with a way back, and stops retrying", async () => {
  const ctx = await newContext(browser, { baseURL: origin });
  await signIn(ctx);
  const page = await ctx.newPage();
  let sockets = 0;
  page.on("websocket", () => sockets++);
  await page.goto("/certs/www");
  await page.getByRole("status").filter({ hasText: /^live$/ }).waitFor();
  // Each live section with what it shows (a refresh may still change its words, not empty it).
  const sections = () => page.locator("[data-live]").evaluateAll((els) => els.map((el) => `${el.id}:${(el as HTMLElement).innerText.trim() !== ""}`));
  const before = await sections();
  expect(before.length).toBeGreaterThan(0);
  expect(before.every((s) => s.endsWith(":true"))).toBe(true);
  // Another tab signs out: the same session, so the open stream is closed with 4401.
  const csrf = (JSON.parse((await page.locator("body").getAttribute("hx-headers")) ?? "{}") as Record<string, string>)["X-CSRF-Token"]!;
  expect((await ctx.request.post("/logout", { headers: { "X-CSRF-Token": csrf, Origin: origin }, maxRedirects: 0 })).status()).toBe(303);
  const back = page.getByRole("status").getByRole("link", { name: "signed out — sign in again" });
  await back.waitFor();
  expect(await back.getAttribute("href")).toBe("/login?next=%2Fcerts%2Fwww");
  // A live refresh answered by the sign-in form (303) swaps nothing in.
  const answered = page.waitForResponse((r) => new URL(r.url()).pathname === "/login");
  await page.evaluate(() => (window as unknown as { htmx: { trigger(el: Element, name: string): void } }).htmx.trigger(document.querySelector("[data-live]")!, "live"));
  await answered;
  expect(await sections()).toEqual(before);
  expect(await page.locator("main").innerText()).toContain("www.example.test");
  expect(sockets).toBe(1);
  await page.close();

  // A page opened on a session that ends while its stream is down: the refused upgrade is
  // recognised (the API answers 401) and not retried; the refresh path keeps the content.
  await signIn(ctx);
  const second = await ctx.newPage();
  await second.goto("/");
  await second.getByRole("status").filter({ hasText: /^live$/ }).waitFor();
  await ctx.clearCookies();
  await daemon.stop();
  daemon = startDaemon(config, { env: world.env });
  await second.getByRole("status").getByRole("link", { name: "signed out — sign in again" }).waitFor({ timeout: 60_000 });
  expect(await rowIds(second)).toEqual(["www", "api", "odd"]);
  await ctx.close();
});

test("signing out ends the session", async () => {
  const page = await light.newPage();
  await page.goto("/");
  await Promise.all([page.waitForURL(/\/login$/), page.getByRole("button", { name: "Sign out" }).click()]);
  await page.goto("/");
  expect(new URL(page.url()).pathname).toBe("/login");
  await page.close();
});
