/**
 * @module The `namecheap.ssl.*` half of the fake Namecheap API (test/fakes/namecheap.ts routes
 * those commands here, after its checks of the global parameters), with a fake Sectigo behind it.
 * Built to Namecheap's documented shapes: activate only from newpurchase/newrenewal, reissue only
 * from active and under a new id (the old one turns `replaced`, `ReplacedBy` the new), both
 * leading to `purchased` with DCV CNAMEs `_<MD5 of the CSR DER>.<domain>` →
 * `<SHA-256 as two 32-character labels>.<unique>.sectigo.com`. While a certificate is purchased,
 * each getInfo resolves its CNAMEs by a real DNS query (pebble-challtestsrv); when all match it
 * signs the CSR with its own CA, adding a one-name certificate's `www.` counterpart (a lone
 * wildcard's base name) as Sectigo does, and never past the plan's end. Errors come as HTTP 200 `Status="ERROR"`.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { systemClock } from "../../src/clock.ts";
import { generateKeyPem } from "../../src/crypto/keys.ts";
import { createCsr } from "../../src/crypto/csr.ts";
import { x509 } from "../../src/crypto/x509.ts";
import { Authority, type Signer } from "../../src/backends/ca/local/authority.ts";
import { signLeaf } from "../../src/backends/ca/local/leaf.ts";
import { cnameTargets, query } from "../../src/dns/query.ts";
import type { DnsServer } from "../../src/dns/server.ts";

const DAY_MS = 86_400_000;
/** Sectigo's longest DV certificate since March 2026 (CA/B Forum SC-081). */
const MAX_LEAF_DAYS = 199;

export interface FakeDcvRecord {
  domain: string;
  hostName: string;
  target: string;
}

export interface FakeSslCert {
  id: number;
  /** newpurchase, newrenewal, purchased, active, replaced, cancelled, … */
  status: string;
  statusDescription?: string;
  replacedBy?: number;
  csr?: string;
  dcv?: FakeDcvRecord[];
  leafPem?: string;
  /** The plan's end: no leaf signed for this certificate outlives it. */
  planEnd?: Date;
  /** The id a line of reissues started from (set on each reissue): faults and modes aimed at it apply to the whole line. */
  origin?: number;
  /** Sectigo never validates it: it stays purchased. */
  never?: boolean;
  /** Each reply about it is held this long. */
  slowSeconds?: number;
}

/**
 * A one-off fault for the next SSL call (of `command`, about `certificateId` or a reissue of it,
 * when given): an HTTP 500, a 429 with Retry-After: 120, an HTML page,
 * a cut-off reply, `Status="OK"` without the result element, an API error, or a reply whose
 * content is wrong (`ValueAvailable="false"`, active without certificates, a chain that does
 * not sign the leaf; each taken only by a reply it can change). `hold`: the call is carried out
 * at once, its reply sent only when `until` settles (a reply lost to a stop).
 */
export type SslFault = { command?: string; certificateId?: number } & (
  | { kind: "http500" | "http429" | "html" | "truncated" | "no-result" | "value-unavailable" | "no-certificates" | "bad-chain" }
  | { kind: "error"; number: string; text: string }
  | { kind: "hold"; until: Promise<void> }
);

export interface FakeSsl {
  certs: Map<number, FakeSslCert>;
  /** `never`: purchased certificates stay purchased; `slow`: every SSL reply is held `slowSeconds`. */
  mode: "normal" | "never" | "slow";
  slowSeconds: number;
  faults: SslFault[];
  /** Where the fake Sectigo resolves CNAMEs (non-recursively, as an authoritative server is asked). */
  resolver: DnsServer | null;
  /** The root the leaves chain to, for a test's own verification. */
  rootPem: string;
  /** Adds certificates: an `active` one without a leaf gets one for `names` (a key nobody keeps). */
  seed(cert: FakeSslCert & { names?: string[] }): Promise<void>;
  close(): void;
}

type Reply = { status: number; body: string; contentType?: string; headers?: Record<string, string> };
type Envelope = (command: string, status: "OK" | "ERROR", errors: [string, string][], body: string) => string;

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
const cdata = (s: string) => `<![CDATA[${s}]]>`;

export async function createFakeSsl(envelope: Envelope): Promise<FakeSsl & { handle(command: string, params: Record<string, string>): Promise<Reply> }> {
  const caDir = mkdtempSync(join(tmpdir(), "rota-fake-sectigo-"));
  const authority = new Authority(caDir, "Fake Sectigo", systemClock);
  const intermediate: Signer = await authority.intermediate();
  const rootPem = readFileSync(join(caDir, "root.pem"), "utf8");
  /** An intermediate with the real one's name and another key: it does not sign the leaf. */
  const impostor = await new Authority(mkdtempSync(join(tmpdir(), "rota-fake-impostor-")), "Fake Sectigo", systemClock).intermediate();
  let nextId = 90_000;

  const ok = (command: string, body: string): Reply => ({ status: 200, body: envelope(command, "OK", [], body) });
  const error = (command: string, number: string, text: string): Reply => ({ status: 200, body: envelope(command, "ERROR", [[number, text]], "") });

  async function sign(csrPem: string, planEnd: Date | undefined): Promise<string> {
    const names = await csrNames(csrPem);
    // Sectigo's one-name certificates: the www. counterpart (or the bare name of a www. one); a lone wildcard also covers its base name.
    if (names.length === 1) names.push(names[0]!.startsWith("*.") ? names[0]!.slice(2) : names[0]!.startsWith("www.") ? names[0]!.slice(4) : `www.${names[0]}`);
    const now = new Date();
    const days = Math.min(MAX_LEAF_DAYS, planEnd ? (planEnd.getTime() - now.getTime()) / DAY_MS : MAX_LEAF_DAYS);
    return signLeaf(intermediate, { csrPem, domains: names, validityDays: days, now });
  }

  /** Sectigo's DCV record for each name: one per base name, so a wildcard and its base share one. */
  async function dcvFor(csrPem: string, names: string[]): Promise<FakeDcvRecord[]> {
    const lib = await x509();
    const der = Buffer.from(new lib.Pkcs10CertificateRequest(csrPem).rawData);
    const md5 = createHash("md5").update(der).digest("hex").toUpperCase();
    const sha = createHash("sha256").update(der).digest("hex").toUpperCase();
    const unique = randomBytes(5).toString("hex");
    return names.map((domain) => ({ domain, hostName: `_${md5}.${domain.replace(/^\*\./, "")}`, target: `${sha.slice(0, 32)}.${sha.slice(32)}.${unique}.sectigo.com` }));
  }

  /** What Sectigo sees now: every CNAME pointing where it should. */
  async function validated(cert: FakeSslCert): Promise<boolean> {
    if (!fake.resolver || !cert.dcv) return false;
    for (const r of cert.dcv) {
      try {
        // pebble-challtestsrv matches names case-sensitively, unlike DNS: ask as rota publishes, in lower case.
        const name = r.hostName.toLowerCase();
        const reply = await query(fake.resolver, name, "CNAME", { recursive: false, timeoutMs: 2_000 });
        if (!cnameTargets(reply, name).includes(r.target.toLowerCase())) return false;
      } catch {
        return false;
      }
    }
    return true;
  }

  function namesOfRequest(params: Record<string, string>, csrNames: string[]): string[] {
    const extra = params.DNSNames ? params.DNSNames.split(",") : [];
    return [csrNames[0] ?? "", ...extra];
  }

  async function csrNames(csrPem: string): Promise<string[]> {
    const lib = await x509();
    const san = new lib.Pkcs10CertificateRequest(csrPem).extensions.find((e) => e instanceof lib.SubjectAlternativeNameExtension);
    return san instanceof lib.SubjectAlternativeNameExtension ? san.names.items.map((n) => n.value) : [];
  }

  function dcvXml(records: FakeDcvRecord[], available: boolean): string {
    return `<DNSDCValidation ValueAvailable="${available}">${records
      .map((r) => `<DNS domain="${esc(r.domain)}"><HostName>${cdata(r.hostName)}</HostName><Target>${cdata(r.target)}</Target></DNS>`)
      .join("")}</DNSDCValidation>`;
  }

  const fake: FakeSsl = {
    certs: new Map(),
    mode: "normal",
    slowSeconds: 0,
    faults: [],
    resolver: null,
    rootPem,
    async seed(c) {
      const cert: FakeSslCert = { ...c };
      if (cert.status === "active" && !cert.leafPem) {
        const csr = await createCsr(c.names ?? ["seeded.example.test"], generateKeyPem("ecdsa-p256"));
        cert.leafPem = await sign(csr, cert.planEnd);
      }
      fake.certs.set(cert.id, cert);
    },
    close: () => rmSync(caDir, { recursive: true, force: true }),
  };

  /** The first queued fault of `kinds` aimed at this call, taken off the queue. */
  function takeFault(command: string, id: number, kinds: readonly SslFault["kind"][]): SslFault | undefined {
    const cert = fake.certs.get(id);
    const i = fake.faults.findIndex(
      (f) =>
        kinds.includes(f.kind) &&
        (f.command === undefined || f.command === command) &&
        (f.certificateId === undefined || f.certificateId === id || f.certificateId === cert?.origin),
    );
    return i >= 0 ? fake.faults.splice(i, 1)[0] : undefined;
  }

  async function handle(command: string, params: Record<string, string>): Promise<Reply> {
    const id = Number(params.CertificateID);
    const slow = fake.mode === "slow" ? fake.slowSeconds : (fake.certs.get(id)?.slowSeconds ?? 0);
    if (slow > 0) await Bun.sleep(slow * 1000);
    const hold = takeFault(command, id, ["hold"]);
    const fault = takeFault(command, id, ["http500", "http429", "html", "error", "no-result", "truncated"]);
    if (fault?.kind === "http500") return { status: 500, body: "Internal Server Error", contentType: "text/plain" };
    if (fault?.kind === "http429") return { status: 429, body: "Too Many Requests", contentType: "text/plain", headers: { "retry-after": "120" } };
    if (fault?.kind === "html") return { status: 200, body: "<!DOCTYPE html><html><body><h1>Service Unavailable</h1></body></html>", contentType: "text/html" };
    if (fault?.kind === "error") return error(command, fault.number, fault.text);
    if (fault?.kind === "no-result") return ok(command, "");
    const reply = await answer(command, params);
    if (hold?.kind === "hold") await hold.until;
    if (fault?.kind === "truncated") return { ...reply, body: reply.body.slice(0, Math.floor(reply.body.length / 2)) };
    return reply;
  }

  async function answer(command: string, params: Record<string, string>): Promise<Reply> {
    const id = Number(params.CertificateID);
    const cert = fake.certs.get(id);
    if (!cert) return error(command, "2011294", `SSL certificate ${params.CertificateID ?? ""} not found`);

    if (command === "namecheap.ssl.getInfo") {
      if (cert.status === "purchased" && fake.mode !== "never" && !cert.never && cert.csr && (await validated(cert))) {
        cert.leafPem = await sign(cert.csr, cert.planEnd);
        cert.status = "active";
      }
      const asked = params.ReturnCertificate?.toLowerCase() === "true" && cert.status === "active" && cert.leafPem !== undefined;
      // Aimed at the leaf a request asked for, not at the one a reissue replaces.
      const fault = asked && cert.csr ? takeFault(command, id, ["no-certificates", "bad-chain"]) : undefined;
      const withCerts = asked && fault?.kind !== "no-certificates";
      const inter = fault?.kind === "bad-chain" ? impostor.pem : intermediate.pem;
      const certs = withCerts
        ? `<Certificates CertificateReturned="true" ReturnType="INDIVIDUAL"><Certificate>${cdata(cert.leafPem!)}</Certificate><CaCertificates><Certificate Type="ROOT"><Certificate>${cdata(rootPem)}</Certificate></Certificate><Certificate Type="INTERMEDIATE"><Certificate>${cdata(inter)}</Certificate></Certificate></CaCertificates></Certificates>`
        : `<Certificates CertificateReturned="false" ReturnType="INDIVIDUAL" />`;
      return ok(
        command,
        `<SSLGetInfoResult Status="${esc(cert.status)}" StatusDescription="${esc(cert.statusDescription ?? describe(cert.status))}" Type="PositiveSSL" IssuedOn="" Expires="" ActivationExpireDate="" OrderId="${id + 7}" ReplacedBy="${cert.replacedBy ?? 0}" SANSCount="0"><CertificateDetails>${cert.csr ? `<CSR>${cdata(cert.csr)}</CSR>` : ""}<ApproverEmail>CNAMECSRHASH</ApproverEmail>${certs}</CertificateDetails><Provider><OrderID>${id + 7}</OrderID><Name>COMODO</Name></Provider></SSLGetInfoResult>`,
      );
    }
    if (command === "namecheap.ssl.activate" || command === "namecheap.ssl.reissue") {
      const reissue = command === "namecheap.ssl.reissue";
      const allowed = reissue ? cert.status === "active" : cert.status === "newpurchase" || cert.status === "newrenewal";
      if (!allowed) return error(command, "2011166", `Certificate ${id} cannot be ${reissue ? "reissued" : "activated"} while ${cert.status}`);
      if (!params.csr) return error(command, "2010324", "Parameter csr is missing");
      if (!params.AdminEmailAddress) return error(command, "2010324", "Parameter AdminEmailAddress is missing");
      if (!params.WebServerType) return error(command, "2010324", "Parameter WebServerType is missing");
      if (params.DNSDCValidation?.toLowerCase() !== "true") return error(command, "2010324", "this fake takes DNSDCValidation=true only");
      let names: string[];
      try {
        names = namesOfRequest(params, await csrNames(params.csr));
      } catch {
        return error(command, "2011168", "CSR is invalid");
      }
      const records = await dcvFor(params.csr, names);
      let target = cert;
      if (reissue) {
        const { planEnd, never, slowSeconds } = cert;
        target = { id: nextId++, status: "purchased", origin: cert.origin ?? cert.id, ...(planEnd ? { planEnd } : {}), ...(never ? { never } : {}), ...(slowSeconds ? { slowSeconds } : {}) };
        fake.certs.set(target.id, target);
        cert.status = "replaced";
        cert.replacedBy = target.id;
      }
      target.status = "purchased";
      target.csr = params.csr;
      target.dcv = records;
      const element = reissue ? "SSLReissueResult" : "SSLActivateResult";
      const unavailable = takeFault(command, target.id, ["value-unavailable"]) ?? takeFault(command, id, ["value-unavailable"]);
      return ok(command, `<${element} ID="${target.id}" IsSuccess="true">${dcvXml(records, unavailable === undefined)}</${element}>`);
    }
    if (command === "namecheap.ssl.resendApproverEmail") {
      if (cert.status !== "purchased") return error(command, "2011331", `Certificate ${id} is not awaiting validation`);
      return ok(command, `<SSLResendApproverEmailResult ID="${id}" IsSuccess="true" />`);
    }
    return error(command, "1010101", `Command ${command} is not supported by the fake`);
  }

  return Object.assign(fake, { handle });
}

function describe(status: string): string {
  return { active: "Certificate is Active", purchased: "Awaiting domain control validation", newpurchase: "Certificate is not activated", replaced: "Certificate was reissued" }[status] ?? status;
}
