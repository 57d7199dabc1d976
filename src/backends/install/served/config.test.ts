/** @module The `verify_served*` keys of an `[[install]]` section: read for every type, refused with the key path named. */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, parseConfigText } from "../../../config/load.ts";
import type { RotaConfig } from "../../../config/schema.ts";
import { parseEndpoint } from "./config.ts";

const dir = mkdtempSync(join(tmpdir(), "rota-verify-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** One local CA, one filesystem target with `keys`, one cert. */
const config = (keys: string) => `
[[ca]]
name = "internal"
type = "local"

[[install]]
name = "files"
type = "filesystem"
dir = "out"
${keys}

[[cert]]
id = "a"
domains = ["a.example"]
ca = "internal"
install = "files"
`;

const load = (keys: string): RotaConfig => parseConfigText(new TextEncoder().encode(config(keys)), join(dir, "rota.toml"), {});

function problemsOf(keys: string): string[] {
  try {
    load(keys);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error("config was accepted");
}

describe("verify_served", () => {
  test("absent: nothing is verified", () => {
    expect(load("").installs[0]!.verifyServed).toBeNull();
  });

  test("endpoints with the defaults: the first name only, 10 seconds", () => {
    expect(load(`verify_served = ["127.0.0.1:443", "[::1]:8443", "www.example.com:443"]`).installs[0]!.verifyServed).toEqual({
      endpoints: [
        { host: "127.0.0.1", port: 443, text: "127.0.0.1:443" },
        { host: "::1", port: 8443, text: "[::1]:8443" },
        { host: "www.example.com", port: 443, text: "www.example.com:443" },
      ],
      allNames: false,
      timeoutSeconds: 10,
    });
  });

  test("verify_served_all_names and verify_served_timeout_seconds", () => {
    const v = load(`verify_served = ["127.0.0.1:443"]\nverify_served_all_names = true\nverify_served_timeout_seconds = 30`).installs[0]!.verifyServed;
    expect(v).toMatchObject({ allNames: true, timeoutSeconds: 30 });
  });

  test("an entry that is not host:port is refused at its own index", () => {
    expect(problemsOf(`verify_served = ["127.0.0.1:443", "127.0.0.1", "::1:443", "[127.0.0.1]:443", "x:0", "a b:443", 443]`)).toEqual([
      "install[0].verify_served[6]: must be a non-empty string",
      'install[0].verify_served[1]: "127.0.0.1" must be host:port (IPv6 as [::1]:443)',
      'install[0].verify_served[2]: "::1:443" must be host:port (IPv6 as [::1]:443)',
      'install[0].verify_served[3]: "[127.0.0.1]:443" must be host:port with an IP address or a host name (IPv6 as [::1]:443)',
      'install[0].verify_served[4]: "x:0" port must be between 1 and 65535',
      'install[0].verify_served[5]: "a b:443" must be host:port with an IP address or a host name (IPv6 as [::1]:443)',
    ]);
  });

  test("a string instead of a list, an endpoint twice, a timeout out of range, the options without endpoints", () => {
    expect(problemsOf(`verify_served = "127.0.0.1:443"`)).toEqual(["install[0].verify_served: must be a list of strings, not a string"]);
    expect(problemsOf(`verify_served = ["127.0.0.1:443", "127.0.0.1:443"]`)).toEqual(['install[0].verify_served[1]: "127.0.0.1:443" is listed twice']);
    expect(problemsOf(`verify_served = ["127.0.0.1:443"]\nverify_served_timeout_seconds = 0`)).toEqual(["install[0].verify_served_timeout_seconds: must be between 1 and 300"]);
    expect(problemsOf(`verify_served_all_names = true\nverify_served_timeout_seconds = 5`)).toEqual([
      "install[0].verify_served_all_names: has no effect without verify_served",
      "install[0].verify_served_timeout_seconds: has no effect without verify_served",
    ]);
  });
});

test("parseEndpoint", () => {
  expect(parseEndpoint("[2001:db8::1]:443")).toEqual({ host: "2001:db8::1", port: 443, text: "[2001:db8::1]:443" });
  expect(parseEndpoint("localhost:8443")).toEqual({ host: "localhost", port: 8443, text: "localhost:8443" });
  expect(parseEndpoint("127.0.0.1:99999")).toBe("port must be between 1 and 65535");
});
