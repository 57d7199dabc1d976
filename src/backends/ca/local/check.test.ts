import { afterAll, expect, test } from "bun:test";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir, removeTempDir } from "../../../../test/harness/tmp.ts";
import { systemClock } from "../../../clock.ts";
import { createLocalCa } from "./local-ca.ts";
import { checkLocalCa } from "./check.ts";

const dir = makeTempDir("rota-local-check-");
afterAll(() => removeTempDir(dir));
const root = { offline: false, user: { name: "root", uid: 0, gid: 0 } };
const other = { offline: false, user: { name: "svc-user", uid: 4242, gid: 4242 } };

test("before the first issue: nothing to read yet; after it, the root readable, and not by a user who does not own it", async () => {
  const stateDir = join(dir, "state");
  const ca = createLocalCa("internal", { validityDays: 30, commonName: "Test" }, { stateDir, clock: systemClock });
  const caDir = join(stateDir, "local-ca", "internal");
  expect(await ca.check(new AbortController().signal, root)).toEqual([{ status: "ok", message: `no root in ${caDir} yet: the first certificate creates it` }]);
  // An order without a CSR: the CA's root and intermediate are made, then the leaf is refused.
  expect(await ca.awaitIssuance({ csrPem: "", domains: [] }, new AbortController().signal).then(() => "issued", () => "refused")).toBe("refused");
  const [ok] = await ca.check(new AbortController().signal, root);
  expect(ok!.status).toBe("ok");
  expect(ok!.message).toStartWith(`root ${join(caDir, "root.pem")} readable (CN=Test`);
  const refused = await ca.check(new AbortController().signal, other);
  expect(refused.map((r) => r.message)).toEqual([`${join(caDir, "root.key")} (owner 0:0, 0600) is not readable by svc-user`, `${join(caDir, "intermediate.key")} (owner 0:0, 0600) is not readable by svc-user`]);
  expect(refused[0]!.hint).toBe(`chown -R svc-user ${caDir}`);
});

test("the shared layout of older versions is read where it is; a root that is not a certificate fails", () => {
  const shared = join(dir, "old", "local-ca");
  mkdirSync(shared, { recursive: true });
  writeFileSync(join(shared, "root.pem"), "not a certificate");
  chmodSync(join(shared, "root.pem"), 0o644);
  const [r] = checkLocalCa(join(shared, "first"), root);
  expect(r).toMatchObject({ status: "fail", message: `${join(shared, "root.pem")} is not a PEM certificate` });
});

test("in cluster mode a missing root fails with the way out: copy it, since no node ever makes one there", async () => {
  const stateDir = join(dir, "cluster-state");
  const ca = createLocalCa("internal", { validityDays: 30, commonName: "Test" }, { stateDir, clock: systemClock });
  const caDir = join(stateDir, "local-ca", "internal");
  expect(await ca.check(new AbortController().signal, { ...root, cluster: true })).toEqual([
    { status: "fail", message: `no root in ${caDir}: in cluster mode rota never creates one`, hint: `copy root.key and root.pem into ${caDir} from the node that made them (docs/federation.md)` },
  ]);
});
