import { afterAll, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir, removeTempDir } from "../../test/harness/tmp.ts";
import { generateKeyPem } from "../crypto/keys.ts";
import { checkAudit, checkKeys, checkStateDir } from "./local.ts";

const dir = makeTempDir("rota-doctor-local-");
afterAll(() => removeTempDir(dir));
const root = { name: "root", uid: 0, gid: 0 };

function db(name: string, version: number): string {
  const path = join(dir, name);
  const d = new Database(path);
  d.exec(`PRAGMA user_version = ${version}`);
  d.close();
  return path;
}

test("audit: newer schema FAIL, older warns it will migrate after a backup, same ok, missing ok; opened read-only", async () => {
  expect(await checkAudit(db("newer.db", 7), 6)).toEqual([
    { id: "audit", status: "fail", message: `${join(dir, "newer.db")}: schema v7 is newer than this rota's (v6)`, hint: "install the rota that wrote it, or a newer one" },
  ]);
  expect(await checkAudit(db("older.db", 4), 6)).toEqual([
    { id: "audit", status: "warn", message: `${join(dir, "older.db")}: schema v4, this rota's is v6: will migrate on start, after a backup` },
  ]);
  expect(await checkAudit(db("same.db", 6), 6)).toEqual([{ id: "audit", status: "ok", message: `${join(dir, "same.db")}: schema v6` }]);
  expect((await checkAudit(join(dir, "none.db"), 6))[0]!.status).toBe("ok");
  const older = new Database(join(dir, "older.db"));
  expect((older.query("PRAGMA user_version").get() as { user_version: number }).user_version).toBe(4);
  older.close();
});

test("state_dir: missing warns; other owner, another mode, each a FAIL with its fix", () => {
  expect(checkStateDir(join(dir, "absent"), root)).toEqual([{ id: "state_dir", status: "warn", message: `${join(dir, "absent")} does not exist yet; rota daemon creates it` }]);
  const state = join(dir, "state");
  mkdirSync(state, { mode: 0o700 });
  expect(checkStateDir(state, root)).toEqual([{ id: "state_dir", status: "ok", message: `${state}: owned by root, 0700, writable` }]);
  chmodSync(state, 0o750);
  const found = checkStateDir(state, { name: "rota", uid: 999, gid: 999 });
  expect(found.map((f) => [f.status, f.hint])).toEqual([
    ["fail", `chown -R rota ${state}`],
    ["fail", `chmod 700 ${state}`],
  ]);
});

test("keys: mode, owner and parse, each named; absent ones counted, not failed", () => {
  const good = join(dir, "good.key");
  writeFileSync(good, generateKeyPem("ecdsa-p256"), { mode: 0o600 });
  const junk = join(dir, "junk.key");
  writeFileSync(junk, "-----BEGIN PRIVATE KEY-----\nnot really\n-----END PRIVATE KEY-----\n", { mode: 0o600 });
  expect(checkKeys([{ path: good, what: "cert a key_path" }, { path: join(dir, "later.key"), what: "cert b key_path" }], root)).toEqual([
    { id: "keys", status: "ok", message: "1 key(s): 0600, owned by root, each parses; 1 not created yet (made at first use)" },
  ]);
  const bad = checkKeys([{ path: junk, what: "ca le account key" }], root);
  expect(bad).toEqual([{ id: "keys", status: "fail", message: `ca le account key ${junk}: is not a private key`, hint: "move it aside: the next renewal writes a new key" }]);
  expect(JSON.stringify(bad)).not.toContain("not really");
});
