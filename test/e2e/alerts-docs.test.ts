/**
 * End to end: every `[[alert]]` example in docs/alerts.md passes `rota check-config` as
 * written, and again with its commented keys uncommented. Only `/etc/rota/` is moved into a
 * temp dir holding the files the examples name, since check-config reads secret files.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeLoopbackTls, makeTempDir, removeTempDir, runRota } from "../harness/index.ts";

const DOC = readFileSync(join(import.meta.dir, "..", "..", "docs", "alerts.md"), "utf8");
const EXAMPLES = [...DOC.matchAll(/```toml\n([\s\S]*?)```/g)].map((m) => m[1]!).filter((b) => b.includes("[[alert]]"));
const DAEMON = 'state_dir = "state"\nsocket = "rota.sock"\n';
const REST = `
[[ca]]
name = "internal"
type = "local"

[[install]]
name = "files"
type = "filesystem"
dir = "certs"

[[cert]]
id = "app"
domains = ["app.home.arpa"]
ca = "internal"
install = ["files"]
`;

let dir: string;

beforeAll(() => {
  dir = makeTempDir("rota-alerts-docs-");
  writeFileSync(join(dir, "smtp.pass"), "secret\n");
  writeFileSync(join(dir, "webhook.secret"), "secret\n");
  copyFileSync(makeLoopbackTls(join(dir)).caPath, join(dir, "mail-ca.pem"));
});

afterAll(() => removeTempDir(dir));

/** The example in a config of its own, its `[daemon]` (if any) holding the state paths too. */
function configWith(example: string): string {
  const local = example.replaceAll("/etc/rota/", `${dir}/`);
  const withDaemon = local.includes("[daemon]\n") ? local.replace("[daemon]\n", `[daemon]\n${DAEMON}`) : `[daemon]\n${DAEMON}\n${local}`;
  return `${withDaemon}\n${REST}`;
}

/** `# key = value` lines made keys: the documented defaults and options must be accepted too. */
function uncommented(example: string): string {
  return example.replace(/^# ([a-z_]+ = )/gm, "$1");
}

test("docs/alerts.md has the common keys, the email and the webhook examples", () => {
  expect(EXAMPLES.map((b) => b.match(/^type = "(\w+)"/m)?.[1])).toEqual(["email", "email", "webhook"]);
});

for (const [i, example] of EXAMPLES.entries()) {
  for (const [how, text] of [["as written", example], ["uncommented", uncommented(example)]] as const) {
    test(`rota check-config accepts example ${i + 1} ${how}`, async () => {
      const path = join(dir, `example-${i}-${how.replace(" ", "-")}.toml`);
      writeFileSync(path, configWith(text));
      const r = await runRota(["check-config", "--config", path]);
      expect([r.code, r.stderr]).toEqual([0, ""]);
    });
  }
}

test("rota check-config refuses what the docs rule out: a port in the mail host, an empty secret file, a path in public_url", async () => {
  writeFileSync(join(dir, "empty.secret"), "\n");
  const path = join(dir, "refused.toml");
  const alerts = `
[http]
public_url = "https://rota.example.test/base"

[[alert]]
name = "mail"
type = "email"
host = "smtp.example.com:25"
from = "rota@example.com"
to = ["ops@example.com"]

[[alert]]
name = "hook"
type = "webhook"
url = "https://hooks.example.com/rota"
secret_file = "empty.secret"
`;
  writeFileSync(path, `[daemon]\n${DAEMON}\n${alerts}\n${REST}`);
  const r = await runRota(["check-config", "--config", path]);
  expect(r.code).toBe(2);
  expect(r.stderr).not.toContain("    at ");
  for (const line of [
    'alert[0].host: "smtp.example.com:25" has a port in it: give the host alone and set port = 25',
    `alert[1].secret_file: ${join(dir, "empty.secret")} is empty`,
    'http.public_url: "https://rota.example.test/base" has a path (/base): the dashboard is served at the root of its host, so give the origin alone ("https://rota.example.test")',
  ]) {
    expect(r.stderr).toContain(line);
  }
});
