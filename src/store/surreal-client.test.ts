/** @module The server version rule in-process: the test server runs 3.x only, so the refusal of another major is proven here. */
import { expect, test } from "bun:test";
import { versionProblem } from "./surreal-client.ts";

test.each([
  ["surrealdb-2.1.4", "audit.url: SurrealDB 2.1.4 is not supported; rota needs 3.x"],
  ["1.5.6", "audit.url: SurrealDB 1.5.6 is not supported; rota needs 3.x"],
  ["surrealdb-4.0.0", "audit.url: SurrealDB 4.0.0 is not supported; rota needs 3.x"],
  ["surrealdb-3.0.2", null],
  ["3.1.0-beta.1", null],
])("%s: %p", (version, problem) => {
  expect(versionProblem(version)).toBe(problem);
});
