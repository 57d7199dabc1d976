/**
 * @module NamecheapDcv over the fake XML API: the DCV contract, then what only a
 * whole-zone API demands: every record comes back exactly as it was, a read that is not a
 * clean success writes nothing, the requests are POSTs with every value form-encoded, and
 * two processes changing one zone at once both keep every record.
 */
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describeError } from "../../../errors.ts";
import { createLogger } from "../../../log.ts";
import { FakeClock } from "../../../testing/fake-clock.ts";
import type { DcvBackend, DcvChallenge } from "../../types.ts";
import { runDcvContract } from "../contract.ts";
import { startFakeNamecheap, type FakeHost, type FakeNamecheap } from "../../../../test/fakes/namecheap.ts";
import { createNamecheapDcv, placementOf } from "./namecheap.ts";
import { propagationPolicy } from "../../../testing/propagation.ts";
import type { TxtMirror } from "../../../../test/fakes/txt-mirror.ts";

const KEY_ENV = "ROTA_TEST_NAMECHEAP_KEY";

function setup(mirror?: TxtMirror): { fake: FakeNamecheap; dcv: DcvBackend; another: () => DcvBackend; stateDir: string; cleanup: () => Promise<void> } {
  const fake = startFakeNamecheap({ mirror });
  process.env[KEY_ENV] = fake.apiKey;
  const stateDir = mkdtempSync(join(tmpdir(), "rota-namecheap-"));
  /** The backend as another process builds it (the daemon beside a renewal's process): same section, same state folder. */
  const another = () =>
    createNamecheapDcv(
      "nc",
      { apiUser: fake.apiUser, username: fake.apiUser, apiKey: { from: "env", name: KEY_ENV }, clientIp: fake.clientIp, apiUrl: fake.url, propagation: propagationPolicy() },
      { stateDir, clock: new FakeClock(), log: createLogger({ level: "silent" }), emit: () => {}, withheldEnv: () => [] },
    );
  return {
    fake,
    dcv: another(),
    another,
    stateDir,
    cleanup: async () => {
      await fake.stop();
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

function cnameAt(fake: FakeNamecheap, zone: string, host: string): string[] {
  return (fake.zones.get(zone)?.hosts ?? []).filter((h) => h.type === "CNAME" && h.name === host).map((h) => h.address.replace(/\.$/, ""));
}

function txtAt(fake: FakeNamecheap, zone: string, host: string): string[] {
  return (fake.zones.get(zone)?.hosts ?? []).filter((h) => h.type === "TXT" && h.name === host).map((h) => h.address);
}

runDcvContract("namecheap (fake XML API)", () => {
  const s = setup();
  s.fake.zones.set("example.com", { emailType: "MX", isUsingOurDns: true, hosts: [{ name: "@", type: "A", address: "192.0.2.1", mxPref: "10", ttl: "1800" }] });
  return {
    backend: s.dcv,
    async lookup(ch) {
      if (ch.kind === "http-01") return [];
      const host = ch.recordName.replace(/\.example\.com$/, "");
      return ch.kind === "dns-01" ? txtAt(s.fake, "example.com", host) : cnameAt(s.fake, "example.com", host);
    },
    cleanup: s.cleanup,
  };
});

runDcvContract("namecheap (fake XML API), as mirrored to DNS", () => {
  // What challtestsrv would serve, kept the way it keeps it: values per name, cleared per name.
  const served = new Map<string, string[]>();
  const cnames = new Map<string, string>();
  const s = setup({
    setTxt: async (host, value) => void served.set(host, [...(served.get(host) ?? []), value]),
    clearTxt: async (host) => void served.delete(host),
    setCname: async (host, target) => void cnames.set(host, target),
    clearCname: async (host) => void cnames.delete(host),
  });
  s.fake.zones.set("example.com", { emailType: "MX", isUsingOurDns: true, hosts: [{ name: "@", type: "TXT", address: "v=spf1 -all", mxPref: "10", ttl: "1800" }] });
  const lookup = async (ch: DcvChallenge) => {
    if (ch.kind === "dns-01") return served.get(ch.recordName) ?? [];
    const target = ch.kind === "dns-cname" ? cnames.get(ch.recordName) : undefined;
    return target === undefined ? [] : [target];
  };
  return { backend: s.dcv, lookup, cleanup: s.cleanup };
});

/** Every kind of record a user keeps, with the values other tools mangled. */
const SEEDED: FakeHost[] = [
  { name: "@", type: "A", address: "192.0.2.1", mxPref: "10", ttl: "1800" },
  { name: "@", type: "AAAA", address: "2001:db8::1", mxPref: "10", ttl: "1800" },
  { name: "www", type: "CNAME", address: "example.com.", mxPref: "10", ttl: "300" },
  { name: "@", type: "MX", address: "mx1.example.net.", mxPref: "5", ttl: "3600" },
  { name: "@", type: "MX", address: "mx2.example.net.", mxPref: "20", ttl: "3600" },
  { name: "@", type: "TXT", address: "v=spf1 include:_spf.example.net +a ~all", mxPref: "10", ttl: "1799" },
  { name: "google", type: "TXT", address: 'k=rsa; p=MIGf+/AB==; note="quoted" & <tagged>', mxPref: "10", ttl: "60" },
  { name: "hello", type: "TXT", address: "grüße, 世界 🎉  two  spaces", mxPref: "10", ttl: "1800" },
  { name: "@", type: "CAA", address: '0 issue "letsencrypt.org"', mxPref: "10", ttl: "1800" },
  { name: "@", type: "CAA", address: '128 iodef "mailto:security@example.com"', mxPref: "10", ttl: "1800" },
  { name: "go", type: "URL", address: "http://example.org/a?b=c+d&e=f", mxPref: "10", ttl: "1800" },
  { name: "moved", type: "URL301", address: "https://example.org/new", mxPref: "10", ttl: "1800" },
  { name: "framed", type: "FRAME", address: "https://example.org/frame", mxPref: "10", ttl: "1800" },
  { name: "_acme-challenge", type: "TXT", address: "someone-elses-value", mxPref: "10", ttl: "60" },
];

describe("namecheap", () => {
  let s: ReturnType<typeof setup>;
  const signal = new AbortController().signal;
  const challenge = (recordValue = "b3VyLXZhbHVl", recordName = "_acme-challenge.example.com"): DcvChallenge => ({ kind: "dns-01", recordName, recordValue, ttl: 60 });

  beforeEach(() => {
    s = setup();
    s.fake.zones.set("example.com", { emailType: "MX", isUsingOurDns: true, hosts: SEEDED.map((h) => ({ ...h })) });
  });
  afterEach(() => s.cleanup());

  test("every record and the EmailType come back identical after publish and remove", async () => {
    await s.dcv.publish(challenge(), signal);
    const zone = s.fake.zones.get("example.com");
    expect(zone?.hosts).toEqual([...SEEDED, { name: "_acme-challenge", type: "TXT", address: "b3VyLXZhbHVl", mxPref: "10", ttl: "60" }]);
    expect(zone?.emailType).toBe("MX");
    await s.dcv.remove(challenge(), signal);
    expect(zone?.hosts).toEqual(SEEDED);
    expect(zone?.emailType).toBe("MX");
  });

  test("requests are POSTs with the credentials, the ClientIp and EmailType, and one getHosts + setHosts per change", async () => {
    await s.dcv.publish(challenge(), signal);
    expect(s.fake.requests.map((r) => r.command)).toEqual(["namecheap.domains.dns.getHosts", "namecheap.domains.dns.setHosts"]);
    const set = s.fake.requests[1]?.params ?? {};
    expect(set).toMatchObject({ ApiUser: "alice", UserName: "alice", ApiKey: s.fake.apiKey, ClientIp: "203.0.113.7", SLD: "example", TLD: "com", EmailType: "MX" });
    expect(set.Address6).toBe(SEEDED[5]?.address as string);
    // Already published: a read and no write.
    await s.dcv.publish(challenge(), signal);
    expect(s.fake.requests.map((r) => r.command).slice(2)).toEqual(["namecheap.domains.dns.getHosts"]);
  });

  test("remove leaves other values at _acme-challenge", async () => {
    await s.dcv.publish(challenge(), signal);
    await s.dcv.remove(challenge(), signal);
    expect(txtAt(s.fake, "example.com", "_acme-challenge")).toEqual(["someone-elses-value"]);
  });

  const badReads: [string, string, RegExp][] = [
    ["an API error", `<?xml version="1.0"?><ApiResponse Status="ERROR"><Errors><Error Number="2019166">Domain not found</Error></Errors></ApiResponse>`, /2019166 Domain not found/],
    ["an empty reply", "", /malformed reply \(empty document\)/],
    ["a cut-off reply", `<?xml version="1.0"?><ApiResponse Status="OK"><Errors /><CommandResponse><DomainDNSGetHostsResult Domain="example.com" EmailType="MX" IsUsingOurDNS="true"><host Name="@" Type="A" Address="192.0.2.1" MXPref="10" TTL="1800" />`, /malformed reply/],
    ["a reply with no result", `<ApiResponse Status="OK"><Errors /><CommandResponse Type="namecheap.domains.dns.getHosts" /></ApiResponse>`, /no DomainDNSGetHostsResult/],
    ["a host without its TTL", `<ApiResponse Status="OK"><Errors /><CommandResponse><DomainDNSGetHostsResult Domain="example.com" EmailType="MX" IsUsingOurDNS="true"><host Name="@" Type="A" Address="192.0.2.1" MXPref="10" /></DomainDNSGetHostsResult></CommandResponse></ApiResponse>`, /lacks/],
    [
      "a reply for another domain",
      `<ApiResponse Status="OK"><Errors /><CommandResponse><DomainDNSGetHostsResult Domain="nc.test" EmailType="MX" IsUsingOurDNS="true"><host Name="@" Type="A" Address="192.0.2.9" MXPref="10" TTL="1800" /></DomainDNSGetHostsResult></CommandResponse></ApiResponse>`,
      /getHosts example\.com: the reply is for "nc\.test", not example\.com; nothing written/,
    ],
    ["a reply without Domain", `<ApiResponse Status="OK"><Errors /><CommandResponse><DomainDNSGetHostsResult EmailType="MX" IsUsingOurDNS="true"></DomainDNSGetHostsResult></CommandResponse></ApiResponse>`, /no Domain; nothing written/],
    ["a reply without EmailType", `<ApiResponse Status="OK"><Errors /><CommandResponse><DomainDNSGetHostsResult IsUsingOurDNS="true"></DomainDNSGetHostsResult></CommandResponse></ApiResponse>`, /no EmailType/],
    ["a domain not on Namecheap's DNS", `<ApiResponse Status="OK"><Errors /><CommandResponse><DomainDNSGetHostsResult EmailType="MX" IsUsingOurDNS="false"></DomainDNSGetHostsResult></CommandResponse></ApiResponse>`, /does not use Namecheap's DNS/],
  ];
  for (const [what, reply, reason] of badReads) {
    test(`${what} from getHosts writes nothing and fails with the reason`, async () => {
      for (const op of ["publish", "remove"] as const) {
        s.fake.nextGetHostsReply = reply;
        const err = await s.dcv[op](challenge("someone-elses-value"), signal).then(() => undefined, (e: unknown) => e);
        expect(describeError(err)).toMatch(/^namecheap nc: /);
        expect(describeError(err)).toMatch(reason);
      }
      expect(s.fake.requests.map((r) => r.command)).not.toContain("namecheap.domains.dns.setHosts");
      expect(s.fake.zones.get("example.com")?.hosts).toEqual(SEEDED);
    });
  }

  test("an IP not on the allow-list says where to add it, and no error shows the API key", async () => {
    s.fake.clientIp = "198.51.100.9";
    const err = await s.dcv.publish(challenge(), signal).then(() => undefined, (e: unknown) => e);
    expect(describeError(err)).toBe(
      "namecheap nc: this machine's IP is not on the API allow-list (Profile → Tools → API Access); client_ip is 203.0.113.7 (error 1011150)",
    );
    s.fake.apiKey = "another";
    const bad = await s.dcv.publish(challenge(), signal).then(() => undefined, (e: unknown) => e);
    expect(describeError(bad)).toBe("namecheap nc: namecheap.domains.dns.getHosts: 1011102 Parameter APIKey is invalid");
    expect(describeError(err) + describeError(bad)).not.toContain(process.env[KEY_ENV] as string);
  });

  test("an aborted signal sends nothing", async () => {
    const err = await s.dcv.publish(challenge(), AbortSignal.abort()).then(() => undefined, (e: unknown) => e);
    expect((err as { code?: string }).code).toBe("aborted");
    expect(s.fake.requests).toEqual([]);
  });

  /** A publish of `ch` whose setHosts Namecheap holds, cut short by a shutdown while it is held. */
  async function publishCutShort(ch: DcvChallenge) {
    const hold = s.fake.holdNextSetHosts();
    const ac = new AbortController();
    const publishing = s.dcv.publish(ch, ac.signal).catch((e: unknown) => e);
    await hold.arrived;
    ac.abort(new Error("daemon stopping"));
    expect(await publishing).toMatchObject({ code: "aborted", message: "namecheap nc: cancelled" });
    return hold;
  }

  // A daemon stopping while setHosts is on its way: the renewal's remove read a zone without
  // our record and wrote nothing, then Namecheap carried out the setHosts; the record stayed for good.
  test("remove after a setHosts cut short waits for it, re-reads the zone and takes our record out", async () => {
    const hold = await publishCutShort(challenge());
    const removing = s.dcv.remove(challenge(), AbortSignal.timeout(10_000));
    // Namecheap answers once remove has had its chance to read first: a remove that does not wait reads no record and returns.
    await Promise.race([removing, Bun.sleep(250)]);
    hold.release();
    await removing;
    await hold.done;
    expect(s.fake.zones.get("example.com")?.hosts).toEqual(SEEDED);
    const sets = s.fake.requests.filter((r) => r.command === "namecheap.domains.dns.setHosts");
    expect(s.fake.requests.map((r) => r.command.replace("namecheap.domains.dns.", ""))).toEqual(["getHosts", "setHosts", "getHosts", "setHosts"]);
    expect(sets.map((r) => r.params[`Address${SEEDED.length + 1}`])).toEqual(["b3VyLXZhbHVl", undefined]);
  });

  test("remove whose signal fires while a cut-short setHosts runs fails (the challenge stays journaled); the daemon's journal sweep waits for it and takes the record out", async () => {
    const hold = await publishCutShort(challenge());
    await expect(s.dcv.remove(challenge(), AbortSignal.timeout(100))).rejects.toMatchObject({
      code: "zone_busy",
      message: "namecheap nc: example.com: a setHosts sent earlier still awaits Namecheap's reply; nothing read or written until it ends",
    });
    expect(s.fake.requests.map((r) => r.command)).toEqual(["namecheap.domains.dns.getHosts", "namecheap.domains.dns.setHosts"]);
    // The daemon sweeps the journal as soon as the renewal ends, while Namecheap still works on the setHosts.
    const sweeping = s.another().remove(challenge(), AbortSignal.timeout(10_000));
    await Promise.race([sweeping, Bun.sleep(250)]);
    hold.release();
    await sweeping;
    await hold.done;
    expect(s.fake.zones.get("example.com")?.hosts).toEqual(SEEDED);
    expect(s.fake.requests.map((r) => r.command.replace("namecheap.domains.dns.", ""))).toEqual(["getHosts", "setHosts", "getHosts", "setHosts"]);
  });

  test("another cert's publish to the zone waits for a cut-short setHosts instead of being overwritten by it", async () => {
    const hold = await publishCutShort(challenge());
    const other = challenge("b3RoZXItY2VydA", "_acme-challenge.www.example.com");
    const publishing = s.dcv.publish(other, AbortSignal.timeout(10_000));
    await Promise.race([publishing, Bun.sleep(250)]);
    hold.release();
    await publishing;
    await hold.done;
    expect(txtAt(s.fake, "example.com", "_acme-challenge.www")).toEqual(["b3RoZXItY2VydA"]);
    expect(txtAt(s.fake, "example.com", "_acme-challenge")).toEqual(["someone-elses-value", "b3VyLXZhbHVl"]);
  });

  test("two processes publishing to one zone at once both keep every record", async () => {
    // Each read is held long enough that, unserialised, both would read before either writes.
    s.fake.getHostsDelayMs = 150;
    const writer = join(import.meta.dir, "../../../../test/fakes/namecheap-writer.ts");
    const run = (value: string) =>
      Bun.spawn(["bun", writer, s.fake.url, s.stateDir, "_acme-challenge.example.com", value], {
        env: { ...process.env, NAMECHEAP_KEY: s.fake.apiKey },
        stdout: "inherit",
        stderr: "inherit",
      });
    const procs = [run("dmFsdWUtb25l"), run("dmFsdWUtdHdv")];
    expect(await Promise.all(procs.map((p) => p.exited))).toEqual([0, 0]);
    expect(s.fake.requests.map((r) => r.command.replace("namecheap.domains.dns.", ""))).toEqual(["getHosts", "setHosts", "getHosts", "setHosts"]);
    expect(txtAt(s.fake, "example.com", "_acme-challenge").sort()).toEqual(["dmFsdWUtb25l", "dmFsdWUtdHdv", "someone-elses-value"]);
    expect(s.fake.zones.get("example.com")?.hosts.slice(0, SEEDED.length)).toEqual(SEEDED);
  });
});

describe("namecheap dns-cname", () => {
  let s: ReturnType<typeof setup>;
  const signal = new AbortController().signal;
  const cname: DcvChallenge = { kind: "dns-cname", recordName: "_7F3A09.shop.example.com", target: "1a2b.c3d4.u1.sectigo.com", ttl: 60 };

  beforeEach(() => {
    s = setup();
    s.fake.zones.set("example.com", { emailType: "MX", isUsingOurDns: true, hosts: SEEDED.map((h) => ({ ...h })) });
  });
  afterEach(() => s.cleanup());

  test("publish sends a CNAME host relative to the zone, every other host back byte for byte; remove restores the zone", async () => {
    await s.dcv.publish(cname, signal);
    const set = s.fake.requests.find((r) => r.command === "namecheap.domains.dns.setHosts")?.params ?? {};
    const n = SEEDED.length + 1;
    expect([set[`HostName${n}`], set[`RecordType${n}`], set[`Address${n}`], set[`TTL${n}`]]).toEqual(["_7f3a09.shop", "CNAME", "1a2b.c3d4.u1.sectigo.com", "60"]);
    expect(s.fake.zones.get("example.com")?.hosts.slice(0, SEEDED.length)).toEqual(SEEDED);
    await s.dcv.remove(cname, signal);
    expect(s.fake.zones.get("example.com")?.hosts).toEqual(SEEDED);
  });

  test("the CNAME as getHosts returns it, with a trailing dot and in capitals, is ours: no second write, and remove takes it", async () => {
    s.fake.zones.get("example.com")?.hosts.push({ name: "_7f3a09.shop", type: "CNAME", address: "1A2B.C3D4.U1.SECTIGO.COM.", mxPref: "10", ttl: "60" });
    await s.dcv.publish(cname, signal);
    expect(s.fake.requests.map((r) => r.command)).toEqual(["namecheap.domains.dns.getHosts"]);
    await s.dcv.remove(cname, signal);
    expect(s.fake.zones.get("example.com")?.hosts).toEqual(SEEDED);
  });

  test("another record at the name is an error and nothing is written", async () => {
    const err = await s.dcv.publish({ ...cname, recordName: "www.example.com" }, signal).then(() => undefined, (e: unknown) => e);
    expect(describeError(err)).toBe("namecheap nc: www.example.com already holds a CNAME record; a CNAME cannot share its name, so nothing was overwritten");
    expect(s.fake.requests.map((r) => r.command)).not.toContain("namecheap.domains.dns.setHosts");
  });
});

describe("placementOf", () => {
  test("splits on the Public Suffix List, multi-part suffixes included", () => {
    expect(placementOf("_acme-challenge.example.com")).toEqual({ sld: "example", tld: "com", host: "_acme-challenge" });
    expect(placementOf("_acme-challenge.www.Example.co.uk.")).toEqual({ sld: "example", tld: "co.uk", host: "_acme-challenge.www" });
    expect(placementOf("example.com")).toEqual({ sld: "example", tld: "com", host: "@" });
  });
  test("an unknown TLD splits on its last label", () => {
    expect(placementOf("_acme-challenge.a.b.test")).toEqual({ sld: "b", tld: "test", host: "_acme-challenge.a" });
  });
});
