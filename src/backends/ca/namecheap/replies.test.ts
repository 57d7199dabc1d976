/** @module The SSL API's replies as Namecheap documents them, read into what rota acts on; and what a reply that lacks something gives. */
import { describe, expect, test } from "bun:test";
import { child, parseXml } from "../../dcv/namecheap/xml.ts";
import { parseDcvReply, parseGetInfo } from "./replies.ts";

const malformed = (why: string) => new Error(why);
const response = (xml: string) => child(parseXml(xml), "CommandResponse")!;

const PEM = (tag: string) => `-----BEGIN CERTIFICATE-----\nMIIB${tag}+/=\n-----END CERTIFICATE-----`;

/** namecheap.ssl.getInfo, active, ReturnCertificate=true&ReturnType=Individual (docs: methods/ssl/get-info). */
const GET_INFO_ACTIVE = `<?xml version="1.0" encoding="utf-8"?>
<ApiResponse Status="OK" xmlns="http://api.namecheap.com/xml.response">
  <Errors />
  <RequestedCommand>namecheap.ssl.getinfo</RequestedCommand>
  <CommandResponse Type="namecheap.ssl.getInfo">
    <SSLGetInfoResult Status="Active" StatusDescription="Certificate is Active" Type="PositiveSSL" IssuedOn="11/24/2025" Expires="06/11/2026" ActivationExpireDate="" OrderId="1234" ReplacedBy="0" SANSCount="0">
      <CertificateDetails>
        <CSR><![CDATA[-----BEGIN CERTIFICATE REQUEST-----
MIIC
-----END CERTIFICATE REQUEST-----]]></CSR>
        <ApproverEmail>CNAMECSRHASH</ApproverEmail>
        <CommonName>shop.example.com</CommonName>
        <Certificates CertificateReturned="true" ReturnType="INDIVIDUAL">
          <Certificate><![CDATA[${PEM("leaf")}]]></Certificate>
          <CaCertificates>
            <Certificate Type="INTERMEDIATE"><Certificate><![CDATA[${PEM("inter")}]]></Certificate></Certificate>
            <Certificate Type="ROOT"><Certificate><![CDATA[${PEM("root")}]]></Certificate></Certificate>
          </CaCertificates>
        </Certificates>
      </CertificateDetails>
      <Provider><OrderID>1234</OrderID><Name>COMODO</Name></Provider>
    </SSLGetInfoResult>
  </CommandResponse>
  <Server>PHX01APIEXT01</Server>
  <GMTTimeDifference>--5:00</GMTTimeDifference>
  <ExecutionTime>0.52</ExecutionTime>
</ApiResponse>`;

/** namecheap.ssl.reissue with DNSDCValidation=true (docs: methods/ssl/reissue). */
const REISSUE = `<?xml version="1.0" encoding="UTF-8"?>
<ApiResponse Status="OK" xmlns="http://api.namecheap.com/xml.response">
  <Errors />
  <RequestedCommand>namecheap.ssl.reissue</RequestedCommand>
  <CommandResponse Type="namecheap.ssl.reissue">
    <SSLReissueResult ID="1002" IsSuccess="true">
      <DNSDCValidation ValueAvailable="true">
        <DNS domain="example.com">
          <HostName><![CDATA[_7F3A0C2E9D1B4A6F8E0C3D5B7A9F1E2D.example.com]]></HostName>
          <Target><![CDATA[1A2B3C4D5E6F7A8B9C0D1E2F3A4B5C6D.7E8F9A0B1C2D3E4F5A6B7C8D9E0F1A2B.a1b2c3d4e5.sectigo.com]]></Target>
        </DNS>
        <DNS domain="*.example.com">
          <HostName><![CDATA[_7F3A0C2E9D1B4A6F8E0C3D5B7A9F1E2D.example.com]]></HostName>
          <Target><![CDATA[1A2B3C4D5E6F7A8B9C0D1E2F3A4B5C6D.7E8F9A0B1C2D3E4F5A6B7C8D9E0F1A2B.a1b2c3d4e5.sectigo.com]]></Target>
        </DNS>
      </DNSDCValidation>
    </SSLReissueResult>
  </CommandResponse>
</ApiResponse>`;

describe("parseGetInfo", () => {
  test("an active certificate with its leaf and CA certificates, each PEM as sent", () => {
    const info = parseGetInfo(response(GET_INFO_ACTIVE), malformed);
    expect(info).toEqual({
      status: "Active",
      statusDescription: "Certificate is Active",
      replacedBy: null,
      certificates: { leafPem: `${PEM("leaf")}\n`, caPems: [`${PEM("inter")}\n`, `${PEM("root")}\n`] },
    });
  });

  test("a replaced certificate names its successor; one not returned has no certificates", () => {
    const xml = GET_INFO_ACTIVE.replace('Status="Active"', 'Status="replaced"').replace('ReplacedBy="0"', 'ReplacedBy="1002"').replace('CertificateReturned="true"', 'CertificateReturned="false"');
    expect(parseGetInfo(response(xml), malformed)).toMatchObject({ status: "replaced", replacedBy: 1002, certificates: null });
  });

  test("a reply without the result, without a Status, or returned without a certificate is malformed", () => {
    expect(() => parseGetInfo(response(`<ApiResponse Status="OK"><CommandResponse Type="namecheap.ssl.getInfo" /></ApiResponse>`), malformed)).toThrow("no SSLGetInfoResult");
    expect(() => parseGetInfo(response(GET_INFO_ACTIVE.replace('Status="Active" ', "")), malformed)).toThrow("has no Status");
    expect(() => parseGetInfo(response(GET_INFO_ACTIVE.replace(/<Certificate><!\[CDATA\[-----BEGIN CERTIFICATE-----\nMIIBleaf[^\]]*\]\]><\/Certificate>/, "")), malformed)).toThrow(
      "CertificateReturned is true but there is no Certificate",
    );
  });
});

describe("parseDcvReply", () => {
  test("the reissue's new id and each DNS entry's HostName and Target", () => {
    const reply = parseDcvReply(response(REISSUE), "SSLReissueResult", null, malformed);
    expect(reply.certificateId).toBe(1002);
    expect(reply.records.map((r) => r.domain)).toEqual(["example.com", "*.example.com"]);
    expect(reply.records[0]).toEqual({
      domain: "example.com",
      hostName: "_7F3A0C2E9D1B4A6F8E0C3D5B7A9F1E2D.example.com",
      target: "1A2B3C4D5E6F7A8B9C0D1E2F3A4B5C6D.7E8F9A0B1C2D3E4F5A6B7C8D9E0F1A2B.a1b2c3d4e5.sectigo.com",
    });
  });

  test("activate keeps the id it was called with when the reply has none", () => {
    const xml = REISSUE.replaceAll("SSLReissueResult", "SSLActivateResult").replace(' ID="1002"', "");
    expect(parseDcvReply(response(xml), "SSLActivateResult", 2001, malformed).certificateId).toBe(2001);
  });

  test("ValueAvailable false or no entries: the request's id, with why there is nothing to publish", () => {
    const parse = (xml: string) => parseDcvReply(response(xml), "SSLReissueResult", null, malformed);
    expect(parse(REISSUE.replace('ValueAvailable="true"', 'ValueAvailable="false"'))).toEqual({
      certificateId: 1002,
      records: [],
      unusable: "certificate 1002: DNSDCValidation@ValueAvailable is false (no CNAME to publish)",
    });
    expect(parse(REISSUE.replace(/<DNS domain[\s\S]*<\/DNS>/, "")).unusable).toBe("certificate 1002: DNSDCValidation lists no CNAME");
    expect(parse(REISSUE).unusable).toBeNull();
  });

  test("an entry without its Target, IsSuccess false, no DNSDCValidation: errors naming what is missing", () => {
    const parse = (xml: string) => () => parseDcvReply(response(xml), "SSLReissueResult", null, malformed);
    expect(parse(REISSUE.replace(/<DNSDCValidation[\s\S]*<\/DNSDCValidation>/, ""))).toThrow("has no DNSDCValidation");
    expect(parse(REISSUE.replace(/<Target>[^\n]*<\/Target>/, ""))).toThrow("lacks its domain, HostName or Target");
    expect(parse(REISSUE.replace('IsSuccess="true"', 'IsSuccess="false"'))).toThrow('IsSuccess is "false"');
  });
});
