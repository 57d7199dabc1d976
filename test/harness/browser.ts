/**
 * @module A real headless Chromium (Debian's `chromium`, driven by playwright-core) for the
 * dashboard's browser tests: one browser per test file, contexts per colour scheme or with
 * script off, screenshots into the git-ignored `test-artifacts/`, and axe-core run in the page.
 */
import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";

export type { Browser, BrowserContext, Page } from "playwright-core";

export const CHROMIUM_PATH = "/usr/bin/chromium";
export const ARTIFACTS_DIR = resolve(import.meta.dir, "..", "..", "test-artifacts");

/**
 * Launches the system Chromium: `playwright install` cannot download its own builds here.
 * The flags keep it from calling home (updates, sync, safe browsing): tests talk to loopback only.
 */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"],
  });
}

export interface ContextOptions {
  baseURL: string;
  colorScheme?: "light" | "dark";
  javaScriptEnabled?: boolean;
}

/** A fresh profile (no cookies) at a desktop size, times in a fixed locale and zone so screenshots compare. */
export async function newContext(browser: Browser, o: ContextOptions): Promise<BrowserContext> {
  const ctx = await browser.newContext({
    baseURL: o.baseURL,
    colorScheme: o.colorScheme ?? "light",
    javaScriptEnabled: o.javaScriptEnabled ?? true,
    viewport: { width: 1280, height: 800 },
    locale: "en-GB",
    timezoneId: "UTC",
  });
  // Playwright's 30 s default outlasts what any page here needs; fail sooner, with the call log.
  ctx.setDefaultTimeout(15_000);
  return ctx;
}

/** Saves a full-page PNG as `test-artifacts/<name>.png` and returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  const path = join(ARTIFACTS_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  /** Selectors of the offending nodes, with axe's summary of each. */
  nodes: string[];
}

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

/**
 * Runs axe-core in the page and returns its violations of impact "serious" or "critical".
 * Evaluated through the DevTools protocol, which the page's CSP (no inline script) does not govern.
 */
export async function seriousAxeViolations(page: Page): Promise<AxeViolation[]> {
  await page.evaluate(AXE_SOURCE);
  const found = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run(ctx: Document, opts: object): Promise<{ violations: Array<{ id: string; impact: string | null; help: string; nodes: Array<{ target: unknown[]; failureSummary?: string }> }> }> } }).axe;
    const r = await axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => `${n.target.join(" ")}: ${n.failureSummary ?? ""}`) }));
  });
  return found.filter((v) => v.impact === "serious" || v.impact === "critical");
}
