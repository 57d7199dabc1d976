/**
 * @module The dashboard's static files, embedded in the binary: htmx, our live-update
 * script and our stylesheet. Each is served under a name carrying a hash of its content
 * (`/assets/style.3f2a9c1b0d.css`), so browsers may keep it for a year and a new build is
 * fetched at once. Nothing comes from a CDN.
 */
import htmx from "htmx.org/dist/htmx.min.js" with { type: "text" };
import live from "./assets/live.js" with { type: "text" };
import style from "./assets/style.css" with { type: "text" };

/** The htmx release we pin: 2.0 is the line in wide use; 4.0 (npm's "latest") changed its request and extension model. */
export const HTMX_VERSION = "2.0.11";

export interface Asset {
  path: string;
  body: string;
  type: string;
}

function asset(stem: string, ext: string, body: string, type: string): Asset {
  const hash = new Bun.CryptoHasher("sha256").update(body).digest("hex").slice(0, 10);
  return { path: `/assets/${stem}.${hash}.${ext}`, body, type };
}

export const ASSETS = {
  htmx: asset(`htmx-${HTMX_VERSION}`, "js", htmx, "text/javascript; charset=utf-8"),
  live: asset("live", "js", live, "text/javascript; charset=utf-8"),
  style: asset("style", "css", style, "text/css; charset=utf-8"),
} as const;

const byPath = new Map(Object.values(ASSETS).map((a) => [a.path, a]));

export function assetAt(path: string): Asset | undefined {
  return byPath.get(path);
}
