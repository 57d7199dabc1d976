/** @module `rota show` text for a cert with history, and for one never issued. */
import { expect, test } from "bun:test";
import type { CertDetailJson } from "../../api/json.ts";
import { showText } from "./show.ts";

const NOW = new Date("2030-01-01T00:00:00Z");

const detail: CertDetailJson = {
  id: "app",
  domains: ["app.example", "www.app.example"],
  domains_unicode: ["app.example", "www.app.example"],
  status: "ok",
  not_after: "2030-03-01T00:00:00.000Z",
  days_left: 59,
  renew_at: "2030-01-30T00:00:00.000Z",
  renew_reason: "lifetime",
  ari_window: null,
  next_check: "2030-01-01T00:05:00.000Z",
  retry_at: null,
  due_since: null,
  look_error: null,
  last_renewal: { id: "r1", trigger: "manual", status: "failed", started_at: "2029-12-31T21:00:00.000Z", finished_at: "2029-12-31T21:00:01.000Z", error: "acme: rate limited" },
  ca: "le",
  dcv: "web",
  install: ["files", "nginx"],
  key_type: "ecdsa-p256",
  lifetime_days: 90,
  profile: null,
  renew_threshold_days: 30,
  renew_threshold_source: "daemon",
  ari: null,
  reason: "not due: 59 days left, threshold 30 (daemon)",
  authz_failures: 0,
  halted_at: null,
  latest_issued: { serial: "0abc", not_before: "2029-12-01T00:00:00.000Z", not_after: "2030-03-01T00:00:00.000Z", issued_at: "2029-12-01T00:00:00.000Z" },
  targets: [
    { name: "files", type: "filesystem", serial: "0abc", not_after: "2030-03-01T00:00:00.000Z", matches_latest: true, error: null },
    { name: "nginx", type: "filesystem", serial: null, not_after: null, matches_latest: false, error: "damaged: privkey.pem is missing" },
  ],
};

test("every field, times relative with the ISO time beside them", () => {
  expect(showText(detail, NOW)).toBe(
    [
      "app: ok",
      "  domains       app.example, www.app.example",
      "  expires       in 59 d (2030-03-01T00:00:00.000Z)",
      "  renews        in 29 d (2030-01-30T00:00:00.000Z), by the lifetime rule",
      "  threshold     30 days before expiry ([daemon] renew_threshold_days)",
      "  reason        not due: 59 days left, threshold 30 (daemon)",
      "  next check    in 5 min (2030-01-01T00:05:00.000Z)",
      "  retry at      -",
      "  ca            le",
      "  dcv           web",
      "  install       files (serves 0abc, the newest), nginx (damaged: privkey.pem is missing)",
      "  key type      ecdsa-p256",
      "  serial        0abc, issued 31 d ago (2029-12-01T00:00:00.000Z)",
      "  last renewal  failed, manual, started 3 h ago (2029-12-31T21:00:00.000Z), renewal r1",
      "  last error    acme: rate limited",
    ].join("\n"),
  );
});

test("renews: the rule behind the moment, or the work needed now", () => {
  expect(showText({ ...detail, renew_reason: "ari" }, NOW)).toContain("  renews        in 29 d (2030-01-30T00:00:00.000Z), by the CA's ARI window\n");
  expect(showText({ ...detail, renew_reason: "stale" }, NOW)).toContain("  renews        in 29 d (2030-01-30T00:00:00.000Z); needs work now: stale\n");
  expect(showText({ ...detail, renew_at: null, renew_reason: "missing" }, NOW)).toContain("  renews        - (needs work now: missing)\n");
});

test("a cert never issued", () => {
  const text = showText({ ...detail, status: "missing", not_after: null, days_left: null, last_renewal: null, latest_issued: null, dcv: null }, NOW);
  expect(text).toContain("app: missing\n");
  expect(text).toContain("  expires       -\n");
  expect(text).toContain("  serial        - (none issued yet)\n");
  expect(text).toContain("  last renewal  -");
  expect(text).not.toContain("last error");
});

test("a Unicode name shows both forms; a target that cannot be read shows why", () => {
  const text = showText(
    { ...detail, status: "unreadable", domains: ["xn--bcher-kva.example", "app.example"], domains_unicode: ["bücher.example", "app.example"], look_error: "files: read-back timed out after 30 s" },
    NOW,
  );
  expect(text).toContain("app: unreadable\n");
  expect(text).toContain("  domains       xn--bcher-kva.example (bücher.example), app.example\n");
  expect(text).toEndWith("\n  cannot read   files: read-back timed out after 30 s");
});
