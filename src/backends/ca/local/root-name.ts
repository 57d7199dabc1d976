/**
 * @module A local CA's `common_name` names its root only when the root is created: a root
 * already in trust stores is never replaced for a new name. A config whose name differs from
 * the root's gets a warning at start and reload, not silence (the reload said "1 backend
 * changed" and nothing changed).
 */
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import type { BackendSection } from "../../../config/schema.ts";
import { DEFAULT_COMMON_NAME, type LocalCaConfig } from "./config.ts";
import { currentRootPath } from "./layout.ts";

/** The root's CN as authority.ts makes it from `common_name`. */
export const rootCommonName = (commonName: string | undefined): string => `${commonName ?? DEFAULT_COMMON_NAME} root`;

/**
 * The warning for local CA `section` (a `[[ca]] type = "local"`, at `key` in the file) when
 * its root exists under another name than `common_name` gives; undefined when it matches,
 * when there is no root yet (the next renewal makes it by this name) or it cannot be read.
 */
export function rootNameWarning(stateDir: string, cas: BackendSection[], section: BackendSection, key: string): string | undefined {
  const { commonName } = section.options as unknown as LocalCaConfig;
  const path = currentRootPath(stateDir, cas, section.name);
  let cn: string | undefined;
  try {
    cn = /^CN=(.*)$/m.exec(new X509Certificate(readFileSync(path)).subject)?.[1];
  } catch {
    return undefined;
  }
  if (cn === undefined || cn === rootCommonName(commonName)) return undefined;
  const configured = commonName === undefined ? `not set (the default "${DEFAULT_COMMON_NAME}")` : JSON.stringify(commonName);
  return (
    `${key}.common_name: ${configured} names a local CA's root only when the root is created; the root of ${section.name} (${path}) is ${JSON.stringify(cn)} and keeps that name ` +
    `(its intermediate takes the new one when it is next reissued). For a root by the new name, add another [[ca]] type = "local" and trust its root (rota ca root NAME)`
  );
}
