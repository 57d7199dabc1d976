/**
 * End to end: each `[[dcv]]` example in docs/dns.md passes `rota check-config` as written,
 * and again with its commented keys uncommented and the shared propagation keys added, in
 * a config whose wildcard cert (the docs' own) uses it. `/etc/rota/` is moved into a temp
 * dir holding the secret files the examples name, since check-config reads them.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir, removeTempDir, runRota } from "../harness/index.ts";

const DOC = readFileSync(join(import.meta.dir, "..", "..", "docs", "dns.md"), "utf8");
const BLOCKS = [...DOC.matchAll(/```toml\n([\s\S]*?)```/g)].map((m) => m[1]!);
const DCV = BLOCKS.filter((b) => b.includes("[[dcv]]"));
const PROPAGATION = BLOCKS.find((b) => b.includes("propagation_check"))!;
const CERT = BLOCKS.find((b) => b.includes("[[cert]]"))!;

let dir: string;

beforeAll(() => {
  dir = makeTempDir("rota-dns-docs-");
  writeFileSync(join(dir, "cloudflare.token"), "token-from-file\n");
  writeFileSync(join(dir, "namecheap.key"), "key-from-file\n");
});

afterAll(() => removeTempDir(dir));

/** `# key = value` lines made keys: the documented defaults and options must be accepted too. */
function uncommented(text: string): string {
  return text.replace(/^# ([a-z_]+ = )/gm, "$1");
}

function configWith(dcv: string): string {
  const name = /^name = "(\w+)"/m.exec(dcv)![1]!;
  return `[daemon]
state_dir = "state"
socket = "rota.sock"

[[ca]]
name = "le"
type = "acme"
directory_url = "https://acme-staging-v02.api.letsencrypt.org/directory"
email = "ops@example.com"

${dcv.replaceAll("/etc/rota/", `${dir}/`)}

[[install]]
name = "files"
type = "filesystem"
dir = "certs"

${CERT.replace(/^dcv = "\w+"/m, `dcv = "${name}"`)}
install = "files"
`;
}

test("docs/dns.md has the Cloudflare and the Namecheap examples, the propagation keys and a wildcard cert", () => {
  expect(DCV.map((b) => /^type = "(\w+)"/m.exec(b)?.[1])).toEqual(["cloudflare", "namecheap"]);
  expect(PROPAGATION).toBeDefined();
  expect(CERT).toContain('"*.example.com"');
});

for (const [i, example] of DCV.entries()) {
  const full = uncommented(`${example}${PROPAGATION}`);
  for (const [how, text] of [["as written", example], ["uncommented, with the propagation keys", full]] as const) {
    test(`rota check-config accepts dcv example ${i + 1} ${how}`, async () => {
      const path = join(dir, `example-${i}-${how.split(",")[0]!.replace(" ", "-")}.toml`);
      writeFileSync(path, configWith(text));
      const r = await runRota(["check-config", "--config", path]);
      expect([r.code, r.stderr]).toEqual([0, ""]);
    });
  }
}
