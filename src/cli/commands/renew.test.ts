/** @module The not-due line of `rota renew`: the moment and the CA's window when known, the reason otherwise. */
import { expect, test } from "bun:test";
import { notDueWhy } from "./renew.ts";

test("names the moment, and the ARI window when the CA gave one", () => {
  const at = "2030-01-30T00:00:00.000Z";
  expect(notDueWhy({ status: "not_due", reason: "ok", renew_at: at, ari_window: null })).toBe(`renew at ${at}`);
  expect(notDueWhy({ status: "not_due", reason: "ok", renew_at: at, ari_window: { start: "2030-01-29T00:00:00.000Z", end: "2030-01-31T00:00:00.000Z" } })).toBe(
    `renew at ${at}, ARI window 2030-01-29T00:00:00.000Z – 2030-01-31T00:00:00.000Z`,
  );
  expect(notDueWhy({ status: "not_due", reason: "cannot tell: files: permission denied", renew_at: null, ari_window: null })).toBe("cannot tell: files: permission denied");
});
