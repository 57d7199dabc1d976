/** @module Query parameter parsing: what a refusal carries. */
import { expect, test } from "bun:test";
import { HTTPException } from "hono/http-exception";
import { listParam } from "./query.ts";

test("a refused parameter carries its reason in the message and in the 400's JSON body", async () => {
  let caught: unknown;
  try {
    listParam("<b>x</b>", "status", ["ok", "due"]);
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(HTTPException);
  const err = caught as HTTPException;
  expect(err.message).toBe("status must be one or more of ok, due, separated by commas");
  expect(err.status).toBe(400);
  expect(await err.getResponse().json()).toEqual({ error: err.message });
});
