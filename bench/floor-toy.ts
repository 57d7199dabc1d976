/**
 * @module The least a compiled daemon holding N certs does (`floor.ts` compiles and runs it):
 * N rows read from SQLite into one record each (id, names, serial, three instants, a stamp),
 * a sweep that stats one file per cert and compares instants, every `TOY_INTERVAL_MS`, and a
 * `/healthz` listener. No config, scheduler, parse, plan, API or backend: what a compiled Bun
 * program costs before rota's own per-cert state. Not shipped, not a test.
 */
import { Database } from "bun:sqlite";
import { existsSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const n = Number(process.env.TOY_CERTS);
const dir = process.env.TOY_DIR!;
const port = Number(process.env.TOY_PORT);
const intervalMs = Number(process.env.TOY_INTERVAL_MS ?? 3_600_000);
const DAY_MS = 86_400_000;

interface Cert {
  id: string;
  names: string[];
  serial: string;
  notBefore: number;
  notAfter: number;
  renewAt: number;
  stamp: number;
}

mkdirSync(join(dir, "certs"), { recursive: true });
const db = new Database(join(dir, "toy.sqlite"));
db.run("CREATE TABLE IF NOT EXISTS cert (id TEXT PRIMARY KEY, names TEXT, serial TEXT, not_before INTEGER, not_after INTEGER)");
if ((db.query("SELECT count(*) AS n FROM cert").get() as { n: number }).n !== n) {
  db.run("DELETE FROM cert");
  const insert = db.prepare("INSERT INTO cert VALUES (?, ?, ?, ?, ?)");
  const now = Date.now();
  db.transaction(() => {
    for (let i = 0; i < n; i++) {
      insert.run(`cert-${i}`, `host-${i}.example.test`, crypto.randomUUID().replaceAll("-", ""), now, now + 90 * DAY_MS);
    }
  })();
}

const certs = new Map<string, Cert>();
const rows = db.query("SELECT id, names, serial, not_before, not_after FROM cert").all() as {
  id: string;
  names: string;
  serial: string;
  not_before: number;
  not_after: number;
}[];
for (const r of rows) {
  const file = join(dir, "certs", `${r.id}.pem`);
  if (!existsSync(file)) writeFileSync(file, r.serial);
  certs.set(r.id, {
    id: r.id,
    names: r.names.split(","),
    serial: r.serial,
    notBefore: r.not_before,
    notAfter: r.not_after,
    renewAt: r.not_after - 30 * DAY_MS,
    stamp: 0,
  });
}

let due = 0;
function sweep(): void {
  const now = Date.now();
  for (const c of certs.values()) {
    c.stamp = statSync(join(dir, "certs", `${c.id}.pem`)).mtimeMs;
    if (c.renewAt <= now) due++;
  }
}

sweep();
setInterval(sweep, intervalMs);
Bun.serve({
  hostname: "127.0.0.1",
  port,
  fetch: (req) => (new URL(req.url).pathname === "/healthz" ? Response.json({ ok: true, certs: certs.size, due }) : new Response(null, { status: 404 })),
});
