/**
 * @module A fake in front of the real pebble: an HTTPS proxy on loopback that forwards every
 * request as it came, `Host` kept, so pebble writes its URLs (directory, orders, nonces) for
 * the proxy and the JWS `url` each client signs matches what pebble checks. Pebble never
 * rate-limits and answers renewalInfo correctly; the proxy injects what it does not do: a
 * newOrder for a chosen name answered 429 `rateLimited` with a Retry-After, and renewalInfo
 * replies of every faulty kind (issue 12, "Bad input and faults"). Every request is recorded.
 */
import { readFileSync } from "node:fs";
import { makeLoopbackTls } from "./certs.ts";

/** What the proxy answers instead of pebble: a status, headers and a body (JSON when not a string). */
export interface FaultReply {
  status: number;
  headers?: Record<string, string>;
  body: unknown;
}

export interface SeenRequest {
  method: string;
  path: string;
  /** The newOrder's identifiers, read from its JWS payload. */
  identifiers?: string[];
  /** The reply's status, and whether the proxy made it up. */
  status: number;
  faked: boolean;
}

export interface AcmeFaultProxy {
  /** The directory through the proxy: give it to rota as `directory_url`, with `caBundlePath` as `ca_bundle`. */
  directoryUrl: string;
  caBundlePath: string;
  /** The next newOrder naming `domain` gets `reply` instead of reaching pebble (once). */
  failNewOrder(domain: string, reply: FaultReply): void;
  /** Every `GET {renewalInfo}/{certID}` gets what `reply` makes of the certID until set to null (pebble answers again). */
  faultRenewalInfo(reply: ((certId: string) => FaultReply) | null): void;
  seen: SeenRequest[];
  stop(): Promise<void>;
}

/** A 429 `rateLimited` problem as Let's Encrypt sends it. */
export function rateLimited(retryAfter: string, detail = "too many new orders recently (fault proxy)"): FaultReply {
  return {
    status: 429,
    headers: { "content-type": "application/problem+json", "retry-after": retryAfter },
    body: { type: "urn:ietf:params:acme:error:rateLimited", detail, status: 429 },
  };
}

/** The identifiers of a newOrder JWS (flattened JSON serialization, RFC 8555 §6.2). */
function identifiersOf(body: string): string[] | undefined {
  try {
    const payload = JSON.parse(Buffer.from((JSON.parse(body) as { payload: string }).payload, "base64url").toString("utf8")) as { identifiers?: Array<{ value: string }> };
    return payload.identifiers?.map((i) => i.value);
  } catch {
    return undefined;
  }
}

function respond(r: FaultReply): Response {
  const body = typeof r.body === "string" ? r.body : JSON.stringify(r.body);
  return new Response(body, { status: r.status, headers: { "content-type": "application/json", ...r.headers } });
}

/** Starts the proxy for pebble's `directoryUrl`, trusting pebble through `pebbleCaPath`; `dir` holds the proxy's own TLS files. */
export async function startAcmeFaultProxy(o: { directoryUrl: string; pebbleCaPath: string; dir: string }): Promise<AcmeFaultProxy> {
  const upstream = new URL(o.directoryUrl);
  const pebbleCa = readFileSync(o.pebbleCaPath, "utf8");
  const tls = makeLoopbackTls(o.dir);
  const directory = (await (await fetch(o.directoryUrl, { tls: { ca: pebbleCa } })).json()) as { newOrder: string; renewalInfo?: string };
  const newOrderPath = new URL(directory.newOrder).pathname;
  const renewalInfoPath = directory.renewalInfo ? new URL(directory.renewalInfo).pathname.replace(/\/*$/, "/") : null;
  const orderFaults = new Map<string, FaultReply>();
  let renewalInfoFault: ((certId: string) => FaultReply) | null = null;
  const seen: SeenRequest[] = [];

  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    tls: { cert: readFileSync(tls.certPath, "utf8"), key: readFileSync(tls.keyPath, "utf8") },
    async fetch(req) {
      const url = new URL(req.url);
      const body = req.method === "GET" || req.method === "HEAD" ? undefined : await req.text();
      const record = (status: number, faked: boolean, identifiers?: string[]) => seen.push({ method: req.method, path: url.pathname, status, faked, ...(identifiers ? { identifiers } : {}) });
      if (req.method === "POST" && url.pathname === newOrderPath && body !== undefined) {
        const identifiers = identifiersOf(body);
        const domain = identifiers?.find((d) => orderFaults.has(d));
        const fault = domain === undefined ? undefined : orderFaults.get(domain);
        if (fault) {
          orderFaults.delete(domain!);
          record(fault.status, true, identifiers);
          return respond(fault);
        }
        const res = await forward(req, url, body);
        record(res.status, false, identifiers);
        return res;
      }
      if (req.method === "GET" && renewalInfoPath && url.pathname.startsWith(renewalInfoPath) && renewalInfoFault) {
        const reply = renewalInfoFault(url.pathname.slice(renewalInfoPath.length));
        record(reply.status, true);
        return respond(reply);
      }
      const res = await forward(req, url, body);
      record(res.status, false);
      return res;
    },
  });

  async function forward(req: Request, url: URL, body: string | undefined): Promise<Response> {
    const headers = new Headers(req.headers);
    // Kept as the client sent it: pebble builds its URLs and checks each JWS `url` from it.
    headers.set("host", url.host);
    const res = await fetch(`${upstream.origin}${url.pathname}${url.search}`, { method: req.method, headers, body, redirect: "manual", tls: { ca: pebbleCa } });
    const out = new Headers(res.headers);
    // fetch has already decoded the body.
    out.delete("content-encoding");
    out.delete("content-length");
    return new Response(await res.arrayBuffer(), { status: res.status, headers: out });
  }

  return {
    directoryUrl: `https://127.0.0.1:${server.port}${upstream.pathname}`,
    caBundlePath: tls.caPath,
    failNewOrder: (domain, reply) => void orderFaults.set(domain, reply),
    faultRenewalInfo: (reply) => void (renewalInfoFault = reply),
    seen,
    async stop() {
      await server.stop(true);
    },
  };
}
