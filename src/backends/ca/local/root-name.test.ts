/** @module The warning for a local CA whose `common_name` differs from its existing root's name. */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { systemClock } from "../../../clock.ts";
import type { BackendSection } from "../../../config/schema.ts";
import { Authority } from "./authority.ts";
import { localCaDir, localCaRootPath } from "./layout.ts";
import { rootNameWarning } from "./root-name.ts";

const stateDir = mkdtempSync(join(tmpdir(), "rota-root-name-"));
afterAll(() => rmSync(stateDir, { recursive: true, force: true }));
const section = (commonName: string | undefined): BackendSection => ({ name: "internal", type: "local", options: { validityDays: 90, commonName } });
const warning = (commonName: string | undefined) => rootNameWarning(stateDir, [section(commonName)], section(commonName), "ca[0]");

test("no root yet: no warning (the root is made by the configured name)", () => {
  expect(warning("Home Lab")).toBeUndefined();
});

test("a root by the configured name: no warning; another name, or none where the root has one, names the key, both names and the root's path", async () => {
  await new Authority(localCaDir(stateDir, "internal"), "Home Lab", systemClock).intermediate();
  expect(warning("Home Lab")).toBeUndefined();
  const path = localCaRootPath(stateDir, "internal");
  expect(warning("Office")).toBe(
    `ca[0].common_name: "Office" names a local CA's root only when the root is created; the root of internal (${path}) is "Home Lab root" and keeps that name ` +
      `(its intermediate takes the new one when it is next reissued). For a root by the new name, add another [[ca]] type = "local" and trust its root (rota ca root NAME)`,
  );
  expect(warning(undefined)).toStartWith(`ca[0].common_name: not set (the default "rota local CA") names a local CA's root only when the root is created; the root of internal (${path}) is "Home Lab root"`);
});
