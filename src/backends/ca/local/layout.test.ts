/** @module The move from the shared `local-ca/` folder to one folder per local CA: once, crash-safe, nothing reissued. */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { systemClock } from "../../../clock.ts";
import { createCsr } from "../../../crypto/csr.ts";
import { generateKeyPem } from "../../../crypto/keys.ts";
import { createLogger } from "../../../log.ts";
import { adoptSharedLocalCa, currentRootPath, localCaDir, localCaRootPath } from "./layout.ts";
import { createLocalCa } from "./local-ca.ts";

const log = createLogger({ level: "silent" });
const live = new AbortController().signal;
const FILES = ["root.key", "root.pem", "intermediate.key", "intermediate.pem"];
const CAS = [
  { name: "acme", type: "acme", options: {} },
  { name: "home", type: "local", options: {} },
  { name: "lab", type: "local", options: {} },
];

let dir: string;
let shared: string;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "rota-layout-"));
  shared = join(dir, "local-ca");
  // The shared layout as an older rota left it: a CA created under `local-ca/` itself.
  await issue("old");
  mkdirSync(shared, { recursive: true });
  for (const f of [...FILES, ".lock"]) renameSync(join(localCaDir(dir, "old"), f), join(shared, f));
  rmSync(localCaDir(dir, "old"), { recursive: true });
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function issue(name: string): Promise<{ leafPem: string; chainPem: string }> {
  const ca = createLocalCa(name, { validityDays: 30, commonName: undefined }, { stateDir: dir, clock: systemClock });
  const csrPem = await createCsr(["a.internal"], generateKeyPem("ecdsa-p256"));
  return ca.awaitIssuance((await ca.submit({ certId: "c", domains: ["a.internal"], csrPem, preferredKinds: [] }, live)).order, live);
}

const contents = (folder: string) => FILES.map((f) => readFileSync(join(folder, f), "utf8"));

test("the shared files move to the first local CA's folder, unchanged, and it keeps issuing from them", async () => {
  const before = contents(shared);
  expect(currentRootPath(dir, CAS, "home")).toBe(join(shared, "root.pem"));
  expect(currentRootPath(dir, CAS, "lab")).toBe(localCaRootPath(dir, "lab"));
  expect(adoptSharedLocalCa(dir, CAS, log)).toEqual(FILES);
  expect(currentRootPath(dir, CAS, "home")).toBe(localCaRootPath(dir, "home"));
  expect(contents(localCaDir(dir, "home"))).toEqual(before);
  for (const f of [...FILES, ".lock"]) expect(existsSync(join(shared, f))).toBe(false);

  const issued = await issue("home");
  expect(issued.chainPem).toBe(before[3]!);
  expect(readFileSync(localCaRootPath(dir, "home"), "utf8")).toBe(before[1]!);
  expect(adoptSharedLocalCa(dir, CAS, log)).toEqual([]);
});

test("a move cut short is finished by the next call", async () => {
  const before = contents(shared);
  mkdirSync(localCaDir(dir, "home"));
  renameSync(join(shared, "root.key"), join(localCaDir(dir, "home"), "root.key"));
  expect(adoptSharedLocalCa(dir, CAS, log)).toEqual(["root.pem", "intermediate.key", "intermediate.pem"]);
  expect(contents(localCaDir(dir, "home"))).toEqual(before);
});

test("a file already in the new folder is never overwritten", () => {
  mkdirSync(localCaDir(dir, "home"));
  writeFileSync(join(localCaDir(dir, "home"), "root.pem"), "mine");
  expect(adoptSharedLocalCa(dir, CAS, log)).toEqual(["root.key", "intermediate.key", "intermediate.pem"]);
  expect(readFileSync(localCaRootPath(dir, "home"), "utf8")).toBe("mine");
  expect(existsSync(join(shared, "root.pem"))).toBe(true);
});

test("without a local CA in the config nothing moves", () => {
  expect(adoptSharedLocalCa(dir, CAS.slice(0, 1), log)).toEqual([]);
  expect(existsSync(join(shared, "root.pem"))).toBe(true);
});
