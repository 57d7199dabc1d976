/**
 * @module Config keys of a `[[dcv]] type = "cloudflare"` section: the vendor's own keys, and
 * the propagation keys every DNS backend shares, read by their one reader.
 */
import { quote, type Reader } from "../../../config/reader.ts";
import type { SecretRef } from "../../../config/secret.ts";
import { readHttpUrl } from "../../../config/tls-keys.ts";
import { parsePropagationConfig } from "../../../dns/config.ts";
import type { PropagationPolicy } from "../../types.ts";

export const CLOUDFLARE_API_URL = "https://api.cloudflare.com/client/v4";

/** Cloudflare zone ids are 32 lowercase hex digits. */
const ZONE_ID = /^[0-9a-f]{32}$/;

export interface CloudflareConfig {
  /** The API base including `/client/v4`, no trailing slash; `http://` allowed for tests and mirrors. */
  apiUrl: string;
  /** An API token (not a Global API Key), sent as `Authorization: Bearer`. */
  apiToken: SecretRef | undefined;
  /** When set, no zone lookup: a token with DNS:Edit alone is enough. */
  zoneId: string | undefined;
  propagation: PropagationPolicy;
}

export function parseCloudflareConfig(r: Reader): CloudflareConfig {
  const apiUrl = r.has("api_url") ? readHttpUrl(r, "api_url") : CLOUDFLARE_API_URL;
  const zoneId = r.string("zone_id");
  if (zoneId !== undefined && !ZONE_ID.test(zoneId)) r.problem("zone_id", `${quote(zoneId)} is not a Cloudflare zone id (32 hex digits)`);
  return {
    apiUrl: apiUrl.replace(/\/+$/, ""),
    apiToken: r.secret("api_token", { required: true }),
    zoneId,
    propagation: parsePropagationConfig(r),
  };
}
