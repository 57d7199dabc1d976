/**
 * End to end: names people have. A Unicode name and an IP address issued by pebble (an
 * `ip` identifier proven over HTTP-01 through nginx), an IP-only certificate, and Unicode,
 * wildcard and IPv4/IPv6 names from the local CA; the CA sees A-labels, `rota list` shows both
 * forms, and the next ticks find the installed names unchanged.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { runRota, startDaemon, waitFor, type Daemon } from "../harness/index.ts";
import { audit, list, waitForFile, type ListRow } from "./helpers.ts";
import { startWorld, type World } from "./fixture.ts";

let world: World;
let daemon: Daemon;

const IDS = ["idn", "ip-only", "home"];

beforeAll(async () => {
  world = await startWorld();
  const config = world.writeConfig({
    daemon: { check_interval_seconds: 1 },
    certs: [
      { id: "idn", domains: ["Bücher.example.test.", "127.0.0.1"] },
      { id: "ip-only", domains: ["127.0.0.1"] },
    ],
    extra: `
[[ca]]
name = "internal"
type = "local"

[[cert]]
id = "home"
domains = ["bücher.home.arpa", "*.bücher.home.arpa", "192.0.2.7", "2001:DB8:0:0::7"]
ca = "internal"
install = "files"
key_path = ${JSON.stringify(join(world.stateDir, "keys", "home.key"))}
`,
  });
  daemon = startDaemon(config, { env: world.env });
  for (const id of IDS) await waitForFile(join(world.certsDir, id, "cert.pem"));
});

afterAll(async () => {
  await daemon?.stop();
  await world?.stop();
});

function openssl(args: string[]): { code: number; out: string } {
  const p = Bun.spawnSync(["openssl", ...args], { stdout: "pipe", stderr: "pipe" });
  return { code: p.exitCode ?? -1, out: p.stdout.toString() + p.stderr.toString() };
}

/** `-subject` and `-ext subjectAltName` of an installed certificate, as openssl prints them. */
function names(id: string): { subject: string; sans: string[] } {
  const out = openssl(["x509", "-in", join(world.certsDir, id, "cert.pem"), "-noout", "-subject", "-ext", "subjectAltName"]).out;
  const [subject = "", , sanLine = ""] = out.split("\n").map((l) => l.trim());
  return { subject, sans: sanLine.split(", ").sort() };
}

/** `openssl verify` of an installed certificate against `root` (default: its own chain as trust anchor), with a name check. */
function verifies(id: string, root: string | undefined, check: string[]): boolean {
  const dir = join(world.certsDir, id);
  const chain = join(dir, "chain.pem");
  const trust = root === undefined ? ["-partial_chain", "-CAfile", chain] : ["-CAfile", root, "-untrusted", chain];
  const r = openssl(["verify", ...trust, ...check, join(dir, "cert.pem")]);
  return r.code === 0 && r.out.includes(": OK");
}

describe("from pebble", () => {
  test("a Unicode name goes to the CA as its A-label, an IP address as an iPAddress SAN", async () => {
    expect(names("idn").sans).toEqual(["DNS:xn--bcher-kva.example.test", "IP Address:127.0.0.1"]);
    const root = join(world.dir, "pebble-root.pem");
    writeFileSync(root, await world.pebble.rootPem());
    expect(verifies("idn", root, ["-verify_hostname", "xn--bcher-kva.example.test"])).toBe(true);
    expect(verifies("idn", root, ["-verify_ip", "127.0.0.1"])).toBe(true);
  });

  test("a certificate for an IP address alone: a CSR without CN is accepted", async () => {
    expect(names("ip-only").sans).toEqual(["IP Address:127.0.0.1"]);
    const root = join(world.dir, "pebble-root.pem");
    writeFileSync(root, await world.pebble.rootPem());
    expect(verifies("ip-only", root, ["-verify_ip", "127.0.0.1"])).toBe(true);
  });
});

describe("from the local CA", () => {
  test("Unicode and wildcard names as A-labels, IPv4 and IPv6 as iPAddress SANs", () => {
    const { subject, sans } = names("home");
    expect(subject).toBe("subject=CN = xn--bcher-kva.home.arpa");
    expect(sans).toEqual(["DNS:*.xn--bcher-kva.home.arpa", "DNS:xn--bcher-kva.home.arpa", "IP Address:192.0.2.7", "IP Address:2001:DB8:0:0:0:0:0:7"]);
    expect(verifies("home", undefined, ["-verify_ip", "2001:db8::7"])).toBe(true);
    expect(verifies("home", undefined, ["-verify_hostname", "x.xn--bcher-kva.home.arpa"])).toBe(true);
    expect(verifies("home", undefined, ["-verify_ip", "2001:db8::8"])).toBe(false);
  });
});

describe("rota list", () => {
  test("domains are the A-labels and canonical IPs, domains_unicode the names for people", async () => {
    const rows = (await list(world.socket)) as Array<ListRow & { domains_unicode: string[] }>;
    const byId = Object.fromEntries(rows.map((r) => [r.id, { domains: r.domains, domains_unicode: r.domains_unicode }]));
    expect(byId).toEqual({
      idn: { domains: ["xn--bcher-kva.example.test", "127.0.0.1"], domains_unicode: ["bücher.example.test", "127.0.0.1"] },
      "ip-only": { domains: ["127.0.0.1"], domains_unicode: ["127.0.0.1"] },
      home: {
        domains: ["xn--bcher-kva.home.arpa", "*.xn--bcher-kva.home.arpa", "192.0.2.7", "2001:db8::7"],
        domains_unicode: ["bücher.home.arpa", "*.bücher.home.arpa", "192.0.2.7", "2001:db8::7"],
      },
    });
  });

  test("the human list and show print both forms of a Unicode name", async () => {
    const table = await runRota(["list", "--socket", world.socket]);
    expect(table.code).toBe(0);
    expect(table.stdout).toContain("xn--bcher-kva.example.test (bücher.example.test),127.0.0.1\n");
    expect(table.stdout).toContain("xn--bcher-kva.home.arpa (bücher.home.arpa),*.xn--bcher-kva.home.arpa (*.bücher.home.arpa),192.0.2.7,2001:db8::7\n");
    const show = await runRota(["show", "idn", "--socket", world.socket]);
    expect(show.stdout).toContain("  domains       xn--bcher-kva.example.test (bücher.example.test), 127.0.0.1\n");
  });

  test("later ticks find the installed names equal to the configured ones: one renewal each, all ok", async () => {
    // A tick after every cert is ok shows no "names changed" decision (IPv6 is printed
    // uncompressed by OpenSSL and must still compare equal).
    const ok = await waitFor(async () => {
      const rows = await list(world.socket);
      return rows.every((r) => r.status === "ok") ? rows : undefined;
    }, 30_000, 100, "every cert ok");
    const firstCheck = Math.max(...ok.map((r) => Date.parse(r.next_check ?? "")));
    await waitFor(async () => (await list(world.socket)).every((r) => Date.parse(r.next_check ?? "") > firstCheck), 10_000, 100, "a later tick");
    for (const id of IDS) {
      const rows = await audit(world.socket, id);
      expect(rows.map((r) => [r.trigger, r.status])).toEqual([["startup", "succeeded"]]);
    }
    expect((await list(world.socket)).map((r) => r.status)).toEqual(["ok", "ok", "ok"]);
  });
});
