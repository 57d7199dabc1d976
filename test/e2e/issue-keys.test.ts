/**
 * End to end: the compiled binary gets pebble to sign CSRs written by der.ts for the key
 * types beside issue.test.ts's ecdsa-p256 (RSA and P-384), and for a first name longer than
 * a CN may be; openssl verifies each installed chain against pebble's root.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startDaemon, waitFor, type Daemon } from "../harness/index.ts";
import { startWorld, type World } from "./fixture.ts";

let world: World;
let daemon: Daemon;
const LONG = `${"l".repeat(60)}.example.test`;
const CERTS = [
  { id: "rsa", domains: ["rsa.example.test"], extra: 'key_type = "rsa-2048"' },
  { id: "p384", domains: ["p384.example.test"], extra: 'key_type = "ecdsa-p384"' },
  { id: "long", domains: [LONG, "short.example.test"] },
];

beforeAll(async () => {
  world = await startWorld();
  const config = world.writeConfig({ certs: CERTS });
  daemon = startDaemon(config, { env: world.env });
  const issued = () => CERTS.every((c) => {
    try {
      return statSync(join(world.certsDir, c.id, "cert.pem")).isFile();
    } catch {
      return false;
    }
  });
  await waitFor(issued, 60_000, 100, "every cert.pem to appear");
  writeFileSync(join(world.dir, "pebble-root.pem"), await world.pebble.rootPem());
});

afterAll(async () => {
  await daemon?.stop();
  await world?.stop();
});

function openssl(...args: string[]): { code: number; out: string } {
  const p = Bun.spawnSync(["openssl", ...args], { stdout: "pipe", stderr: "pipe" });
  return { code: p.exitCode ?? -1, out: p.stdout.toString() + p.stderr.toString() };
}

function check(id: string, hostname: string): string {
  const dir = join(world.certsDir, id);
  const v = openssl("verify", "-CAfile", join(world.dir, "pebble-root.pem"), "-untrusted", join(dir, "chain.pem"), "-verify_hostname", hostname, join(dir, "cert.pem"));
  expect(v.out).toContain(": OK");
  expect(v.code).toBe(0);
  return openssl("x509", "-in", join(dir, "cert.pem"), "-noout", "-text").out;
}

test("an RSA 2048 key: pebble signs the CSR and the chain verifies", () => {
  const text = check("rsa", "rsa.example.test");
  expect(text).toContain("Public Key Algorithm: rsaEncryption");
  expect(text).toContain("Public-Key: (2048 bit)");
  expect(text).toContain("DNS:rsa.example.test");
});

test("an ECDSA P-384 key: pebble signs the CSR and the chain verifies", () => {
  const text = check("p384", "p384.example.test");
  expect(text).toContain("NIST CURVE: P-384");
  expect(text).toContain("DNS:p384.example.test");
});

test("a first name longer than 64 characters: pebble signs the CSR (its CN the next name) and the certificate covers both", () => {
  const text = check("long", LONG);
  expect(text).toContain(`DNS:${LONG}`);
  expect(text).toContain("DNS:short.example.test");
});
