/** @module The page shell every dashboard page shares: head, navigation, the live indicator. */
import { raw } from "hono/html";
import type { Child } from "hono/jsx";
import { ASSETS } from "./assets.ts";

export type Section = "overview" | "audit" | "status" | null;

export interface LayoutProps {
  title: string;
  /** The session's CSRF token: htmx sends it on every request it makes (`hx-headers`), forms carry it as `_csrf`. */
  csrf: string;
  section: Section;
  /** Follow only this cert's events (a cert or renewal page); unset: every cert. */
  liveCert?: string;
  children?: Child;
}

/** Without it browsers lay the pages out in quirks mode (forms grow margins, tables drop the font). */
const DOCTYPE = raw("<!DOCTYPE html>");

/** htmx's own settings: no injected <style> (the CSP allows none inline) and no eval. */
const HTMX_CONFIG = JSON.stringify({ includeIndicatorStyles: false, allowEval: false, allowScriptTags: false, historyCacheSize: 0 });

const NAV: { section: Exclude<Section, null>; href: string; label: string }[] = [
  { section: "overview", href: "/", label: "Certificates" },
  { section: "audit", href: "/audit", label: "Audit" },
  { section: "status", href: "/status", label: "Status" },
];

/** The document's head: the stylesheet always, the scripts on pages that use them. */
function Head(p: { title: string; scripts: boolean }) {
  return (
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      {p.scripts ? <meta name="htmx-config" content={HTMX_CONFIG} /> : null}
      <title>{`${p.title} · rota`}</title>
      <link rel="stylesheet" href={ASSETS.style.path} />
      {p.scripts ? <script src={ASSETS.htmx.path} defer></script> : null}
      {p.scripts ? <script src={ASSETS.live.path} defer></script> : null}
    </head>
  );
}

export function Layout(p: LayoutProps) {
  return (
    <>
      {DOCTYPE}
      <html lang="en">
        <Head title={p.title} scripts={true} />
        <body hx-headers={JSON.stringify({ "X-CSRF-Token": p.csrf })} data-live-cert={p.liveCert}>
          <a class="skip" href="#main">
            Skip to content
          </a>
          <header class="top">
            <a class="brand" href="/">
              rota
            </a>
            <nav aria-label="Main">
              <ul>
                {NAV.map((n) => (
                  <li>
                    <a href={n.href} aria-current={n.section === p.section ? "page" : undefined}>
                      {n.label}
                    </a>
                  </li>
                ))}
              </ul>
            </nav>
            <div class="right">
              <span id="live" role="status" aria-live="polite" data-state="offline"></span>
              <form method="post" action="/logout">
                <input type="hidden" name="_csrf" value={p.csrf} />
                <button type="submit" class="link">
                  Sign out
                </button>
              </form>
            </div>
          </header>
          <main id="main">{p.children}</main>
        </body>
      </html>
    </>
  );
}

/** The sign-in page: outside the layout (no navigation, no session yet). */
export function LoginPage(p: { next: string; failed: boolean }) {
  return (
    <>
      {DOCTYPE}
      <html lang="en">
        <Head title="Sign in" scripts={false} />
        <body>
          <main id="main" class="login">
            <div class="panel">
              <h1>rota</h1>
              {p.failed ? (
                <p class="error-box" role="alert">
                  That token is not right.
                </p>
              ) : null}
              <form method="post" action="/login">
                <input type="hidden" name="next" value={p.next} />
                <label for="token">API token</label>
                <input id="token" name="token" type="password" autocomplete="current-password" required autofocus />
                <button type="submit">Sign in</button>
              </form>
              <p class="muted">
                The token is the one in the daemon's <code>[http] token_file</code> (or <code>token_env</code>).
              </p>
            </div>
          </main>
        </body>
      </html>
    </>
  );
}
