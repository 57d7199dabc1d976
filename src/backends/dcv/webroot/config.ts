/** @module Config keys of a `[[dcv]] type = "webroot"` section. */
import type { Reader } from "../../../config/reader.ts";
import type { ConfiguredFolder } from "../../registry.ts";

export interface WebrootConfig {
  /** The folder the webserver serves as `/`; challenges go under `.well-known/acme-challenge/`. */
  path: string;
}

export function parseWebrootConfig(r: Reader): WebrootConfig {
  return { path: r.path("path", { required: true, mustRead: true, dir: true }) };
}

/** The webserver hands out everything under `path` to anyone: no private key may live there. */
export function webrootPublicFolders(c: WebrootConfig): ConfiguredFolder[] {
  return [{ key: "path", path: c.path }];
}
