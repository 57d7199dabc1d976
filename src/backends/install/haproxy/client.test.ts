/**
 * @module The runtime API client against a scripted unix socket: the bytes each command
 * sends (one connection per command, the PEM's blank lines gone), which replies count as
 * success, and a silent socket bounded by the injected clock.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { systemClock } from "../../../clock.ts";
import { FakeClock, settle } from "../../../testing/fake-clock.ts";
import { createHaproxyClient, endpointName, LOCKED_RETRY_MS, parseProcess, parseSerial, payloadOf, type Endpoint } from "./client.ts";

let dir: string;
let server: Server;
let endpoint: Endpoint;
/** Each connection's bytes, in order. */
let received: string[];
/** The reply to the next connections, in order; `null` never answers. */
let replies: Array<string | null>;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "rota-haproxy-client-"));
  endpoint = { kind: "unix", path: join(dir, "admin.sock") };
  // Half-open: a socket that never answers keeps the connection, as a hung HAProxy would.
  server = createServer({ allowHalfOpen: true }, (conn) => {
    let text = "";
    const reply = replies.shift();
    conn.on("data", (d) => {
      text += d.toString();
      // HAProxy answers once the command line (and a payload's empty line) is complete.
      const complete = text.includes("<<\n") ? text.endsWith("\n\n") : text.endsWith("\n");
      if (!complete) return;
      received.push(text);
      if (reply !== null && reply !== undefined) conn.end(reply);
    });
    conn.on("error", () => {});
  });
  await new Promise<void>((resolve) => server.listen(endpointName(endpoint), resolve));
});

afterAll(() => {
  server.close();
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  received = [];
  replies = [];
});

const client = () => createHaproxyClient(endpoint, { clock: systemClock, timeoutMs: 5000 });
const PEM = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n\n\n-----BEGIN PRIVATE KEY-----\r\nBBBB\r\n  \n-----END PRIVATE KEY-----\n";

describe("haproxy runtime API client", () => {
  test("set then commit: one connection each, the payload without blank lines, ended by one empty line", async () => {
    replies = ["Transaction created for certificate /c/www.pem!\n\n", "Committing /c/www.pem.\nSuccess!\n\n"];
    await client().setCert("/c/www.pem", PEM);
    await client().commitCert("/c/www.pem");
    expect(received).toEqual([
      "set ssl cert /c/www.pem <<\n-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\nBBBB\n-----END PRIVATE KEY-----\n\n",
      "commit ssl cert /c/www.pem\n",
    ]);
  });

  test("only Success! commits; a refusal carries HAProxy's words", async () => {
    replies = ["inconsistencies between private key and certificate loaded '/c/www.pem'.\nCan't commit /c/www.pem!\n\n"];
    await expect(client().commitCert("/c/www.pem")).rejects.toMatchObject({
      code: "haproxy_refused",
      message: `${endpointName(endpoint)}: commit ssl cert /c/www.pem refused: inconsistencies between private key and certificate loaded '/c/www.pem'. Can't commit /c/www.pem!`,
    });
    replies = ["Committing /c/www.pem.\n\n"];
    await expect(client().commitCert("/c/www.pem")).rejects.toMatchObject({ code: "haproxy_refused" });
  });

  test("abort: done, or nothing was open; another path's transaction is a refusal", async () => {
    replies = ["Transaction aborted for certificate '/c/www.pem'!\n\n", "No ongoing transaction!\n\n", "The ongoing transaction is about '/c/api.pem' but you are trying to abort a transaction for '/c/www.pem'\n\n"];
    await client().abortCert("/c/www.pem");
    await client().abortCert("/c/www.pem");
    await expect(client().abortCert("/c/www.pem")).rejects.toMatchObject({ code: "haproxy_refused" });
    expect(received).toEqual(Array(3).fill("abort ssl cert /c/www.pem\n"));
  });

  test("show ssl cert: the serial, null for a path not loaded, open transactions by their *", async () => {
    replies = [
      "Filename: /c/www.pem\nStatus: Used\nSerial: 0A1B2C\nnotBefore: Dec  1 05:43:17 2026 GMT\n\n",
      "Can't display the certificate: Not found or the certificate is a bundle!\n\n",
      "# transaction\n*/c/www.pem\n# filename\n/c/www.pem\n/c/api.pem\n\n",
    ];
    expect(await client().servedSerial("/c/www.pem")).toBe("0a1b2c");
    expect(await client().servedSerial("/c/other.pem")).toBeNull();
    expect(await client().openTransactions()).toEqual(["/c/www.pem"]);
    expect(received).toEqual(["show ssl cert /c/www.pem\n", "show ssl cert /c/other.pem\n", "show ssl cert\n"]);
  });

  test("show ssl cert from a socket below level operator: HAProxy's odd words, with what they mean there", async () => {
    replies = ["Can't allocate memory!\n\n"];
    await expect(client().servedSerial("/c/www.pem")).rejects.toMatchObject({
      code: "haproxy_refused",
      message: `${endpointName(endpoint)}: show ssl cert /c/www.pem refused: Can't allocate memory! (HAProxy 2.6's answer to a socket below "level operator": is it "level admin"?)`,
    });
  });

  test("HAProxy's certificates locked by another command: asked again after short waits, then the answer", async () => {
    const locked = "Can't show!\nOperations on certificates are currently locked!\n\n";
    replies = [locked, locked, "Filename: /c/api.pem\nSerial: 0A\n\n"];
    expect(await client().servedSerial("/c/api.pem")).toBe("0a");
    expect(received).toEqual(Array(3).fill("show ssl cert /c/api.pem\n"));
  });

  test("still locked after every wait: the refusal, in HAProxy's words", async () => {
    const locked = "Can't commit the certificate!\nOperations on certificates are currently locked!\n\n";
    replies = Array(LOCKED_RETRY_MS.length + 1).fill(locked);
    expect(await client().commitCert("/c/www.pem").then(() => null, (e: unknown) => e)).toMatchObject({
      code: "haproxy_refused",
      message: `${endpointName(endpoint)}: commit ssl cert /c/www.pem refused: Can't commit the certificate! Operations on certificates are currently locked!`,
    });
    expect(received).toHaveLength(LOCKED_RETRY_MS.length + 1);
  });

  test("no connection made (nothing listens): haproxy_no_connection, not sent", async () => {
    const nowhere: Endpoint = { kind: "unix", path: join(dir, "nowhere.sock") };
    await expect(createHaproxyClient(nowhere, { clock: systemClock, timeoutMs: 5000 }).setCert("/c/www.pem", PEM)).rejects.toMatchObject({
      code: "haproxy_no_connection",
      message: `${nowhere.path}: cannot connect: connect ENOENT ${nowhere.path}`,
    });
  });

  test("show info names the process: node (in lower case, as HAProxy 2.6 prints it) and pid", async () => {
    replies = ["Name: HAProxy\nVersion: 2.6.12\nPid: 812\nUptime: 0d 0h01m\nnode: lb1\n\n"];
    expect(await client().processId()).toBe("lb1/812");
    expect(parseProcess("Pid: 812\nNode: lb2\n")).toBe("lb2/812");
    expect(received).toEqual(["show info\n"]);
    expect(parseProcess("Name: HAProxy\nNode: lb1\n")).toBeNull();
    expect(parseProcess("Pid: 9\n")).toBe("/9");
  });

  test("a socket that never answers fails after the timeout, on the injected clock", async () => {
    replies = [null];
    const clock = new FakeClock();
    const call = createHaproxyClient(endpoint, { clock, timeoutMs: 10_000 }).servedSerial("/c/www.pem");
    const outcome = call.then(() => null, (e: unknown) => e);
    while (received.length === 0) await Bun.sleep(1);
    await settle();
    await clock.advance(10_000);
    expect(await outcome).toMatchObject({ code: "haproxy_unreachable", message: `${endpointName(endpoint)}: no complete reply to show ssl cert /c/www.pem within 10 s` });
  });

  test("a cancelled call rejects as aborted", async () => {
    replies = [null];
    const ac = new AbortController();
    const call = createHaproxyClient(endpoint, { clock: systemClock, timeoutMs: 10_000, signal: ac.signal }).servedSerial("/c/www.pem");
    ac.abort();
    await expect(call).rejects.toMatchObject({ code: "aborted" });
  });

  test("payload and serial parsing, and endpoint names", () => {
    expect(payloadOf("a\n\nb\r\n \nc\n")).toBe("a\nb\nc");
    expect(parseSerial("Serial: 00FF\n")).toBe("00ff");
    expect(parseSerial("nothing")).toBeNull();
    expect(endpointName({ kind: "tcp", host: "::1", port: 9999 })).toBe("[::1]:9999");
    expect(endpointName({ kind: "tcp", host: "127.0.0.1", port: 9999 })).toBe("127.0.0.1:9999");
  });
});
