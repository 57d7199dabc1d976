/**
 * @module The ARI advisor against a fake CA on loopback: the window and its clamps, Retry-After
 * clamped to 60 s – 24 h, and every fault falling back (an error, a poll an hour later), never a throw.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { FakeClock } from "../../../testing/fake-clock.ts";
import { x509 as loadX509 } from "../../../crypto/x509.ts";
import type { AriAnswer } from "../../types.ts";
import { createAcmeAdvisor, nextPollSeconds } from "./ari.ts";

const x509 = await loadX509();
const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
const NOT_BEFORE = new Date("2030-01-01T00:00:00Z");
const NOT_AFTER = new Date("2030-04-01T00:00:00Z");
const CERT_ID = "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE";

async function leafPem(aki: boolean): Promise<string> {
  const keys = (await crypto.subtle.generateKey(alg, true, ["sign", "verify"])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "0087654321",
    name: "CN=ari.test",
    notBefore: NOT_BEFORE,
    notAfter: NOT_AFTER,
    keys,
    signingAlgorithm: alg,
    extensions: aki ? [new x509.AuthorityKeyIdentifierExtension("69885b6b87464041e1b37b847ba0ae2cde01c8d4")] : [],
  });
  return cert.toString("pem");
}

/** What the fake CA answers to `GET /ari/<certID>`; the directory names it unless `noRenewalInfo`. */
let reply: () => Response;
let noRenewalInfo = false;
const seen: string[] = [];
let server: ReturnType<typeof Bun.serve>;
let withAki: string;
let withoutAki: string;

beforeAll(async () => {
  server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch(req) {
      const path = new URL(req.url).pathname;
      seen.push(`${req.method} ${path}`);
      if (path === "/dir") {
        const base = `http://127.0.0.1:${server.port}`;
        return Response.json({ newOrder: `${base}/new-order`, ...(noRenewalInfo ? {} : { renewalInfo: `${base}/ari/` }), meta: { profiles: { classic: "90 days", shortlived: "160 hours" } } });
      }
      return reply();
    },
  });
  withAki = await leafPem(true);
  withoutAki = await leafPem(false);
});
afterAll(() => server.stop(true));
beforeEach(() => {
  seen.length = 0;
  noRenewalInfo = false;
});

const window = (start: string, end: string, headers: Record<string, string> = {}) => () =>
  Response.json({ suggestedWindow: { start, end }, explanationURL: "https://ca.example/why" }, { headers });

function advisor(clock = new FakeClock("2030-02-01T00:00:00Z")) {
  return { clock, ari: createAcmeAdvisor("le", { directoryUrl: `http://127.0.0.1:${server.port}/dir`, email: undefined, caBundle: undefined, eab: undefined }, { clock }) };
}

function asked(a: AriAnswer): Extract<AriAnswer, { ari: true }> {
  if (!a.ari) throw new Error(`no ARI: ${a.reason}`);
  return a;
}

const HOUR = 3600_000;
const polled = new Date("2030-02-01T00:00:00Z").getTime();

describe("a window", () => {
  test("is read with its explanation; the next poll follows Retry-After; the certID is the path", async () => {
    reply = window("2030-03-01T00:00:00Z", "2030-03-03T00:00:00Z", { "retry-after": "7200" });
    const a = asked(await advisor().ari.poll(withAki));
    expect(a).toEqual({
      ari: true,
      certId: CERT_ID,
      window: { start: new Date("2030-03-01T00:00:00Z"), end: new Date("2030-03-03T00:00:00Z") },
      explanationUrl: "https://ca.example/why",
      polledAt: new Date(polled),
      nextPollAt: new Date(polled + 2 * HOUR),
      error: null,
    });
    expect(seen).toEqual(["GET /dir", `GET /ari/${CERT_ID}`]);
  });

  test("ending past notAfter is cut at notAfter", async () => {
    reply = window("2030-03-30T00:00:00Z", "2030-05-01T00:00:00Z");
    expect(asked(await advisor().ari.poll(withAki)).window).toEqual({ start: new Date("2030-03-30T00:00:00Z"), end: NOT_AFTER });
  });

  test("already past is still a window: the caller renews now", async () => {
    reply = window("2030-01-10T00:00:00Z", "2030-01-11T00:00:00Z");
    expect(asked(await advisor().ari.poll(withAki)).window?.end).toEqual(new Date("2030-01-11T00:00:00Z"));
  });
});

describe("faults fall back to the lifetime rule with an error and a poll an hour later", () => {
  const cases: Array<[string, () => Response, string]> = [
    ["404", () => new Response("not found", { status: 404 }), "HTTP 404"],
    ["500", () => Response.json({ type: "urn:ietf:params:acme:error:serverInternal" }, { status: 500 }), "HTTP 500"],
    ["HTML", () => new Response("<html>maintenance</html>", { headers: { "content-type": "text/html" } }), "JSON"],
    ["{}", () => Response.json({}), "the reply has no suggestedWindow"],
    ["an inverted window", window("2030-03-03T00:00:00Z", "2030-03-01T00:00:00Z"), "suggestedWindow ends (2030-03-01T00:00:00.000Z) before it starts (2030-03-03T00:00:00.000Z)"],
    ["an empty window", window("2030-03-03T00:00:00Z", "2030-03-03T00:00:00Z"), "before it starts"],
    ["a window past notAfter", window("2030-05-01T00:00:00Z", "2030-05-02T00:00:00Z"), "after the certificate's notAfter (2030-04-01T00:00:00.000Z)"],
    ["timestamps that are not", window("soon", "later"), "not a timestamp"],
  ];
  for (const [name, r, error] of cases) {
    test(name, async () => {
      reply = r;
      const a = asked(await advisor().ari.poll(withAki));
      expect(a.window).toBeNull();
      expect(a.error).toContain(error);
      expect(a.error).toStartWith("acme le: GET ");
      expect(a.nextPollAt).toEqual(new Date(polled + HOUR));
    });
  }

  test("a CA that is down", async () => {
    const down = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
    const url = `http://127.0.0.1:${down.port}/dir`;
    await down.stop(true);
    const clock = new FakeClock("2030-02-01T00:00:00Z");
    const a = asked(await createAcmeAdvisor("le", { directoryUrl: url, email: undefined, caBundle: undefined, eab: undefined }, { clock }).poll(withAki));
    expect(a.error).toStartWith(`acme le: directory ${url}: `);
    expect(a.nextPollAt).toEqual(new Date(polled + HOUR));
  });
});

describe("Retry-After is clamped to 60 s – 24 h; 6 h without one", () => {
  const cases: Array<[string | null, number]> = [
    ["0", 60],
    ["-5", 6 * 3600],
    ["garbage", 6 * 3600],
    [new Date(polled + 2 * HOUR).toUTCString(), 2 * 3600],
    [new Date(polled - 2 * HOUR).toUTCString(), 60],
    [String(10 * 365 * 24 * 3600), 24 * 3600],
    [null, 6 * 3600],
  ];
  for (const [header, seconds] of cases) {
    test(`${header ?? "absent"} → ${seconds} s`, async () => {
      reply = window("2030-03-01T00:00:00Z", "2030-03-03T00:00:00Z", header === null ? {} : { "retry-after": header });
      expect(asked(await advisor().ari.poll(withAki)).nextPollAt).toEqual(new Date(polled + seconds * 1000));
    });
  }

  test("never past the certificate's notAfter", async () => {
    reply = window("2030-03-30T00:00:00Z", "2030-03-31T00:00:00Z", { "retry-after": "86400" });
    const a = asked(await advisor(new FakeClock("2030-03-31T12:00:00Z")).ari.poll(withAki));
    expect(a.nextPollAt).toEqual(NOT_AFTER);
  });

  test("nextPollSeconds", () => {
    expect([nextPollSeconds(undefined), nextPollSeconds(0), nextPollSeconds(59), nextPollSeconds(61), nextPollSeconds(86_401)]).toEqual([21_600, 60, 60, 61, 86_400]);
  });
});

describe("no ARI", () => {
  test("for a certificate without AKI: nothing is asked", async () => {
    expect(await advisor().ari.poll(withoutAki)).toEqual({ ari: false, reason: "the certificate has no authority key identifier" });
    expect(seen).toEqual([]);
  });

  test("from a directory without renewalInfo", async () => {
    noRenewalInfo = true;
    expect(await advisor().ari.poll(withAki)).toEqual({ ari: false, reason: "acme le: the directory offers no renewalInfo" });
  });

  test("after the certificate's notAfter", async () => {
    expect(await advisor(new FakeClock("2030-04-01T00:00:00Z")).ari.poll(withAki)).toEqual({ ari: false, reason: "the certificate has expired" });
    expect(seen).toEqual([]);
  });
});

describe("the directory", () => {
  test("is read once a day", async () => {
    reply = window("2030-03-01T00:00:00Z", "2030-03-03T00:00:00Z");
    const { clock, ari } = advisor();
    await ari.poll(withAki);
    await ari.poll(withAki);
    await clock.advance(25 * HOUR);
    await ari.poll(withAki);
    expect(seen.filter((s) => s === "GET /dir")).toHaveLength(2);
  });

  test("lists the profiles offered", async () => {
    expect(await advisor().ari.profiles()).toEqual(["classic", "shortlived"]);
  });

  test("tells a profile it does not offer, naming those it does; no profile asks nothing", async () => {
    const { ari } = advisor();
    expect(await ari.checkCertOptions({ profile: "shortlived" })).toBeNull();
    expect(await ari.checkCertOptions({ profile: "tlsserver" })).toBe('acme le: profile "tlsserver" is not offered; the CA offers: classic, shortlived');
    seen.length = 0;
    expect(await advisor().ari.checkCertOptions({ profile: undefined })).toBeNull();
    expect(seen).toEqual([]);
  });
});

describe("replaces", () => {
  test("is the certID once the CA answered renewalInfo for it, else null", async () => {
    const { ari } = advisor();
    reply = () => new Response("", { status: 500 });
    expect(await ari.replaces(withAki)).toBeNull();
    reply = window("2030-03-01T00:00:00Z", "2030-03-03T00:00:00Z");
    expect(await ari.replaces(withAki)).toBe(CERT_ID);
    // Answered once: not asked again.
    reply = () => new Response("", { status: 500 });
    seen.length = 0;
    expect(await ari.replaces(withAki)).toBe(CERT_ID);
    expect(seen).toEqual([]);
    expect(await ari.replaces(withoutAki)).toBeNull();
  });
});
