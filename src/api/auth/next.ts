/** @module Where a login may send the browser next: only a path on this site, never another origin, and a page rather than a form's action. */

/**
 * `next` when it is a same-site relative path (`/`, `/certs/www?x=1`), else `/`. Refused:
 * absolute URLs, scheme-relative `//host`, backslashes (browsers read `/\host` as
 * `//host`), control characters, and anything not starting with one `/`.
 */
export function safeNext(next: string | undefined): string {
  if (!next || next.length > 2048) return "/";
  if (!next.startsWith("/") || next.startsWith("//")) return "/";
  if (/[\\\u0000-\u001f\u007f]/.test(next)) return "/";
  try {
    // Resolving against a dummy origin catches what survives the checks above but leaves the origin.
    if (new URL(next, "http://rota.invalid").origin !== "http://rota.invalid") return "/";
  } catch {
    return "/";
  }
  return next;
}

/**
 * The page a form posting to `path` was on, where a login interrupted by an ended session
 * returns: the post's own path answers only POST (a GET there is a 404). The dashboard
 * puts each action one segment under its page: `/certs/www/renew` is posted from
 * `/certs/www`, `/logout` from any page (`/`).
 */
export function formPage(path: string): string {
  const cut = path.lastIndexOf("/");
  return cut <= 0 ? "/" : path.slice(0, cut);
}
