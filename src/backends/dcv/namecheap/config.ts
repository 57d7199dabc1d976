/**
 * @module Config keys of a `[[dcv]] type = "namecheap"` section. The account keys
 * (`parseNamecheapAccount`) are the ones the Namecheap CA section shares; the propagation keys
 * every DNS backend shares are read by their one reader.
 */
import { quote, type Reader } from "../../../config/reader.ts";
import type { SecretRef } from "../../../config/secret.ts";
import { readHttpUrl } from "../../../config/tls-keys.ts";
import { parsePropagationConfig } from "../../../dns/config.ts";
import type { PropagationPolicy } from "../../types.ts";

export const PRODUCTION_URL = "https://api.namecheap.com/xml.response";
export const SANDBOX_URL = "https://api.sandbox.namecheap.com/xml.response";

/** The keys naming a Namecheap API account and endpoint, the same for DCV and CA sections. */
export interface NamecheapAccount {
  apiUser: string;
  /** The account the call acts on; Namecheap's docs call it UserName, usually the same as ApiUser. */
  username: string;
  apiKey: SecretRef;
  /** Sent as ClientIp on every call; it must be on the account's API allow-list. */
  clientIp: string;
  /** The full `…/xml.response` endpoint. */
  apiUrl: string;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export interface NamecheapConfig extends NamecheapAccount {
  propagation: PropagationPolicy;
}

export function parseNamecheapConfig(r: Reader): NamecheapConfig {
  return { ...parseNamecheapAccount(r), propagation: parsePropagationConfig(r) };
}

export function parseNamecheapAccount(r: Reader): NamecheapAccount {
  const apiUser = r.string("api_user", { required: true }) ?? "";
  const username = r.string("username") ?? apiUser;
  const apiKey = r.secret("api_key", { required: true });
  const clientIp = r.string("client_ip", { required: true }) ?? "";
  // Namecheap rejects IPv6 with error 1011105, so refuse it here rather than at the first renewal.
  if (clientIp.includes(":")) r.problem("client_ip", "Namecheap accepts IPv4 only (its error 1011105)");
  else if (clientIp && !IPV4.test(clientIp)) r.problem("client_ip", `${quote(clientIp)} must be a dotted IPv4 address`);
  const sandbox = r.bool("sandbox", false);
  let apiUrl = sandbox ? SANDBOX_URL : PRODUCTION_URL;
  if (r.has("api_url")) {
    const url = readHttpUrl(r, "api_url");
    if (r.has("sandbox")) r.problem("api_url", "give api_url or sandbox, not both");
    apiUrl = url;
  }
  return { apiUser, username, apiKey: apiKey ?? { from: "env", name: "" }, clientIp, apiUrl };
}
