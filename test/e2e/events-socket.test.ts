/**
 * End to end, on the local CA: the compiled daemon serves `GET /api/events` on its unix
 * socket. A forced renewal arrives as frames in order, its steps the same as the audit
 * stores; stopping the daemon closes the stream with 1001.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeTempDir, removeTempDir, runRota, startDaemon, type Daemon } from "../harness/index.ts";
import { audit, localCaConfig, serialOf, waitForFile } from "./helpers.ts";

let dir: string;
let socket: string;
let daemon: Daemon | undefined;

beforeAll(async () => {
  dir = makeTempDir("rota-events-");
  const config = join(dir, "rota.toml");
  socket = join(dir, "rota.sock");
  writeFileSync(config, localCaConfig());
  daemon = startDaemon(config);
  await waitForFile(join(dir, "certs", "app", "cert.pem"));
});

afterAll(async () => {
  await daemon?.stop();
  removeTempDir(dir);
});

interface Stream {
  frames: Record<string, unknown>[];
  closed: Promise<CloseEvent>;
  /** Resolves once a frame matches, with every frame so far. */
  until(pred: (f: Record<string, unknown>) => boolean): Promise<Record<string, unknown>[]>;
}

async function follow(query = ""): Promise<Stream> {
  // Bun's client speaks to a unix socket as `ws+unix://<socket path>:<request path>`.
  const ws = new WebSocket(`ws+unix://${socket}:/api/events${query}`);
  const frames: Record<string, unknown>[] = [];
  let wake = () => {};
  ws.addEventListener("message", (m) => {
    frames.push(JSON.parse(String(m.data)) as Record<string, unknown>);
    wake();
  });
  const closed = new Promise<CloseEvent>((resolve) => ws.addEventListener("close", resolve));
  await new Promise((resolve, reject) => {
    ws.addEventListener("open", resolve);
    ws.addEventListener("error", reject);
  });
  return {
    frames,
    closed,
    async until(pred) {
      while (!frames.some(pred)) await new Promise<void>((resolve) => (wake = resolve));
      return frames;
    },
  };
}

test("a forced renewal streams as started, each step begun and ended in order, succeeded; the steps equal the audit's", async () => {
  const stream = await follow("?cert=app");
  const renew = await runRota(["renew", "app", "--force", "--socket", socket]);
  expect(renew.code).toBe(0);
  const frames = await stream.until((f) => f.type === "renewal.succeeded" || f.type === "renewal.failed");
  const ofRenewal = frames.filter((f) => f.renewal_id !== undefined);
  const renewalId = ofRenewal[0]?.renewal_id as string;
  expect(ofRenewal.every((f) => f.renewal_id === renewalId && f.cert_id === "app")).toBe(true);
  expect(ofRenewal[0]).toMatchObject({ type: "renewal.started", trigger: "manual", install_only: false });

  const stored = (await audit(socket, "app")).find((r) => r.id === renewalId);
  const steps = ofRenewal.filter((f) => f.type === "renewal.step").map(({ type: _, renewal_id: __, cert_id: ___, ...step }) => step);
  expect(steps.map((s) => s.step)).toContain("install");
  expect(steps).toEqual(stored?.events as unknown as Record<string, unknown>[]);
  // Each step is announced before it ends, and nothing else comes between them.
  const expectedTypes = ["renewal.started", ...steps.flatMap(() => ["renewal.step_started", "renewal.step"]), "renewal.succeeded"];
  expect(ofRenewal.map((f) => f.type)).toEqual(expectedTypes);

  const succeeded = ofRenewal.at(-1)!;
  expect(succeeded.serial).toBe(serialOf(join(dir, "certs", "app", "cert.pem")));
  expect(frames.filter((f) => f.type === "cert.due").every((f) => f.cert_id === "app")).toBe(true);
});

test("a plain GET on the socket answers 426 with JSON", async () => {
  const r = await fetch("http://rota/api/events", { unix: socket });
  expect(r.status).toBe(426);
  expect(await r.json()).toEqual({ error: "GET /api/events is a WebSocket: upgrade the connection (Upgrade: websocket)" });
});

test("stopping the daemon closes the stream with 1001", async () => {
  const stream = await follow();
  expect(await daemon!.stop()).toBe(0);
  daemon = undefined;
  expect((await stream.closed).code).toBe(1001);
});
