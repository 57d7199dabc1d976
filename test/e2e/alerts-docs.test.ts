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
