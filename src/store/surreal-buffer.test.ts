/** @module The outage buffer's overflow rule, word for word, and the spool's round trip. */
import { describe, expect, test } from "bun:test";
import { appendFileSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { admit, appendSpool, readSpool, removeSpool, WriteBuffer, type AuditWrite } from "./surreal-buffer.ts";

const at = new Date("2030-01-01T00:00:00.123Z");
const open = (r: string): AuditWrite => ({ kind: "open", renewalId: r, certId: "www", trigger: "manual", installOnly: false, reason: "forced", startedAt: at });
const step = (r: string, seq: number): AuditWrite => ({ kind: "step", renewalId: r, seq, event: { step: "publish", at, status: "ok", message: `s${seq}`, durationMs: 3 } });
const close = (r: string): AuditWrite => ({ kind: "close", renewalId: r, status: "failed", finishedAt: at, error: "acme: boom" });
const event = (id: string): AuditWrite => ({
  kind: "cluster_event",
  event: { id, at, nodeId: "nas-1", type: "leader_acquired", term: 7, certId: null, serial: null, detail: "nas-1 leads at term 7" },
});

describe("admit", () => {
  test("below the limit every write joins", () => {
    expect(admit([open("a")], step("a", 1), 2, new Set())).toEqual({ accept: true, evict: null });
  });
  test("at the limit a step is dropped", () => {
    expect(admit([open("a"), step("a", 1)], step("a", 2), 2, new Set())).toEqual({ accept: false });
  });
  test("at the limit an open or a close pushes out the oldest step", () => {
    const full = [open("a"), step("a", 1), step("a", 2)];
    expect(admit(full, close("a"), 3, new Set())).toEqual({ accept: true, evict: 1 });
    expect(admit(full, open("b"), 3, new Set())).toEqual({ accept: true, evict: 1 });
  });
  test("at the limit a cluster event pushes out the oldest step, like an open", () => {
    expect(admit([open("a"), step("a", 1)], event("e1"), 2, new Set())).toEqual({ accept: true, evict: 1 });
    expect(admit([open("a"), close("a")], event("e1"), 2, new Set())).toEqual({ accept: false });
  });
  test("with only opens and closes left, the incoming write is dropped", () => {
    expect(admit([open("a"), close("a")], open("b"), 2, new Set())).toEqual({ accept: false });
  });
  test("every write of a renewal whose open was dropped is dropped, room or not", () => {
    expect(admit([], step("b", 1), 10, new Set(["b"]))).toEqual({ accept: false });
    expect(admit([], close("b"), 10, new Set(["b"]))).toEqual({ accept: false });
  });
});

test("WriteBuffer: 5 renewals × (open + 30 steps + close) into 100: 100 kept, 60 dropped, every open and close kept", () => {
  const b = new WriteBuffer(100);
  for (let r = 1; r <= 5; r++) {
    b.push(open(`r${r}`));
    for (let s = 1; s <= 30; s++) b.push(step(`r${r}`, s));
    b.push(close(`r${r}`));
  }
  expect(b.items.length).toBe(100);
  expect(b.droppedTotal).toBe(60);
  expect(b.items.filter((w) => w.kind === "open" || w.kind === "close").map((w) => `${w.kind} ${w.renewalId}`)).toEqual(
    [1, 2, 3, 4, 5].flatMap((r) => [`open r${r}`, `close r${r}`]),
  );
  expect(b.items.filter((w) => w.kind === "step").length).toBe(90);
  expect(b.endOutage()).toBe(60);
  expect(b.droppedNow).toBe(0);
});

test("the spool: private, in order, Dates intact; a line cut short is skipped; gone once removed", () => {
  const dir = mkdtempSync(join(tmpdir(), "rota-spool-"));
  try {
    const path = join(dir, "audit-spool.jsonl");
    expect(readSpool(path)).toEqual([]);
    const writes = [open("a"), step("a", 1), close("a"), event("e1")];
    appendSpool(path, writes.slice(0, 2));
    appendSpool(path, writes.slice(2));
    expect(statSync(path).mode & 0o777).toBe(0o600);
    appendFileSync(path, '{"kind":"step","renewalId":"a","se');
    expect(readSpool(path)).toEqual(writes);
    removeSpool(path);
    expect(readSpool(path)).toEqual([]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a renewal whose open was dropped loses its later writes after the outage too, until its close; counted in the total only", () => {
  const b = new WriteBuffer(100);
  for (let r = 0; r < 100; r++) b.push(open(`r${r}`));
  b.push(open("late"));
  b.items.splice(0);
  expect(b.endOutage()).toBe(1);
  expect(b.orphaned(step("late", 1))).toBe(true);
  expect(b.orphaned(close("late"))).toBe(true);
  expect(b.orphaned(step("late", 2))).toBe(false);
  expect(b.orphaned(step("r1", 1))).toBe(false);
  expect(b.orphaned(event("e1"))).toBe(false);
  expect(b.droppedTotal).toBe(3);
  expect(b.droppedNow).toBe(0);
});

test("a spool already there, readable by others, is made private when appended to", () => {
  const dir = mkdtempSync(join(tmpdir(), "rota-spool-"));
  try {
    const path = join(dir, "audit-spool.jsonl");
    writeFileSync(path, "", { mode: 0o644 });
    appendSpool(path, [open("a")]);
    expect(statSync(path).mode & 0o777).toBe(0o600);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
