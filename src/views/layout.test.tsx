/** @module The page shell: what every page starts with. */
import { expect, test } from "bun:test";
import { Layout, LoginPage } from "./layout.tsx";

test("pages open with the doctype, so browsers lay them out in standards mode", () => {
  expect((<LoginPage next="/" failed={false} />).toString()).toStartWith("<!DOCTYPE html><html lang=\"en\">");
  expect((<Layout title="x" csrf="t" section={null} />).toString()).toStartWith("<!DOCTYPE html><html lang=\"en\">");
});
