/**
 * @module A fake of Namecheap's XML API (`namecheap.domains.dns.getHosts` / `setHosts`, and
 * `namecheap.domains.getList`, which `rota doctor` reads),
 * loopback only, built to the documented shapes: errors as HTTP 200 with
 * `Status="ERROR"` and numbered `<Error>`s, credentials and the ClientIp allow-list
 * checked on every call, and setHosts as the real one behaves: it REPLACES THE WHOLE
 * ZONE and drops the mail setting when `EmailType` is omitted. Every request is recorded.
 */
import { mirrorName, type TxtMirror } from "./txt-mirror.ts";

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
  stop(): Promise<void>;
}

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

/** Each TXT name of a zone (fully qualified) with its values. */
function txtByName(domain: string, hosts: FakeHost[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const h of hosts) {
    if (h.type.toUpperCase() !== "TXT") continue;
    const name = h.name === "@" ? domain : `${h.name.toLowerCase()}.${domain}`;
    out.set(name, [...(out.get(name) ?? []), h.address]);
  }
  return out;
}

export function startFakeNamecheap(opts: { apiUser?: string; apiKey?: string; clientIp?: string; mirror?: TxtMirror } = {}): FakeNamecheap {
  const fake: Omit<FakeNamecheap, "url" | "stop"> = {
    apiUser: opts.apiUser ?? "alice",
    apiKey: opts.apiKey ?? "k3y-0123456789abcdef",
    clientIp: opts.clientIp ?? "203.0.113.7",
    zones: new Map(),
    requests: [],
    nextGetHostsReply: undefined,
    getHostsDelayMs: 0,
  };
  let hostId = 1000;

  async function handle(req: Request): Promise<Response> {
    const xml = (text: string) => new Response(text, { headers: { "content-type": "text/xml; charset=utf-8" } });
    if (req.method !== "POST") return new Response("POST only here", { status: 405 });
    const params = Object.fromEntries(new URLSearchParams(await req.text()));
    const command = params.Command ?? "";
    fake.requests.push({ command, params });
    const error = (n: string, t: string) => xml(envelope(command, "ERROR", [[n, t]], ""));
    if (params.ApiUser !== fake.apiUser || params.ApiKey !== fake.apiKey) return error("1011102", "Parameter APIKey is invalid");
    if (params.UserName !== fake.apiUser) return error("1011102", "Parameter UserName is invalid");
    if (params.ClientIp?.includes(":")) return error("1011105", "Parameter ClientIp is invalid");
    if (params.ClientIp !== fake.clientIp) return error("1011150", `Invalid request IP: ${params.ClientIp}`);
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
      const before = txtByName(key, zone.hosts);
      zone.hosts = hosts;
      zone.emailType = params.EmailType ?? "NONE";
      if (opts.mirror) {
        const after = txtByName(key, hosts);
        for (const name of new Set([...before.keys(), ...after.keys()])) {
          const values = after.get(name) ?? [];
          if (values.join("\n") !== (before.get(name) ?? []).join("\n")) await mirrorName(opts.mirror, name, values);
        }
      }
      return xml(envelope(command, "OK", [], `<DomainDNSSetHostsResult Domain="${esc(key)}" IsSuccess="true"><Warnings /></DomainDNSSetHostsResult>`));
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
    },
  });
}
