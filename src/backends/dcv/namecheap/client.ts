/**
 * @module The raw Namecheap XML API client: `namecheap.domains.dns.getHosts` and
 * `setHosts`, each one POST with every value form-encoded (a `+` in a TXT value sent
 * unencoded comes back as a space: a trap other tools fell into). It reads replies
 * strictly: anything but a clean success is an error naming Namecheap's error numbers,
 * and the API key never appears in a message.
 */
import { RotaError } from "../../../errors.ts";
import { hideKey, postCommand } from "./transport.ts";
import { child, parseXml, type XmlElement } from "./xml.ts";

/** One host record as getHosts returns it and setHosts takes it back. */
export interface Host {
  name: string;
  type: string;
  address: string;
  mxPref: string;
  ttl: string;
}

export interface Zone {
  /** Domain-level mail setting (MX, MXE, FWD, OX, …); setHosts must send it back or mail settings are lost. */
  emailType: string;
  hosts: Host[];
}

export interface NamecheapCredentials {
  apiUrl: string;
  apiUser: string;
  username: string;
  apiKey: string;
  clientIp: string;
}

export interface NamecheapClient {
  getHosts(sld: string, tld: string, signal: AbortSignal): Promise<Zone>;
  /**
   * Replaces the whole zone with `zone`: "All host records that are not included into the API call will be deleted."
   * `limitMs` bounds the request (the transport's CALL_TIMEOUT_MS unless given).
   */
  setHosts(sld: string, tld: string, zone: Zone, signal: AbortSignal, limitMs?: number): Promise<void>;
  /** How many domains the account holds (`namecheap.domains.getList`): a read that proves the credentials (rota doctor). */
  domainCount(signal: AbortSignal): Promise<number>;
}

/** Namecheap: "Invalid request IP", the machine is not on the account's API allow-list. */
const NOT_ALLOW_LISTED = "1011150";

export function createNamecheapClient(creds: NamecheapCredentials, who: string): NamecheapClient {
  const fail = (code: string, message: string, cause?: unknown, noRetry = false) =>
    new RotaError(code, hideKey(creds, `${who}: ${message}`), { cause, noRetry });

  async function call(command: string, params: [string, string][], signal: AbortSignal, limitMs?: number): Promise<XmlElement> {
    const text = await postCommand(creds, who, command, params, signal, limitMs);
    let root: XmlElement;
    try {
      root = parseXml(text);
    } catch (err) {
      throw fail("namecheap_malformed", `${command}: malformed reply (${(err as Error).message})`);
    }
    if (root.name !== "ApiResponse") throw fail("namecheap_malformed", `${command}: malformed reply (root <${root.name}>)`);
    const errors = (child(root, "Errors")?.children ?? []).filter((e) => e.name === "Error");
    if (root.attrs.Status !== "OK" || errors.length > 0) {
      if (errors.some((e) => e.attrs.Number === NOT_ALLOW_LISTED)) {
        throw fail(
          "namecheap_ip",
          `this machine's IP is not on the API allow-list (Profile → Tools → API Access); client_ip is ${creds.clientIp} (error ${NOT_ALLOW_LISTED})`,
          undefined,
          true,
        );
      }
      const listed = errors.map((e) => `${e.attrs.Number ?? "?"} ${e.text.trim()}`).join("; ");
      throw fail("namecheap_error", `${command}: ${listed || `Status=${JSON.stringify(root.attrs.Status ?? "")} with no error`}`);
    }
    const response = child(root, "CommandResponse");
    if (!response) throw fail("namecheap_malformed", `${command}: reply has no CommandResponse`);
    return response;
  }

  return {
    async getHosts(sld, tld, signal) {
      const command = "namecheap.domains.dns.getHosts";
      const response = await call(command, [["SLD", sld], ["TLD", tld]], signal);
      const result = child(response, "DomainDNSGetHostsResult");
      const malformed = (why: string) => fail("namecheap_malformed", `${command} ${sld}.${tld}: ${why}; nothing written`);
      if (!result) throw malformed("reply has no DomainDNSGetHostsResult");
      if (result.attrs.IsUsingOurDNS !== "true") {
        throw fail("namecheap_not_our_dns", `${sld}.${tld} does not use Namecheap's DNS (IsUsingOurDNS=${JSON.stringify(result.attrs.IsUsingOurDNS ?? "")}); nothing written`, undefined, true);
      }
      const emailType = result.attrs.EmailType;
      if (!emailType) throw malformed("reply has no EmailType");
      // A reply for another domain (a proxy or cache mixing up requests) written back would put its hosts in this zone.
      const domain = result.attrs.Domain;
      if (domain === undefined) throw malformed("reply has no Domain");
      if (domain.toLowerCase() !== `${sld}.${tld}`.toLowerCase()) {
        throw fail("namecheap_wrong_domain", `${command} ${sld}.${tld}: the reply is for ${JSON.stringify(domain)}, not ${sld}.${tld}; nothing written`);
      }
      const hosts: Host[] = [];
      for (const el of result.children) {
        if (el.name !== "host") throw malformed(`unexpected <${el.name}>`);
        const { Name: name, Type: type, Address: address, MXPref: mxPref, TTL: ttl } = el.attrs;
        if (name === undefined || !type || address === undefined || !mxPref || !ttl) throw malformed(`a host lacks Name, Type, Address, MXPref or TTL`);
        hosts.push({ name, type, address, mxPref, ttl });
      }
      return { emailType, hosts };
    },

    async domainCount(signal) {
      const command = "namecheap.domains.getList";
      const response = await call(command, [["PageSize", "10"]], signal);
      const result = child(response, "DomainGetListResult");
      if (!result) throw fail("namecheap_malformed", `${command}: reply has no DomainGetListResult`);
      const total = child(child(response, "Paging") ?? result, "TotalItems")?.text.trim();
      return total !== undefined && /^\d+$/.test(total) ? Number(total) : result.children.filter((e) => e.name === "Domain").length;
    },

    async setHosts(sld, tld, zone, signal, limitMs) {
      const command = "namecheap.domains.dns.setHosts";
      const params: [string, string][] = [["SLD", sld], ["TLD", tld], ["EmailType", zone.emailType]];
      zone.hosts.forEach((h, i) => {
        const n = i + 1;
        params.push([`HostName${n}`, h.name], [`RecordType${n}`, h.type], [`Address${n}`, h.address], [`MXPref${n}`, h.mxPref], [`TTL${n}`, h.ttl]);
      });
      const response = await call(command, params, signal, limitMs);
      const result = child(response, "DomainDNSSetHostsResult");
      if (result?.attrs.IsSuccess !== "true") throw fail("namecheap_not_saved", `${command} ${sld}.${tld}: IsSuccess is not true`);
    },
  };
}
