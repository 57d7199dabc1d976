/**
 * @module A fake of Namecheap's XML API (`namecheap.domains.dns.getHosts` / `setHosts`, and
 * `namecheap.domains.getList`, which `rota doctor` reads),
 * loopback only, built to the documented shapes: errors as HTTP 200 with
 * `Status="ERROR"` and numbered `<Error>`s, credentials and the ClientIp allow-list
 * checked on every call, and setHosts as the real one behaves: it REPLACES THE WHOLE
 * ZONE and drops the mail setting when `EmailType` is omitted. Every request is recorded.
 * `holdNextSetHosts` keeps a setHosts between its arrival and its effect, as Namecheap may
 * still carry out a call whose client gave up on it.
 * `startFakeNamecheapSsl` adds the `namecheap.ssl.*` commands on the same endpoint, as the real
 * API has them (namecheap-ssl.ts).
 */
import { newHold, type Hold, type HeldRequest } from "./hold.ts";
import { createFakeSsl, type FakeSsl } from "./namecheap-ssl.ts";
import { mirrorCname, mirrorName, type TxtMirror } from "./txt-mirror.ts";

export interface FakeHost {
  name: string;
  type: string;
  address: string;
  mxPref: string;
  ttl: string;
}

export interface FakeZone {
  emailType: string;
  isUsingOurDns: boolean;
  hosts: FakeHost[];
}

export interface FakeRequest {
  method: string;
  command: string;
  params: Record<string, string>;
}

export interface FakeNamecheap {
  url: string;
  apiUser: string;
  apiKey: string;
  clientIp: string;
  /** Keyed by `sld.tld`. */
  zones: Map<string, FakeZone>;
  requests: FakeRequest[];
  /** Answers the next getHosts with this raw body instead of the zone (error, empty, malformed replies). */
  nextGetHostsReply: string | undefined;
  /** Holds each getHosts reply this long: without the lock, two writers would both read before either writes. */
  getHostsDelayMs: number;
  /** The SSL commands, when started by `startFakeNamecheapSsl`. */
  ssl: FakeSsl | null;
  /** Holds the next setHosts after it is recorded, until released; carried out then, whether its client still waits or not. */
  holdNextSetHosts(): Hold;
  stop(): Promise<void>;
}

const xml = (text: string) => new Response(text, { headers: { "content-type": "text/xml; charset=utf-8" } });
const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

function envelope(command: string, status: "OK" | "ERROR", errors: [string, string][], body: string): string {
  const errs = errors.map(([n, t]) => `<Error Number="${n}">${esc(t)}</Error>`).join("");
  return `<?xml version="1.0" encoding="utf-8"?>
<ApiResponse Status="${status}" xmlns="http://api.namecheap.com/xml.response">
  <Errors>${errs}</Errors>
  <Warnings />
  <RequestedCommand>${esc(command)}</RequestedCommand>
  ${status === "OK" ? `<CommandResponse Type="${esc(command)}">${body}</CommandResponse>` : ""}
  <Server>FAKE</Server>
  <GMTTimeDifference>--5:00</GMTTimeDifference>
  <ExecutionTime>0.01</ExecutionTime>
</ApiResponse>`;
}

/** Each name of a zone (fully qualified) holding records of `type`, with their values. */
function byName(domain: string, hosts: FakeHost[], type: "TXT" | "CNAME"): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const h of hosts) {
    if (h.type.toUpperCase() !== type) continue;
    const name = h.name === "@" ? domain : `${h.name.toLowerCase()}.${domain}`;
    out.set(name, [...(out.get(name) ?? []), h.address]);
  }
  return out;
}

export interface FakeNamecheapOptions {
  apiUser?: string;
  apiKey?: string;
  clientIp?: string;
  mirror?: TxtMirror;
}

/** The fake with the SSL commands too: one `xml.response` endpoint for both families, as the real one. */
export async function startFakeNamecheapSsl(opts: FakeNamecheapOptions = {}): Promise<FakeNamecheap & { ssl: FakeSsl }> {
  const ssl = await createFakeSsl(envelope);
  return startFakeNamecheap(opts, ssl) as FakeNamecheap & { ssl: FakeSsl };
}

export function startFakeNamecheap(opts: FakeNamecheapOptions = {}, ssl?: Awaited<ReturnType<typeof createFakeSsl>>): FakeNamecheap {
  let heldSetHosts: HeldRequest | undefined;
  const fake: Omit<FakeNamecheap, "url" | "stop"> = {
    apiUser: opts.apiUser ?? "alice",
    apiKey: opts.apiKey ?? "k3y-0123456789abcdef",
    clientIp: opts.clientIp ?? "203.0.113.7",
    zones: new Map(),
    requests: [],
    nextGetHostsReply: undefined,
    getHostsDelayMs: 0,
    ssl: ssl ?? null,
    holdNextSetHosts() {
      const { hold, held } = newHold();
      heldSetHosts = held;
      return hold;
    },
  };
  let hostId = 1000;

  /** setHosts as the real one: the call's list becomes the zone. */
  async function setHosts(key: string, params: Record<string, string>, error: (n: string, t: string) => Response): Promise<Response> {
    const command = "namecheap.domains.dns.setHosts";
    const zone = fake.zones.get(key);
    if (!zone) return error("2019166", "Domain not found");
    if (!zone.isUsingOurDns) return error("2030288", "Domain is not using Namecheap DNS servers");
    const hosts: FakeHost[] = [];
    for (let n = 1; params[`HostName${n}`] !== undefined; n++) {
      hosts.push({
        name: params[`HostName${n}`] as string,
        type: params[`RecordType${n}`] ?? "",
        address: params[`Address${n}`] ?? "",
        mxPref: params[`MXPref${n}`] ?? "10",
        ttl: params[`TTL${n}`] ?? "1800",
      });
    }
    if (hosts.length > 150) return error("3013288", "Too many records");
    // As the real API: the call's list becomes the zone, and an omitted EmailType loses the mail setting.
    const before = { txt: byName(key, zone.hosts, "TXT"), cname: byName(key, zone.hosts, "CNAME") };
    zone.hosts = hosts;
    zone.emailType = params.EmailType ?? "NONE";
    if (opts.mirror) {
      const after = { txt: byName(key, hosts, "TXT"), cname: byName(key, hosts, "CNAME") };
      for (const type of ["txt", "cname"] as const) {
        for (const name of new Set([...before[type].keys(), ...after[type].keys()])) {
          const values = after[type].get(name) ?? [];
          if (values.join("\n") === (before[type].get(name) ?? []).join("\n")) continue;
          if (type === "txt") await mirrorName(opts.mirror, name, values);
          else await mirrorCname(opts.mirror, name, values[0]?.replace(/\.$/, "") ?? null);
        }
      }
    }
    return xml(envelope(command, "OK", [], `<DomainDNSSetHostsResult Domain="${esc(key)}" IsSuccess="true"><Warnings /></DomainDNSSetHostsResult>`));
  }

  async function handle(req: Request): Promise<Response> {
    // The real API takes GET too, but rota must POST: a GET puts the key in the URL.
    const params = Object.fromEntries(new URLSearchParams(req.method === "POST" ? await req.text() : new URL(req.url).search));
    const command = params.Command ?? "";
    fake.requests.push({ method: req.method, command, params });
    if (req.method !== "POST") return new Response("POST only here", { status: 405 });
    const error = (n: string, t: string) => xml(envelope(command, "ERROR", [[n, t]], ""));
    if (params.ApiUser !== fake.apiUser || params.ApiKey !== fake.apiKey) return error("1011102", "Parameter APIKey is invalid");
    if (params.UserName !== fake.apiUser) return error("1011102", "Parameter UserName is invalid");
    if (params.ClientIp?.includes(":")) return error("1011105", "Parameter ClientIp is invalid");
    if (params.ClientIp !== fake.clientIp) return error("1011150", `Invalid request IP: ${params.ClientIp}`);
    if (ssl && command.startsWith("namecheap.ssl.")) {
      const r = await ssl.handle(command, params);
      return new Response(r.body, { status: r.status, headers: { "content-type": r.contentType ?? "text/xml; charset=utf-8", ...r.headers } });
    }
    const key = `${params.SLD ?? ""}.${params.TLD ?? ""}`.toLowerCase();
    const zone = fake.zones.get(key);

    if (command === "namecheap.domains.dns.getHosts") {
      if (fake.getHostsDelayMs > 0) await Bun.sleep(fake.getHostsDelayMs);
      const canned = fake.nextGetHostsReply;
      if (canned !== undefined) {
        fake.nextGetHostsReply = undefined;
        return xml(canned);
      }
      if (!zone) return error("2019166", "Domain not found");
      const hosts = zone.hosts
        .map(
          (h) =>
            `<host HostId="${hostId++}" Name="${esc(h.name)}" Type="${esc(h.type)}" Address="${esc(h.address)}" MXPref="${esc(h.mxPref)}" TTL="${esc(h.ttl)}" AssociatedAppTitle="" FriendlyName="" IsActive="true" IsDDNSEnabled="false" />`,
        )
        .join("\n      ");
      return xml(
        envelope(
          command,
          "OK",
          [],
          `<DomainDNSGetHostsResult Domain="${esc(key)}" EmailType="${esc(zone.emailType)}" IsUsingOurDNS="${zone.isUsingOurDns}">
      ${hosts}
    </DomainDNSGetHostsResult>`,
        ),
      );
    }
    if (command === "namecheap.domains.dns.setHosts") {
      const held = heldSetHosts;
      heldSetHosts = undefined;
      if (!held) return setHosts(key, params, error);
      held.arrive();
      await held.released;
      try {
        return await setHosts(key, params, error);
      } finally {
        held.finish();
      }
    }
    if (command === "namecheap.domains.getList") {
      // https://www.namecheap.com/support/api/methods/domains/get-list/: PageSize is 10 to 100.
      const size = Number(params.PageSize ?? "20");
      if (!Number.isInteger(size) || size < 10 || size > 100) return error("2011170", "PageSize should be between 10 and 100");
      const names = [...fake.zones.keys()];
      const domains = names
        .slice(0, size)
        .map((n, i) => `<Domain ID="${i + 1}" Name="${esc(n)}" User="${esc(fake.apiUser)}" IsExpired="false" IsLocked="false" AutoRenew="false" IsOurDNS="${fake.zones.get(n)!.isUsingOurDns}" />`)
        .join("");
      return xml(
        envelope(command, "OK", [], `<DomainGetListResult>${domains}</DomainGetListResult><Paging><TotalItems>${names.length}</TotalItems><CurrentPage>1</CurrentPage><PageSize>${size}</PageSize></Paging>`),
      );
    }
    return error("1010101", `Command ${command} is not supported by the fake`);
  }

  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: handle });
  return Object.assign(fake, {
    url: `http://127.0.0.1:${server.port}/xml.response`,
    stop: async () => {
      await server.stop(true);
      ssl?.close();
    },
  });
}
