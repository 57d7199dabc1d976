/** @module The cert page rendered to a string: every value from config, store or CA escaped, the empty states, the badges and the live regions. */
import { describe, expect, test } from "bun:test";
import type { CertDetailJson } from "../../api/json.ts";
import type { Renewal } from "../../store/types.ts";
import { CertPage, type CertPageData } from "./cert.tsx";

const NOW = new Date("2030-01-01T00:00:00Z");
const EVIL = `<script>alert("x")</script>'&`;

function detail(over: Partial<CertDetailJson> = {}): CertDetailJson {
  return {
    id: "www",
    domains: ["www.example.com", "xn--bcher-kva.example"],
    domains_unicode: ["www.example.com", "bücher.example"],
    status: "ok",
    not_after: "2030-03-01T00:00:00.000Z",
    days_left: 59,
    renew_at: "2030-01-30T00:00:00.000Z",
    renew_reason: "lifetime",
    ari_window: null,
    next_check: "2030-01-01T01:00:00.000Z",
    retry_at: null,
    due_since: null,
    last_renewal: null,
    look_error: null,
    ca: "le",
    dcv: "web",
    install: ["files"],
    key_type: "ecdsa-p256",
    lifetime_days: 90,
    profile: null,
    renew_threshold_days: 30,
    renew_threshold_source: "daemon",
    ari: null,
    reason: "ok: 59.00 days left, renew at 2030-01-30T00:00:00.000Z (lifetime rule)",
    authz_failures: 0,
    halted_at: null,
    latest_issued: { serial: "0abc", not_before: "2029-12-01T00:00:00.000Z", not_after: "2030-03-01T00:00:00.000Z", issued_at: "2029-12-01T00:00:00.000Z" },
    targets: [{ name: "files", type: "filesystem", serial: "0abc", not_after: "2030-03-01T00:00:00.000Z", matches_latest: true, error: null }],
    ...over,
  };
}

function renewal(id: string, over: Partial<Renewal> = {}): Renewal {
  return {
    id,
    certId: "www",
    trigger: "scheduled",
    installOnly: false,
    reason: "due: 29.00 days left, threshold 30 (default)",
    status: "succeeded",
    startedAt: new Date("2029-12-01T00:00:00Z"),
    finishedAt: new Date("2029-12-01T00:00:04.200Z"),
    error: null,
    node: null,
    events: [],
    ...over,
  };
}

function data(over: Partial<CertPageData> = {}): CertPageData {
  return {
    detail: detail(),
    caType: "acme",
    dcvType: "webroot",
    issued: {
      serial: "0abc",
      subject: "CN=www.example.com",
      issuer: "C=US, O=Let's Encrypt, CN=R11",
      notBefore: new Date("2029-12-01T00:00:00Z"),
      notAfter: new Date("2030-03-01T00:00:00Z"),
      sha256: "AB:CD",
      chain: ["C=US, O=Let's Encrypt, CN=R11"],
      issuedAt: new Date("2029-12-01T00:00:00Z"),
    },
    issuedError: null,
    installedSerial: "0abc",
    state: null,
    history: [renewal("r2"), renewal("r1", { status: "failed", error: "acme: boom", finishedAt: new Date("2029-12-01T00:01:00Z") })],
    older: null,
    paged: false,
    historyError: null,
    refusal: null,
    cluster: null,
    now: NOW,
    self: "/certs/www",
    ...over,
  };
}

const render = (d: CertPageData) => (<CertPage d={d} csrf="tok&en" />).toString() as string;

describe("escaping", () => {
  test("markup in names, reasons, errors, issuer and target names renders as text", () => {
    const html = render(
      data({
        detail: detail({
          domains: [`${EVIL}.example`],
          domains_unicode: [`${EVIL}.example`],
          status: "cooldown",
          reason: EVIL,
          retry_at: "2030-01-01T00:15:00.000Z",
          targets: [{ name: EVIL, type: EVIL, serial: null, not_after: null, matches_latest: false, error: `damaged: ${EVIL}` }],
        }),
        caType: EVIL,
        state: { certId: "www", consecutiveFailures: 2, retryAt: new Date("2030-01-01T00:15:00Z"), lastError: EVIL, authzFailures: 0, haltedAt: null },
        issued: { ...data().issued!, issuer: EVIL, chain: [EVIL] },
        history: [renewal("r1", { status: "failed", error: EVIL, trigger: "manual" })],
        refusal: "not_due",
      }),
    );
    expect(html).not.toContain("<script>alert");
    expect(html).toContain("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;&amp;");
    // The CSRF token is an attribute value, escaped like any other.
    expect(html).toContain('name="_csrf" value="tok&amp;en"');
  });

  test("a unicode name shows both forms", () => {
    const html = render(data());
    expect(html).toContain("bücher.example");
    expect(html).toContain("(xn--bcher-kva.example)");
  });

  test("a cert id with quotes and markup stays inside its attributes and text", () => {
    const id = `a"b<c>`;
    const html = render(data({ detail: detail({ id }), self: `/certs/${encodeURIComponent(id)}` }));
    expect(html).toContain('data-live-cert="a&quot;b&lt;c&gt;"');
    expect(html).toContain('action="/certs/a%22b%3Cc%3E/renew"');
    expect(html).toContain("<h1>a&quot;b&lt;c&gt;</h1>");
    expect(html).not.toContain("<c>");
  });
});

describe("nothing issued", () => {
  const none = { latest_issued: null, not_after: null, days_left: null } as const;
  test("in a cooldown: when it is tried next and that Force overrides, not 'Press Renew now' (refused in a cooldown)", () => {
    const html = render(data({ detail: detail({ ...none, status: "cooldown", retry_at: "2030-01-01T06:00:00.000Z" }), issued: null, installedSerial: null }));
    expect(html).toContain('Nothing issued yet: the last attempt failed, and the next is tried <time datetime="2030-01-01T06:00:00.000Z"');
    expect(html).toContain("Force renewal tries now.");
    expect(html).not.toContain("Press Renew now");
  });

  test("halted: fix the DCV, then force", () => {
    expect(render(data({ detail: detail({ ...none, status: "halted" }), issued: null, installedSerial: null }))).toContain("Nothing issued yet: halted after authorization failures. Fix its DCV, then Force renewal.");
  });
});

describe("the PEM download", () => {
  test("offered when a target is known to hold a certificate", () => {
    expect(render(data())).toContain('id="download-pem" href="/api/certs/www/pem"');
  });

  test("issued but on no target (its install failed): no link that would fetch a 404, and why", () => {
    const html = render(data({ installedSerial: null }));
    expect(html).not.toContain('id="download-pem"');
    expect(html).toContain("No download yet: no target is known to hold the issued certificate (its install has not succeeded).");
  });
});

describe("empty states", () => {
  test("nothing issued yet, no renewals yet, no download link", () => {
    const html = render(data({ detail: detail({ latest_issued: null, not_after: null, days_left: null, status: "missing" }), issued: null, installedSerial: null, history: [] }));
    expect(html).toContain("Nothing issued yet");
    expect(html).toContain("No renewals yet.");
    expect(html).not.toContain('id="download-pem"');
    expect(html).toContain("No download yet: nothing has been issued.");
    expect(html).toContain("nothing installed");
  });

  test("a stored certificate that does not parse says why instead of its facts", () => {
    const html = render(data({ issued: null, issuedError: "x509: stored certificate does not parse: bad" }));
    expect(html).toContain('<p class="error-box">x509: stored certificate does not parse: bad</p>');
  });
});

describe("what it shows", () => {
  test("status badge, facts of the newest certificate, targets and history with links", () => {
    const html = render(data());
    expect(html).toContain('<span class="badge ok">ok</span>');
    expect(html).toContain('<dd class="mono" id="issued-serial">0abc</dd>');
    expect(html).toContain("AB:CD");
    expect(html).toContain("30 days before expiry ([daemon] renew_threshold_days)");
    expect(html).toContain('<a href="/renewals/r2">');
    expect(html).toContain('<span class="badge failed">failed</span>');
    expect(html).toContain('<span class="match yes">✓ yes</span>');
    expect(html).toContain('href="/api/certs/www/pem"');
  });

  test("each live region follows the cert and re-fetches itself from this URL", () => {
    const html = render(data({ self: "/certs/www?before=r9" }));
    for (const id of ["cert-status", "cert-issued", "cert-targets", "cert-history"]) {
      expect(html).toContain(`id="${id}" aria-label="`);
      expect(html).toContain(`data-live="www" hx-get="/certs/www?before=r9" hx-trigger="live" hx-select="#${id}" hx-swap="outerHTML"`);
    }
    expect(html).toContain('data-live-cert="www"');
  });

  test("a cooldown: failures in a row, when the next try is, and the last error", () => {
    const html = render(
      data({ detail: detail({ status: "cooldown", retry_at: "2030-01-01T00:15:00.000Z" }), state: { certId: "www", consecutiveFailures: 3, retryAt: new Date("2030-01-01T00:15:00Z"), lastError: "acme: rate limited", authzFailures: 0, haltedAt: null } }),
    );
    expect(html).toContain("3 failed renewals in a row; next try not before");
    expect(html).toContain('<p class="error-box">acme: rate limited</p>');
  });

  test("a halt: since when, after how many authorization failures, what to do, and the CA's last error; its own badge", () => {
    const state = { certId: "www", consecutiveFailures: 5, retryAt: null, lastError: "acme: authorization invalid", authzFailures: 5, haltedAt: new Date("2030-01-01T00:00:00Z") };
    const html = render(data({ detail: detail({ status: "halted", authz_failures: 5, halted_at: "2030-01-01T00:00:00.000Z" }), state }));
    expect(html).toContain('<span class="badge halted">halted</span>');
    expect(html).toContain("after 5 authorization failures in a row: fix its DCV, then force a renewal");
    expect(html).toContain('<p class="error-box">acme: authorization invalid</p>');
    expect(render(data({ refusal: "halted", detail: detail({ status: "halted", authz_failures: 5 }), state }))).toContain(
      "Not started: renewals stopped after 5 authorization failures in a row. Fix its DCV, then <strong>Force renewal</strong> clears the halt.",
    );
  });

  test("without a threshold the renewal rule reads \"lifetime rule\"; with one, its days and source", () => {
    expect(render(data({ detail: detail({ renew_threshold_days: null, renew_threshold_source: null }) }))).toContain("<dd>lifetime rule</dd>");
    expect(render(data())).toContain("30 days before expiry ([daemon] renew_threshold_days)");
  });

  test("a refused renewal says why where the buttons are", () => {
    expect(render(data({ refusal: "cooldown", detail: detail({ retry_at: "2030-01-01T00:15:00.000Z" }) }))).toContain("Not started: the cert is cooling down after a failed renewal until");
    expect(render(data({ refusal: "not_due" }))).toContain("Not started: it is not due (ok: 59.00 days left, renew at 2030-01-30T00:00:00.000Z (lifetime rule)).");
    const busy = render(data({ refusal: "busy", detail: detail({ last_renewal: { id: "r3", trigger: "manual", status: "running", started_at: NOW.toISOString(), finished_at: null, error: null } }) }));
    expect(busy).toContain('Not started: a renewal of this cert is already running (<a href="/renewals/r3">follow it</a>)');
  });

  test("Force renewal asks first: its button is inside a closed <details>", () => {
    const html = render(data());
    expect(html).toMatch(/<details class="force" id="force"><summary[^>]*>Force renewal…<\/summary>[\s\S]*name="force" value="1"[\s\S]*id="force-confirm"[\s\S]*<\/details>/);
  });

  test("paging: Older → carries the cursor, Newest appears past the first page", () => {
    expect(render(data({ older: "r1" }))).toContain('<a href="/certs/www?before=r1">Older →</a>');
    const second = render(data({ paged: true }));
    expect(second).toContain('<a href="/certs/www">← Newest</a>');
    expect(second).not.toContain("Older →");
  });
});
