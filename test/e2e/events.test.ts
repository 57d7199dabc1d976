/**
 * End to end: the WebSocket event stream on the TCP listener with real pebble. A renewal
 * is held open by a frozen nginx (pebble cannot validate) while the stream already shows
 * its first steps in order; thawed, the rest and the end arrive. Another site's page
 * cannot open the stream with the user's session.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, startDaemon, waitFor, type Daemon } from "../harness/index.ts";
import { startWorld, type World } from "./fixture.ts";
import { waitForRenewal } from "./helpers.ts";

const TOKEN = `events-${crypto.randomUUID()}`;
let world: World;
let daemon: Daemon;
let origin: string;

interface Frame {
  type: string;
  renewal_id?: string;
  cert_id?: string;
  step?: string;
  status?: string;
  at?: string;
}

beforeAll(async () => {
  world = await startWorld();
  const port = await freePort();
  origin = `http://127.0.0.1:${port}`;
  writeFileSync(join(world.dir, "token"), TOKEN, { mode: 0o600 });
  const config = world.writeConfig({ extra: `\n[http]\nlisten = "127.0.0.1:${port}"\ntoken_file = ${JSON.stringify(join(world.dir, "token"))}\n` });
  daemon = startDaemon(config, { env: world.env });
  await waitForRenewal(world.socket, "www", (r) => r.status === "succeeded");
});

afterAll(async () => {
  await daemon?.stop();
  await world?.stop();
});

/** Opens the stream; frames are collected as they arrive. */
function open(query = "", headers: Record<string, string> = { Authorization: `Bearer ${TOKEN}` }): Promise<{ ws: WebSocket; frames: Frame[] }> {
  const ws = new WebSocket(`${origin.replace("http", "ws")}/api/events${query}`, { headers } as unknown as string[]);
  const frames: Frame[] = [];
  ws.addEventListener("message", (e) => frames.push(JSON.parse(String(e.data)) as Frame));
  return new Promise((resolve, reject) => {
    ws.addEventListener("open", () => resolve({ ws, frames }));
    ws.addEventListener("error", () => reject(new Error("the WebSocket did not open")));
  });
}

test("a renewal's steps arrive in order while it is held open, then its end", async () => {
  const { ws, frames } = await open("?cert=www");
  await world.nginx.freeze();
  try {
    const res = await fetch(`${origin}/api/certs/www/renew?force=1`, { method: "POST", headers: { Authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(202);
    const { renewal_id: id } = (await res.json()) as { renewal_id: string };
    await waitFor(() => frames.some((f) => f.type === "renewal.step" && f.step === "publish"), 30_000, 20, "the publish step on the stream");
    // Held open: pebble cannot reach the frozen nginx, so nothing has ended yet.
    expect(frames.some((f) => f.type === "renewal.succeeded" || f.type === "renewal.failed")).toBe(false);
    expect(frames[0]).toMatchObject({ type: "renewal.started", renewal_id: id, cert_id: "www" });
    await world.nginx.thaw();
    await waitFor(() => frames.some((f) => f.type === "renewal.succeeded"), 60_000, 20, "the end on the stream");
    const steps = frames.filter((f) => f.type === "renewal.step" && f.renewal_id === id).map((f) => f.step);
    expect(steps).toEqual(["key", "csr", "submit", "preflight", "publish", "propagate", "await_issuance", "remove", "verify", "persist", "install"]);
    expect(frames.every((f) => f.cert_id === "www")).toBe(true);
    expect(frames.every((f) => f.at === undefined || !Number.isNaN(Date.parse(f.at)))).toBe(true);
  } finally {
    await world.nginx.thaw();
    ws.close();
  }
});

test("another site's page cannot open the stream", async () => {
  await expect(open("", { Authorization: `Bearer ${TOKEN}`, Origin: "https://evil.example" })).rejects.toThrow("did not open");
  await expect(open("", {})).rejects.toThrow("did not open");
});
