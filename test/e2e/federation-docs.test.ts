/**
 * End to end: docs/federation.md's node config passes `rota check-config` as written (its
 * paths moved into a temp dir), once the cert's key is in place; and the refusals the page
 * lists are the lines the binary prints, word for word.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { generateKeyPem } from "../../src/crypto/keys.ts";
import { makeTempDir, removeTempDir, runRota } from "../harness/index.ts";

const DOC = readFileSync(join(import.meta.dir, "..", "..", "docs", "federation.md"), "utf8");
const NODE = [...DOC.matchAll(/```toml\n([\s\S]*?)```/g)].map((m) => m[1]!).find((b) => b.includes("[cluster]"))!;
/** The block under "Every refusal at start". */
const REFUSALS = /## Every refusal at start[\s\S]*?```\n([\s\S]*?)```/.exec(DOC)![1]!.trim().split("\n");

let dir: string;
let file: string;
let key: string;

/** The page's absolute paths, moved under `dir`. */
const moved = (text: string) =>
  text
    .replaceAll("/var/lib/rota", join(dir, "state"))
    .replaceAll("/run/rota", join(dir, "run"))
    .replaceAll("/etc/rota/", `${dir}/`)
    .replaceAll("/srv/shared/acme", join(dir, "acme"))
    .replaceAll("/etc/ssl/rota", join(dir, "certs"));

beforeAll(() => {
  dir = makeTempDir("rota-federation-docs-");
  mkdirSync(join(dir, "state", "keys"), { recursive: true });
  mkdirSync(join(dir, "acme"));
  writeFileSync(join(dir, "surreal.pass"), "a-long-random-password\n");
  key = join(dir, "state", "keys", "www.key");
  file = join(dir, "rota.toml");
  writeFileSync(file, moved(NODE));
});

afterAll(() => removeTempDir(dir));

/** The page's line for `prefix`, with its paths moved. */
function refusal(prefix: string): string {
  const line = REFUSALS.find((l) => l.startsWith(prefix));
  expect(line).toBeDefined();
  return moved(line!);
}

test("the node config is accepted once the cert's key is there", async () => {
  writeFileSync(key, generateKeyPem("ecdsa-p256"), { mode: 0o600 });
  const r = await runRota(["check-config", "--config", file]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  expect(r.stdout).toContain(": OK (1 cert(s)");
});

test("without the key, and with a key of another type: the page's lines", async () => {
  rmSync(key);
  const missing = await runRota(["check-config", "--config", file]);
  expect(missing.code).toBe(2);
  expect(missing.stderr).toBe(`rota: config ${file} is not valid:\n  ${refusal("cert[0].key_path: /var/lib/rota/keys/www.key does not exist")}\n`);
  writeFileSync(key, generateKeyPem("ecdsa-p384"), { mode: 0o600 });
  const other = await runRota(["check-config", "--config", file]);
  expect(other.code).toBe(2);
  expect(other.stderr).toBe(`rota: config ${file} is not valid:\n  ${refusal("cert[0].key_path: /var/lib/rota/keys/www.key holds")}\n`);
});

test("key_rotation every_renewal, and the cluster on SQLite: the page's lines", async () => {
  writeFileSync(key, generateKeyPem("ecdsa-p256"), { mode: 0o600 });
  const rotating = join(dir, "rotating.toml");
  writeFileSync(rotating, `${moved(NODE)}key_rotation = "every_renewal"\n`);
  const r = await runRota(["check-config", "--config", rotating]);
  expect(r.code).toBe(2);
  expect(r.stderr).toBe(`rota: config ${rotating} is not valid:\n  ${refusal("cert[0].key_rotation:")}\n`);
  const sqlite = join(dir, "sqlite.toml");
  writeFileSync(sqlite, moved(NODE).replace(/\[audit\][\s\S]*?\n\n/, ""));
  const s = await runRota(["check-config", "--config", sqlite]);
  expect(s.code).toBe(2);
  expect(s.stderr).toBe(`rota: config ${sqlite} is not valid:\n  ${refusal("cluster.enabled:")}\n`);
});

test("the runbook covers each point an operator needs", () => {
  for (const heading of [
    "## What is shared, and what never is",
    "## The database",
    "## Every node's config",
    "## The same private key on every node",
    "## Key rotation",
    "## A local CA",
    "## ACME accounts",
    "## Challenges: HTTP-01 or DNS-01",
    "## Adding and removing a node",
    "## Watching it: `rota cluster status`",
    "## When the leader goes away",
    "## When the database goes away",
    "## Upgrades and `min_reader`",
    "## Backups",
  ]) {
    expect(DOC).toContain(`\n${heading}\n`);
  }
  for (const sql of ["DEFINE NAMESPACE", "DEFINE DATABASE", "ROLES EDITOR"]) expect(DOC).toContain(sql);
});
