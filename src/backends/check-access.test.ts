import { expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir, removeTempDir } from "../../test/harness/tmp.ts";
import { folderFix, groupName, groupsOf, permits, R, W, X } from "./check-access.ts";

const user = { uid: 1000, groups: new Set([1000, 50]) };

test("the one class POSIX picks decides, never the best of three", () => {
  expect(permits({ uid: 1000, gid: 0, mode: 0o700 }, user, W | X, true)).toBe(true);
  // Owner without write, though others may: refused.
  expect(permits({ uid: 1000, gid: 0, mode: 0o577 }, user, W, true)).toBe(false);
  expect(permits({ uid: 0, gid: 50, mode: 0o770 }, user, W | X, true)).toBe(true);
  expect(permits({ uid: 0, gid: 50, mode: 0o707 }, user, W, true)).toBe(false);
  expect(permits({ uid: 0, gid: 0, mode: 0o755 }, user, W | X, true)).toBe(false);
  expect(permits({ uid: 0, gid: 0, mode: 0o755 }, user, R | X, true)).toBe(true);
});

test("root passes, except execute on a file with no x bit", () => {
  const root = { uid: 0, groups: new Set([0]) };
  expect(permits({ uid: 5, gid: 5, mode: 0o000 }, root, R | W, false)).toBe(true);
  expect(permits({ uid: 5, gid: 5, mode: 0o600 }, root, X, false)).toBe(false);
  expect(permits({ uid: 5, gid: 5, mode: 0o000 }, root, W | X, true)).toBe(true);
});

test("groups: the primary one and those listing the user", () => {
  const dir = makeTempDir("rota-groups-");
  mkdirSync(join(dir, "etc"));
  const file = join(dir, "etc", "group");
  writeFileSync(file, "root:x:0:\nssl-cert:x:110:www,rota\nother:x:120:rotation\n");
  try {
    expect([...groupsOf({ name: "rota", uid: 999, gid: 998 }, file)].sort()).toEqual([110, 998]);
  } finally {
    removeTempDir(dir);
  }
});

test("a folder's fix: chgrp to the user's primary group by its name in /etc/group (nobody's is nogroup), the number when unnamed; the drop-in's need beside it", () => {
  const dir = makeTempDir("rota-groups-");
  const file = join(dir, "group");
  writeFileSync(file, "root:x:0:\nnogroup:x:65534:\nrota:x:998:\n");
  try {
    expect(groupName(65534, file)).toBe("nogroup");
    expect(groupName(4242, file)).toBe("4242");
    expect(folderFix("/srv/certs", { name: "nobody", uid: 65534, gid: 65534 }, file)).toEqual({
      hint: "give the folder to the service user's group (chgrp nogroup /srv/certs && chmod 2770 /srv/certs; under systemd the drop-in's ReadWritePaths= is still needed, its capabilities are not)",
      dropIn: { paths: ["/srv/certs"], capabilities: ["CAP_DAC_OVERRIDE", "CAP_CHOWN", "CAP_FOWNER", "CAP_KILL"] },
    });
  } finally {
    removeTempDir(dir);
  }
});
