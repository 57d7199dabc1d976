/** @module The sign-in and signed-in pages: plain HTML forms, no script (the CSP allows none inline). The dashboard styles them. */
import { html } from "hono/html";

export function loginPage(o: { next: string; failed: boolean }) {
  return html`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>rota: sign in</title></head>
<body>
<main>
<h1>rota</h1>
${o.failed ? html`<p role="alert">That token is not right.</p>` : ""}
<form method="post" action="/login">
<input type="hidden" name="next" value="${o.next}">
<label for="token">API token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<button type="submit">Sign in</button>
</form>
<p>The token is the one in the daemon's <code>[http] token_file</code> (or <code>token_env</code>).</p>
</main>
</body>
</html>`;
}

export function homePage(o: { csrf: string }) {
  return html`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>rota</title></head>
<body>
<main>
<h1>rota</h1>
<ul>
<li><a href="/api/status">status</a></li>
<li><a href="/api/certs">certificates</a></li>
<li><a href="/api/renewals">renewals</a></li>
<li><a href="/api/openapi.json">API description (OpenAPI)</a></li>
</ul>
<form method="post" action="/logout"><input type="hidden" name="_csrf" value="${o.csrf}"><button type="submit">Sign out</button></form>
</main>
</body>
</html>`;
}
