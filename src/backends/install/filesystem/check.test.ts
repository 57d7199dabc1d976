import { afterAll, expect, test } from "bun:test";
import { chmodSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir, removeTempDir } from "../../../../test/harness/tmp.ts";
import { checkOwnership, checkWritableDir } from "./check.ts";

const dir = makeTempDir("rota-fs-check-");
afterAll(() => removeTempDir(dir));
const svc = { offline: false, user: { name: "svc-user", uid: 4242, gid: 4242 } };

test("a folder the service user cannot write: FAIL with the drop-in's need for that folder; one it will create: judged by its parent", () => {
  const certs = join(dir, "certs");
  mkdirSync(certs, { mode: 0o755 });
  chmodSync(certs, 0o755);
  const r = checkWritableDir(certs, svc);
  expect(r.status).toBe("fail");
  expect(r.message).toBe(`${certs} (owner 0:0, 0755) is not writable by svc-user`);
  expect(r.dropIn).toEqual({ paths: [certs], capabilities: ["CAP_DAC_OVERRIDE", "CAP_CHOWN", "CAP_FOWNER", "CAP_KILL"] });
  expect(checkWritableDir(join(certs, "later"), svc).message).toBe(`cannot create ${join(certs, "later")}: ${certs} (owner 0:0, 0755) is not writable by svc-user`);
  expect(checkWritableDir(certs, { ...svc, user: { name: "root", uid: 0, gid: 0 } })).toEqual({ status: "ok", message: `${certs} writable by root` });
});

test("owner or group of someone else: a warning about CAP_CHOWN; one's own, or root: nothing", () => {
  expect(checkOwnership({ uid: 0, gid: undefined }, svc).map((r) => [r.status, r.message])).toEqual([["warn", "owner (uid 0): svc-user may not give files away without CAP_CHOWN"]]);
  expect(checkOwnership({ uid: 4242, gid: 0 }, svc)[0]).toEqual({
    status: "warn",
    message: "group (gid 0): svc-user may not give files away without CAP_CHOWN",
    hint: "leave owner and group out",
    dropIn: { paths: [], capabilities: ["CAP_CHOWN", "CAP_FOWNER"] },
  });
  expect(checkOwnership({ uid: 4242, gid: 4242 }, svc)).toEqual([]);
  expect(checkOwnership({ uid: 33, gid: 33 }, { ...svc, user: { name: "root", uid: 0, gid: 0 } })).toEqual([]);
});
