/** @module The daemon's watchlist: each cert with its targets in order and what its CA type adds, built once per section. */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { systemClock } from "../clock.ts";
import { parseConfigText } from "../config/load.ts";
import { createLogger } from "../log.ts";
import { buildWatchlist } from "./backends.ts";

const dir = mkdtempSync(join(tmpdir(), "rota-watchlist-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, "namecheap.key"), "k3y\n");

const TEXT = `
[daemon]
state_dir = "state"

[[ca]]
name = "nc-ssl"
type = "namecheap"
api_user = "alice"
api_key_file = "namecheap.key"
client_ip = "203.0.113.7"
admin_email = "ops@example.com"
issuance_timeout_seconds = 600

[[ca]]
name = "home"
type = "local"

[[dcv]]
name = "cf"
type = "cloudflare"
api_token_env = "CF"

[[install]]
name = "a"
type = "filesystem"
dir = "out-a"

[[install]]
name = "b"
type = "filesystem"
dir = "out-b"

[[install]]
name = "unused"
type = "filesystem"
dir = "out-c"

[[cert]]
id = "shop"
domains = ["shop.example.com"]
ca = "nc-ssl"
dcv = "cf"
install = "a"
namecheap_certificate_id = 1001

[[cert]]
id = "two"
domains = ["a.example.com", "b.example.com"]
ca = "nc-ssl"
dcv = "cf"
install = ["a", "b"]
namecheap_certificate_id = 1002

[[cert]]
id = "lan"
domains = ["nas.home.arpa"]
ca = "home"
install = "a"

[[cert]]
id = "other-order"
domains = ["printer.home.arpa"]
ca = "home"
install = ["b", "a"]

[[cert]]
id = "same-list"
domains = ["tv.home.arpa"]
ca = "home"
install = ["a", "b"]
`;

test("each cert gets its targets in its own order, and its CA's implied names and shortest deadline; certs naming the same targets share one array", async () => {
  const config = parseConfigText(new TextEncoder().encode(TEXT), join(dir, "rota.toml"), { CF: "t" });
  const watch = await buildWatchlist(config, { stateDir: join(dir, "state"), clock: systemClock, log: createLogger({ level: "silent" }), emit: () => {}, withheldEnv: () => [] });
  const view = watch.certs.map((c) => ({ id: c.config.id, installs: c.installs.map((t) => t.name), impliedNames: c.impliedNames, minRenewalSeconds: c.minRenewalSeconds }));
  expect(view).toEqual([
    { id: "shop", installs: ["a"], impliedNames: ["www.shop.example.com"], minRenewalSeconds: 900 },
    // Two names: Sectigo adds none.
    { id: "two", installs: ["a", "b"], impliedNames: undefined, minRenewalSeconds: 900 },
    { id: "lan", installs: ["a"], impliedNames: undefined, minRenewalSeconds: undefined },
    { id: "other-order", installs: ["b", "a"], impliedNames: undefined, minRenewalSeconds: undefined },
    { id: "same-list", installs: ["a", "b"], impliedNames: undefined, minRenewalSeconds: undefined },
  ]);
  const [shop, two, lan, otherOrder, sameList] = watch.certs;
  // One instance per target, and one array per distinct list of them.
  expect(shop!.installs[0]).toBe(two!.installs[0]!);
  expect(lan!.installs).toBe(shop!.installs);
  expect(sameList!.installs).toBe(two!.installs);
  expect(otherOrder!.installs).not.toBe(two!.installs);
  expect([...watch.dcvs.keys()]).toEqual(["cf"]);
});
