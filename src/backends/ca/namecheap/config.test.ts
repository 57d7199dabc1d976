/** @module The `[[ca]] type = "namecheap"` config contract (issue 13 §1): defaults, and each refusal under its key path. */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, parseConfigText } from "../../../config/load.ts";
import type { RotaConfig } from "../../../config/schema.ts";

const dir = mkdtempSync(join(tmpdir(), "rota-nc-ca-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, "namecheap.key"), "k3y\n");
const FILE = join(dir, "rota.toml");
mkdirSync(join(dir, "www"));

const CA = `[[ca]]
name = "nc-ssl"
type = "namecheap"
api_user = "alice"
api_key_file = "namecheap.key"
client_ip = "203.0.113.7"
admin_email = "ops@example.com"`;

const REST = `
[[ca]]
name = "le"
type = "acme"
directory_url = "https://acme.example/directory"

[[dcv]]
name = "cf"
type = "cloudflare"
api_token_env = "CF"

[[dcv]]
name = "web"
type = "webroot"
path = "www"

[[install]]
name = "files"
type = "filesystem"
dir = "out"
`;

const CERT = `[[cert]]
id = "shop"
domains = ["shop.example.com"]
ca = "nc-ssl"
dcv = "cf"
install = "files"
namecheap_certificate_id = 1001`;

function config(ca: string, ...certs: string[]): string {
  return [ca, REST, ...certs].join("\n\n");
}

function load(text: string): RotaConfig {
  return parseConfigText(new TextEncoder().encode(text), FILE, { CF: "t", NC: "k" });
}

function problemsOf(text: string): string[] {
  try {
    load(text);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error("config was accepted");
}

describe("namecheap CA config", () => {
  test("defaults: username is api_user, production endpoint, WebServerType other, an hour to issue; the cert's id as its CA option", () => {
    const c = load(config(CA, CERT));
    expect(c.cas[0]?.options).toEqual({
      apiUser: "alice",
      username: "alice",
      apiKey: { from: "file", path: join(dir, "namecheap.key") },
      clientIp: "203.0.113.7",
      apiUrl: "https://api.namecheap.com/xml.response",
      adminEmail: "ops@example.com",
      webServerType: "other",
      issuanceTimeoutSeconds: 3600,
    });
    expect(c.certs[0]?.caOptions).toEqual({ certificateId: 1001 });
  });

  test("sandbox, api_url, the key from the environment, a wildcard through a DNS backend", () => {
    const sandbox = load(config(`${CA}\nsandbox = true\nissuance_timeout_seconds = 10\nweb_server_type = "tomcat"`, CERT));
    expect(sandbox.cas[0]?.options).toMatchObject({ apiUrl: "https://api.sandbox.namecheap.com/xml.response", webServerType: "tomcat", issuanceTimeoutSeconds: 10 });
    const local = load(config(CA.replace('api_key_file = "namecheap.key"', 'api_key_env = "NC"') + '\napi_url = "http://127.0.0.1:8999/xml.response"', CERT.replace('["shop.example.com"]', '["*.example.com", "example.com"]')));
    expect(local.cas[0]?.options).toMatchObject({ apiKey: { from: "env", name: "NC" }, apiUrl: "http://127.0.0.1:8999/xml.response" });
  });

  test("missing keys are named", () => {
    expect(problemsOf(config(`[[ca]]\nname = "nc-ssl"\ntype = "namecheap"`, CERT))).toEqual([
      "ca[0].api_user: is required",
      "ca[0].api_key_file: is required (or api_key_env)",
      "ca[0].client_ip: is required",
      "ca[0].admin_email: is required",
    ]);
  });

  const refused: [string, string, string[], string][] = [
    ["sandbox not a boolean", `${CA}\nsandbox = "yes"`, [CERT], 'ca[0].sandbox: must be true or false, not a string'],
    ["client_ip not a dotted IPv4", CA.replace("203.0.113.7", "203.0.113"), [CERT], 'ca[0].client_ip: "203.0.113" must be a dotted IPv4 address'],
    ["an IPv6 client_ip", CA.replace("203.0.113.7", "2001:db8::7"), [CERT], "ca[0].client_ip: Namecheap accepts IPv4 only (its error 1011105)"],
    ["sandbox together with api_url", `${CA}\nsandbox = true\napi_url = "http://127.0.0.1:9/xml.response"`, [CERT], "ca[0].api_url: give api_url or sandbox, not both"],
    ["an unknown web_server_type", `${CA}\nweb_server_type = "caddy"`, [CERT], 'ca[0].web_server_type: "caddy" is not one of'],
    ["issuance_timeout_seconds out of bounds", `${CA}\nissuance_timeout_seconds = 5`, [CERT], "ca[0].issuance_timeout_seconds: must be between 10 and 86400"],
    ["no namecheap_certificate_id", CA, [CERT.replace("namecheap_certificate_id = 1001", "")], "cert[0].namecheap_certificate_id: is required with a namecheap CA"],
    ["namecheap_certificate_id out of bounds", CA, [CERT.replace("1001", "0")], "cert[0].namecheap_certificate_id: must be between 1 and 9999999999"],
    [
      "namecheap_certificate_id on another CA type",
      CA,
      [CERT.replace('ca = "nc-ssl"', 'ca = "le"')],
      'cert[0].namecheap_certificate_id: ca "le" (type acme) takes no namecheap_certificate_id',
    ],
    ["namecheap_certificate_id shared by two certs", CA, [CERT, CERT.replace('id = "shop"', 'id = "shop2"')], 'cert[1].namecheap_certificate_id: is also the namecheap_certificate_id of cert "shop"'],
    ["profile on a cert of this CA", CA, [`${CERT}\nprofile = "classic"`], 'cert[0].profile: ca "nc-ssl" (type namecheap) takes no profile'],
    [
      "a dcv that cannot solve dns-cname",
      CA,
      [CERT.replace('dcv = "cf"', 'dcv = "web"')],
      'cert[0].dcv: ca "nc-ssl" (type namecheap) validates with a DNS CNAME record; dcv "web" (type webroot) solves http-01',
    ],
  ];
  for (const [what, ca, certs, problem] of refused) {
    test(`${what} is refused by key`, () => {
      const problems = problemsOf(config(ca, ...certs));
      expect(problems).toHaveLength(1);
      expect(problems[0]).toStartWith(problem);
    });
  }

  test("docs/namecheap-ca.md's example is accepted as written, and with its commented keys set", () => {
    const doc = readFileSync(join(import.meta.dir, "../../../../docs/namecheap-ca.md"), "utf8");
    const example = /```toml\n([\s\S]*?)```/.exec(doc)![1]!.replaceAll("/etc/rota/", `${dir}/`);
    expect(load(`${example}\n${REST}`).certs[0]?.caOptions).toEqual({ certificateId: 1001 });
    const all = load(`${example.replace(/^# ([a-z_]+ = )/gm, "$1")}\n${REST}`);
    expect(all.cas[0]?.options).toMatchObject({ username: "alice", apiUrl: "https://api.sandbox.namecheap.com/xml.response", issuanceTimeoutSeconds: 3600 });
  });
});
