/**
 * @module The raw client of Namecheap's SSL API (`namecheap.ssl.*`): one form-encoded POST per
 * call to the same `xml.response` endpoint the DNS commands use, every value URL-encoded (a CSR's
 * `+`, `/` and line ends arrive as sent), a 60-s limit per call and the caller's AbortSignal.
 * Replies are read strictly (replies.ts). `Status="ERROR"` becomes
 * `namecheap <ca>: <command>: error <Number>: <text>`, without retry where retrying cannot help;
 * HTTP errors, 429/503 and replies that are not XML are transient, a Retry-After kept. The API
 * key goes in the body only (a redirect is never followed with it), and is masked in anything this client builds.
 */
import { RotaError } from "../../../errors.ts";
import type { NamecheapCredentials } from "../../dcv/namecheap/client.ts";
import { hideKey, postCommand } from "../../dcv/namecheap/transport.ts";
import { child, parseXml, type XmlElement } from "../../dcv/namecheap/xml.ts";
import { parseDcvReply, parseGetInfo, type DcvReply, type SslInfo } from "./replies.ts";

/** Error numbers after which a retry cannot succeed until someone acts. */
const BAD_KEY = "1011102";
const NOT_ALLOW_LISTED = "1011150";
const UNKNOWN_ID = "2011294";
const PERMANENT = new Set([BAD_KEY, NOT_ALLOW_LISTED, UNKNOWN_ID]);

/** Codes of the faults worth another try (the endpoint down, a proxy's page, a cut-off reply). */
export const TRANSIENT_CODES: ReadonlySet<string> = new Set(["namecheap_http", "namecheap_unreachable", "namecheap_malformed"]);

/** The code of an API `Status="ERROR"` reply: `namecheap_<Number>`, so callers can tell one number from another. */
export function apiErrorCode(number: string): string {
  return `namecheap_${number}`;
}

/** What activate and reissue send besides the certificate id. */
export interface CertificateRequest {
  certificateId: number;
  csrPem: string;
  adminEmail: string;
  webServerType: string;
  /** The certificate's names, the common name first. */
  domains: string[];
}

export interface SslClient {
  /** `namecheap.ssl.getInfo` with `ReturnCertificate=true&ReturnType=Individual`. */
  getInfo(certificateId: number, signal: AbortSignal): Promise<SslInfo>;
  activate(req: CertificateRequest, signal: AbortSignal): Promise<DcvReply>;
  /** The reply's id is the reissued certificate's new id; the old one turns `replaced`. */
  reissue(req: CertificateRequest, signal: AbortSignal): Promise<DcvReply>;
  /** Documented to "retry HTTP/DNS validation after the CNAME record is created". */
  resendApproverEmail(certificateId: number, signal: AbortSignal): Promise<void>;
}

export function createSslClient(creds: NamecheapCredentials, who: string): SslClient {
  const fail = (code: string, message: string, opts: { noRetry?: boolean } = {}) => new RotaError(code, hideKey(creds, `${who}: ${message}`), opts);

  async function call(command: string, params: [string, string][], signal: AbortSignal): Promise<XmlElement> {
    const text = await postCommand(creds, who, command, params, signal);
    let root: XmlElement;
    try {
      root = parseXml(text);
    } catch (err) {
      throw fail("namecheap_malformed", `${command}: the reply is not XML (${(err as Error).message})`);
    }
    if (root.name !== "ApiResponse") throw fail("namecheap_malformed", `${command}: the reply is not an ApiResponse (root <${root.name}>)`);
    const errors = (child(root, "Errors")?.children ?? []).filter((e) => e.name === "Error");
    const first = errors[0];
    if (first) {
      const number = first.attrs.Number ?? "?";
      const hint = number === NOT_ALLOW_LISTED ? `; allow-list client_ip ${creds.clientIp} in Namecheap's API settings` : "";
      throw fail(apiErrorCode(number), `${command}: error ${number}: ${first.text.trim()}${hint}`, { noRetry: PERMANENT.has(number) });
    }
    if (root.attrs.Status !== "OK") throw fail("namecheap_malformed", `${command}: Status=${JSON.stringify(root.attrs.Status ?? "")} with no error`);
    const response = child(root, "CommandResponse");
    if (!response) throw fail("namecheap_malformed", `${command}: the reply has no CommandResponse`);
    return response;
  }

  /** A reply that parsed but lacks what the command promises. */
  const malformed = (command: string) => (why: string) => fail("namecheap_malformed", `${command}: ${why}`);

  function requestParams(req: CertificateRequest): [string, string][] {
    const params: [string, string][] = [
      ["CertificateID", String(req.certificateId)],
      ["csr", req.csrPem],
      ["AdminEmailAddress", req.adminEmail],
      ["WebServerType", req.webServerType],
      ["DNSDCValidation", "true"],
    ];
    const more = req.domains.slice(1);
    if (more.length > 0) {
      // Per additional name, which DCV method proves it: the CNAME, like the common name.
      params.push(["DNSNames", more.join(",")], ["DNSApproverEmails", more.map(() => "CNAMECSRHASH").join(",")]);
    }
    return params;
  }

  return {
    async getInfo(certificateId, signal) {
      const command = "namecheap.ssl.getInfo";
      const params: [string, string][] = [
        ["CertificateID", String(certificateId)],
        ["ReturnCertificate", "true"],
        ["ReturnType", "Individual"],
      ];
      return parseGetInfo(await call(command, params, signal), malformed(command));
    },
    async activate(req, signal) {
      const command = "namecheap.ssl.activate";
      return parseDcvReply(await call(command, requestParams(req), signal), "SSLActivateResult", req.certificateId, malformed(command));
    },
    async reissue(req, signal) {
      const command = "namecheap.ssl.reissue";
      return parseDcvReply(await call(command, requestParams(req), signal), "SSLReissueResult", null, malformed(command));
    },
    async resendApproverEmail(certificateId, signal) {
      await call("namecheap.ssl.resendApproverEmail", [["CertificateID", String(certificateId)]], signal);
    },
  };
}
