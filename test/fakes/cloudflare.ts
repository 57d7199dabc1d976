/**
 * @module A fake of the Cloudflare v4 API, the DNS-01 and CNAME part, on loopback: `GET /zones?name=`,
 * and list / create / delete under `/zones/{zone_id}/dns_records`. Built to the documented
 * shapes (https://developers.cloudflare.com/api/, vendor-apis.md): every reply is the
 * envelope `{success, errors: [{code, message}], messages, result}`, errors with their
 * 4xx status. It checks what the real API checks and a backend could get wrong: the Bearer
 * token (400 6003 without one, 403 9109 for a wrong one), the zone id (400 7003), the
 * token's permissions (403 10000), the record (a name outside the zone, a bad TTL: 400
 * 1004; an identical record: 400 81058; a CNAME beside another record at its name: 400 81053),
 * an unknown record id (404 81044). Every request is
 * recorded, token header included, so tests assert what was sent. `holdNextCreate` keeps a
 * create between its arrival and its effect, as Cloudflare may still make a record whose
 * client gave up on the request.
 */
import { newHold, type Hold, type HeldRequest } from "./hold.ts";
import { mirrorCname, mirrorName, type TxtMirror } from "./txt-mirror.ts";

export interface FakeZone {
  id: string;
  name: string;
}

export interface FakeRecord {
  id: string;
  zoneId: string;
  type: string;
  name: string;
  content: string;
  ttl: number;
  proxied: boolean;
}

export interface RecordedRequest {
  method: string;
  /** The path below the API base (`/zones/…/dns_records`), without the query. */
  path: string;
  query: Record<string, string>;
  authorization: string | null;
  contentType: string | null;
  body: unknown;
}

export interface CannedReply {
  status: number;
  /** Sent as JSON; a string is sent as it is (a proxy's HTML page). */
  body: unknown;
  headers?: Record<string, string>;
}

export interface FakeCloudflare {
  /** The API base as `api_url` takes it, `/client/v4` included. */
  url: string;
  requests: RecordedRequest[];
  /** What the token may do; tests take a permission away to see the backend's message. */
  permissions: { zoneRead: boolean; dnsEdit: boolean };
  /** Replies sent before the real handling, first in first out (429s, outages). */
  canned: CannedReply[];
  /** Holds the next create (POST dns_records) after it is recorded, until released; carried out then, whether its client still waits or not. */
  holdNextCreate(): Hold;
  records(): FakeRecord[];
  /** Every TXT value at `name` (no trailing dot), as a resolver would read them. */
  txt(name: string): string[];
  /** The CNAME targets at `name` (no trailing dot). */
  cname(name: string): string[];
  stop(): Promise<void>;
}

const BASE = "/client/v4";

/** A 32-hex-digit id, the form of Cloudflare zone and record ids. */
export function cloudflareId(): string {
  return crypto.randomUUID().replaceAll("-", "");
}

export function startFakeCloudflare(opts: { token: string; zones: FakeZone[]; mirror?: TxtMirror }): FakeCloudflare {
  const records: FakeRecord[] = [];
  const requests: RecordedRequest[] = [];
  const permissions = { zoneRead: true, dnsEdit: true };
  const canned: CannedReply[] = [];
  let heldCreate: HeldRequest | undefined;
  const txtAt = (name: string) => records.filter((r) => r.type === "TXT" && r.name === name).map((r) => r.content);
  const cnameAt = (name: string) => records.filter((r) => r.type === "CNAME" && r.name === name).map((r) => r.content);
  const mirror = async (name: string) => {
    if (!opts.mirror) return;
    await mirrorName(opts.mirror, name, txtAt(name));
    await mirrorCname(opts.mirror, name, cnameAt(name)[0] ?? null);
  };

  const reply = (status: number, result: unknown, errors: { code: number; message: string }[] = [], headers: Record<string, string> = {}) =>
    Response.json({ success: errors.length === 0, errors, messages: [], result: errors.length === 0 ? result : null }, { status, headers });
  const fail = (status: number, code: number, message: string) => reply(status, null, [{ code, message }]);

  async function create(zone: FakeZone, body: unknown): Promise<Response> {
    const b = (body ?? {}) as Partial<FakeRecord>;
    if (b.type !== "TXT" && b.type !== "CNAME") return fail(400, 1004, "DNS Validation Error: this fake only takes TXT and CNAME records");
    if (typeof b.name !== "string" || !(b.name === zone.name || b.name.endsWith(`.${zone.name}`))) {
      return fail(400, 1004, `DNS Validation Error: name ${JSON.stringify(b.name)} is not in zone ${zone.name}`);
    }
    if (typeof b.content !== "string" || b.content === "") return fail(400, 9007, `Content for ${b.type} record is invalid.`);
    // A CNAME owns its name (RFC 1034 §3.6.2); Cloudflare refuses either side of the clash.
    const sameName = records.filter((r) => r.zoneId === zone.id && r.name === b.name);
    if ((b.type === "CNAME" && sameName.length > 0) || sameName.some((r) => r.type === "CNAME")) {
      return fail(400, 81053, "An A, AAAA, or CNAME record with that host already exists.");
    }
    const ttl = b.ttl ?? 1;
    if (typeof ttl !== "number" || !(ttl === 1 || (ttl >= 60 && ttl <= 86_400))) return fail(400, 1004, "DNS Validation Error: ttl must be 1 or between 60 and 86400");
    if (records.some((r) => r.zoneId === zone.id && r.type === b.type && r.name === b.name && r.content === b.content)) {
      return fail(400, 81058, "An identical record already exists.");
    }
    // Cloudflare's default for a record sent without `proxied` is false; only A, AAAA and CNAME can be proxied.
    const proxied = b.type === "CNAME" && b.proxied === true;
    const record: FakeRecord = { id: cloudflareId(), zoneId: zone.id, type: b.type, name: b.name, content: b.content, ttl, proxied };
    records.push(record);
    await mirror(record.name);
    return reply(200, shown(record));
  }

  async function handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const text = await req.text();
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      // Recorded as sent: a test sees the malformed body.
    }
    const path = url.pathname.startsWith(BASE) ? url.pathname.slice(BASE.length) : url.pathname;
    const query = Object.fromEntries(url.searchParams);
    const authorization = req.headers.get("authorization");
    requests.push({ method: req.method, path, query, authorization, contentType: req.headers.get("content-type"), body });

    const next = canned.shift();
    if (next) {
      return typeof next.body === "string"
        ? new Response(next.body, { status: next.status, headers: { "content-type": "text/html", ...next.headers } })
        : Response.json(next.body, { status: next.status, headers: next.headers });
    }
    if (!url.pathname.startsWith(BASE)) return fail(400, 7000, "No route for that URI");
    if (!authorization?.startsWith("Bearer ")) return fail(400, 6003, "Invalid request headers");
    if (authorization.slice("Bearer ".length) !== opts.token) return fail(403, 9109, "Invalid access token");

    if (path === "/zones" && req.method === "GET") {
      if (!permissions.zoneRead) return fail(403, 10000, "Authentication error");
      const zones = opts.zones.filter((z) => query.name === undefined || z.name === query.name);
      return reply(200, zones.map((z) => ({ id: z.id, name: z.name, status: "active" })));
    }
    const m = /^\/zones\/([^/]+)\/dns_records(?:\/([^/]+))?$/.exec(path);
    if (!m) return fail(400, 7000, "No route for that URI");
    const zone = opts.zones.find((z) => z.id === m[1]);
    if (!zone) return fail(400, 7003, `Could not route to ${path}, perhaps your object identifier is invalid?`);
    if (!permissions.dnsEdit) return fail(403, 10000, "Authentication error");
    const recordId = m[2];

    if (req.method === "GET" && recordId === undefined) {
      const found = records.filter(
        (r) =>
          r.zoneId === zone.id &&
          (query.type === undefined || r.type === query.type) &&
          (query.name === undefined || r.name === query.name) &&
          (query.content === undefined || r.content === query.content),
      );
      return reply(200, found.map(shown));
    }
    if (req.method === "POST" && recordId === undefined) {
      const held = heldCreate;
      heldCreate = undefined;
      if (!held) return create(zone, body);
      held.arrive();
      await held.released;
      try {
        return await create(zone, body);
      } finally {
        held.finish();
      }
    }
    if (req.method === "DELETE" && recordId !== undefined) {
      const i = records.findIndex((r) => r.zoneId === zone.id && r.id === recordId);
      if (i < 0) return fail(404, 81044, "Record does not exist.");
      const [gone] = records.splice(i, 1);
      if (gone) await mirror(gone.name);
      return reply(200, { id: recordId });
    }
    return fail(405, 10000, "Method not allowed");
  }

  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: handle });
  return {
    url: `http://127.0.0.1:${server.port}${BASE}`,
    requests,
    permissions,
    canned,
    holdNextCreate() {
      const { hold, held } = newHold();
      heldCreate = held;
      return hold;
    },
    records: () => records.map((r) => ({ ...r })),
    txt: txtAt,
    cname: cnameAt,
    stop: () => server.stop(true),
  };
}

function shown(r: FakeRecord) {
  return { id: r.id, zone_id: r.zoneId, type: r.type, name: r.name, content: r.content, ttl: r.ttl, proxied: r.proxied };
}
