/** @module The email sink's config keys: defaults, and each mistake with the exact problem line it produces. */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "smol-toml";
import { Problems, Reader } from "../../../config/reader.ts";
import { parseEmailConfig, type EmailConfig } from "./config.ts";

const dir = mkdtempSync(join(tmpdir(), "rota-email-config-"));
writeFileSync(join(dir, "smtp.pass"), "hunter2\n");
writeFileSync(join(dir, "blank.pass"), " \n");
writeFileSync(join(dir, "ca.pem"), "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const BASE = `host = "smtp.example.com"\nfrom = "rota@example.com"\nto = ["ops@example.com"]\n`;

/** Reads `toml` as the section `alert[0]` the way the config loader would: parse, then reject unread keys. */
function read(toml: string, env: Record<string, string | undefined> = {}): { config: EmailConfig; problems: string[] } {
  const problems = new Problems();
  const r = new Reader(parse(toml), "alert[0]", { problems, baseDir: dir, env });
  const config = parseEmailConfig(r);
  r.finish();
  return { config, problems: problems.list };
}

function problemsOf(toml: string, env: Record<string, string | undefined> = {}): string[] {
  return read(toml, env).problems;
}

describe("defaults", () => {
  test("STARTTLS on 587, no login, the [rota] prefix", () => {
    expect(read(BASE)).toEqual({
      config: { host: "smtp.example.com", port: 587, tls: "starttls", caBundle: undefined, auth: undefined, from: "rota@example.com", to: ["ops@example.com"], subjectPrefix: "[rota]" },
      problems: [],
    });
  });

  test.each([
    ["starttls", 587],
    ["implicit", 465],
    ["none", 25],
  ] as const)("tls = %s defaults to port %d", (tls, port) => {
    expect(read(`${BASE}tls = "${tls}"`).config.port).toBe(port);
  });

  test("every key given", () => {
    const { config, problems } = read(
      `${BASE}port = 2525\ntls = "implicit"\nca_bundle = "ca.pem"\nusername = "rota"\npassword_file = "smtp.pass"\nsubject_prefix = "[prod]"`,
    );
    expect(problems).toEqual([]);
    expect(config).toMatchObject({ port: 2525, tls: "implicit", caBundle: join(dir, "ca.pem"), subjectPrefix: "[prod]" });
    expect(config.auth).toEqual({ username: "rota", password: { from: "file", path: join(dir, "smtp.pass") } });
  });

  test("the password from the environment; the config holds where it is, never the value", () => {
    const { config, problems } = read(`${BASE}username = "rota"\npassword_env = "SMTP_PASS"`, { SMTP_PASS: "hunter2" });
    expect(problems).toEqual([]);
    expect(config.auth).toEqual({ username: "rota", password: { from: "env", name: "SMTP_PASS" } });
    expect(JSON.stringify(config)).not.toContain("hunter2");
  });

  test("an IPv6 address is written bare", () => {
    expect(read(`host = "2001:db8::25"\nfrom = "a@b.example"\nto = "ops@example.com"`)).toMatchObject({ config: { host: "2001:db8::25" }, problems: [] });
  });

  test("one recipient may be a lone string", () => {
    expect(read(`host = "h"\nfrom = "a@b.example"\nto = "ops@example.com"`).config.to).toEqual(["ops@example.com"]);
  });
});

describe("problems", () => {
  test.each([
    ["no host, from or to", ``, ["alert[0].host: is required", "alert[0].from: is required", "alert[0].to: is required (at least one address)"]],
    ["an empty to", `host = "h"\nfrom = "a@b.example"\nto = []`, ["alert[0].to: must name at least one address"]],
    ["a bad tls", `${BASE}tls = "ssl"`, [`alert[0].tls: "ssl" is not one of starttls, implicit, none`]],
    ["a port out of range", `${BASE}port = 70000`, ["alert[0].port: must be between 1 and 65535"]],
    ["a username without a password", `${BASE}username = "rota"`, ["alert[0].password_file: is required when username is set (or password_env)"]],
    ["a password without a username", `${BASE}password_file = "smtp.pass"`, ["alert[0].username: is required when a password is set"]],
    ["an inline password", `${BASE}username = "rota"\npassword = "hunter2"`, ["alert[0].password: secrets are not accepted inline; use password_file or password_env"]],
    ["a password file that is not there", `${BASE}username = "rota"\npassword_file = "nope.pass"`, [`alert[0].password_file: ${join(dir, "nope.pass")} does not exist`]],
    ["an unset password variable", `${BASE}username = "rota"\npassword_env = "SMTP_PASS"`, ["alert[0].password_env: environment variable SMTP_PASS is not set"]],
    ["a ca_bundle that is not there", `${BASE}ca_bundle = "nope.pem"`, [`alert[0].ca_bundle: ${join(dir, "nope.pem")} does not exist`]],
    ["a ca_bundle with tls = none", `${BASE}tls = "none"\nca_bundle = "ca.pem"`, [`alert[0].ca_bundle: is unused with tls = "none"`]],
    ["an unknown key", `${BASE}server = "x"`, ["alert[0].server: unknown key"]],
    ["a port in host", `host = "smtp.example.com:25"\nfrom = "a@b.example"\nto = "ops@example.com"`, [`alert[0].host: "smtp.example.com:25" has a port in it: give the host alone and set port = 25`]],
    ["a bracketed IPv6 address with a port", `host = "[2001:db8::1]:587"\nfrom = "a@b.example"\nto = "ops@example.com"`, [`alert[0].host: "[2001:db8::1]:587" has a port in it: give the host alone and set port = 587`]],
    ["a bracketed IPv6 address", `host = "[2001:db8::1]"\nfrom = "a@b.example"\nto = "ops@example.com"`, [`alert[0].host: "[2001:db8::1]": write an IPv6 address without brackets`]],
    ["an empty password file", `${BASE}username = "rota"\npassword_file = "blank.pass"`, [`alert[0].password_file: ${join(dir, "blank.pass")} is empty`]],
    ["a subject prefix with a newline", `${BASE}subject_prefix = "[rota]\\nBcc: x@example.com"`, ["alert[0].subject_prefix: must not hold control characters or newlines"]],
  ])("%s", (_name, toml, expected) => {
    expect(problemsOf(toml)).toEqual(expected);
  });

  // Header injection: an address is one header value; a newline, comma or bracket in it would add recipients or headers.
  test.each([
    ["ops@example.com\\nBcc: x@example.com"],
    ["ops@example.com, x@example.com"],
    ["Ops <ops@example.com>"],
    ["ops example.com"],
    ["ops@@example.com"],
    ["ops@a@example.com"],
    ["opsexample.com"],
  ])("address %p is refused in to and in from", (address) => {
    const shown = JSON.stringify(address.replace("\\n", "\n"));
    expect(problemsOf(`host = "h"\nfrom = "a@b.example"\nto = ["ok@example.com", "${address}"]`)).toEqual([
      `alert[0].to[1]: ${shown} is not a plain email address (one @, no spaces, quotes, brackets or commas)`,
    ]);
    expect(problemsOf(`host = "h"\nfrom = "${address}"\nto = ["ok@example.com"]`)).toEqual([
      `alert[0].from: ${shown} is not a plain email address (one @, no spaces, quotes, brackets or commas)`,
    ]);
  });
});
