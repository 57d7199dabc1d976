/**
 * @module What the SSL API's replies say, read from the `CommandResponse` element as Namecheap
 * documents it (https://www.namecheap.com/support/api/methods/ssl/). Anything a reply promises
 * but lacks is an error through `malformed`, never a default: a status read as "" would be
 * taken for "nothing to do".
 */
import type { XmlElement } from "../../dcv/namecheap/xml.ts";
import { child } from "../../dcv/namecheap/xml.ts";

type Malformed = (why: string) => Error;

/** `namecheap.ssl.getInfo`: the certificate's state and, once active and asked for, its certificates. */
export interface SslInfo {
  /** As Namecheap spells it (`active`, `purchased`, `newpurchase`, `replaced`, …). */
  status: string;
  statusDescription: string;
  /** The id of the certificate a reissue replaced this one with; null when there is none. */
  replacedBy: number | null;
  /** Present when `Certificates@CertificateReturned="true"`: the leaf and the CA certificates, in the reply's order. */
  certificates: { leafPem: string; caPems: string[] } | null;
}

/** One `DNSDCValidation/DNS` entry: a CNAME at `hostName` pointing at `target`, proving `domain`. */
export interface DcvRecord {
  domain: string;
  hostName: string;
  target: string;
}

/** activate or reissue: the certificate the request runs on, and the CNAMEs Sectigo looks for. */
export interface DcvReply {
  certificateId: number;
  records: DcvRecord[];
  /** Why there is nothing to publish (`ValueAvailable="false"`, no entries): the request was taken, so the caller records it first. */
  unusable: string | null;
}

const idOf = (text: string | undefined): number | null => (text !== undefined && /^\d+$/.test(text) && Number(text) > 0 ? Number(text) : null);

export function parseGetInfo(response: XmlElement, malformed: Malformed): SslInfo {
  const result = child(response, "SSLGetInfoResult");
  if (!result) throw malformed("the reply has no SSLGetInfoResult");
  const status = result.attrs.Status;
  if (!status) throw malformed("SSLGetInfoResult has no Status");
  const details = child(result, "CertificateDetails");
  const certs = details && child(details, "Certificates");
  let certificates: SslInfo["certificates"] = null;
  if (certs?.attrs.CertificateReturned?.toLowerCase() === "true") {
    const leafPem = child(certs, "Certificate")?.text.trim() ?? "";
    if (!leafPem.includes("BEGIN CERTIFICATE")) throw malformed("Certificates@CertificateReturned is true but there is no Certificate");
    // CaCertificates/Certificate[@Type]/Certificate: each CA certificate wrapped in an element of its own.
    const ca = child(certs, "CaCertificates") ?? (details && child(details, "CaCertificates"));
    const caPems = (ca?.children ?? []).filter((e) => e.name === "Certificate").map((e) => (child(e, "Certificate")?.text ?? e.text).trim()).filter((p) => p !== "");
    certificates = { leafPem: `${leafPem}\n`, caPems: caPems.map((p) => `${p}\n`) };
  }
  return { status, statusDescription: result.attrs.StatusDescription ?? "", replacedBy: idOf(result.attrs.ReplacedBy), certificates };
}

/**
 * `SSLActivateResult` / `SSLReissueResult`: the certificate id (a reissue's is new, `@ID`) and
 * the CNAME records, one per name. `ValueAvailable="false"` or no entries comes back as
 * `unusable`: the request was taken, but rota has nothing to publish.
 */
export function parseDcvReply(response: XmlElement, element: string, fallbackId: number | null, malformed: Malformed): DcvReply {
  const result = child(response, element);
  if (!result) throw malformed(`the reply has no ${element}`);
  if (result.attrs.IsSuccess !== undefined && result.attrs.IsSuccess.toLowerCase() !== "true") throw malformed(`${element}@IsSuccess is ${JSON.stringify(result.attrs.IsSuccess)}`);
  const certificateId = idOf(result.attrs.ID) ?? fallbackId;
  if (certificateId === null) throw malformed(`${element} has no ID`);
  const dcv = child(result, "DNSDCValidation");
  if (!dcv) throw malformed(`${element} has no DNSDCValidation`);
  if (dcv.attrs.ValueAvailable?.toLowerCase() === "false") return { certificateId, records: [], unusable: `certificate ${certificateId}: DNSDCValidation@ValueAvailable is false (no CNAME to publish)` };
  const records: DcvRecord[] = [];
  for (const dns of dcv.children.filter((e) => e.name === "DNS")) {
    const domain = dns.attrs.domain ?? dns.attrs.Domain;
    const hostName = child(dns, "HostName")?.text.trim();
    const target = child(dns, "Target")?.text.trim();
    if (!domain || !hostName || !target) throw malformed(`certificate ${certificateId}: a DNSDCValidation/DNS entry lacks its domain, HostName or Target`);
    records.push({ domain, hostName, target });
  }
  return { certificateId, records, unusable: records.length === 0 ? `certificate ${certificateId}: DNSDCValidation lists no CNAME` : null };
}
