/**
 * @module A fake ACME server (RFC 8555), the newOrder part only, on loopback: a directory
 * (`meta.profiles` as the test sets it), nonces, an account, newOrder answering a scripted
 * reply each (an order, or a problem document with its status), and valid authorizations.
 * It does not check JWS signatures: it exists to see what newOrder requests AcmeCa sends
 * (`replaces`, `profile`) and how it takes each refusal. Every newOrder payload is recorded.
 */

/** One newOrder answer: an order (201), or an ACME problem of `type` (short form) with its status. */
export type OrderReply = "order" | { status: number; type: string; detail?: string };

export interface FakeAcmeOrders {
  directoryUrl: string;
  /** Payloads of the newOrder requests, in order; a resent request appears twice. */
  orders: Array<Record<string, unknown>>;
  /** Replies to the coming newOrders, first first; "order" once the script is used up. */
  script: OrderReply[];
  profiles: Record<string, string> | null;
  stop(): Promise<void>;
}

export function startFakeAcmeOrders(): FakeAcmeOrders {
  let nonce = 0;
  const headers = (extra: Record<string, string> = {}) => ({ "replay-nonce": `n${++nonce}`, "cache-control": "no-store", ...extra });
  const state: Omit<FakeAcmeOrders, "directoryUrl" | "stop"> = { orders: [], script: [], profiles: null };
  const server: ReturnType<typeof Bun.serve> = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(req): Promise<Response> {
      const base = `http://127.0.0.1:${server.port}`;
      const path = new URL(req.url).pathname;
      if (path === "/dir") {
        return Response.json({
          newNonce: `${base}/nonce`,
          newAccount: `${base}/account`,
          newOrder: `${base}/order`,
          ...(state.profiles ? { meta: { profiles: state.profiles } } : {}),
        });
      }
      if (path === "/nonce") return new Response(null, { status: 200, headers: headers() });
      if (path === "/account") return Response.json({ status: "valid" }, { status: 201, headers: headers({ location: `${base}/account/1` }) });
      if (path === "/authz/1") {
        return Response.json({ status: "valid", identifier: { type: "dns", value: "www.example.test" }, challenges: [] }, { headers: headers() });
      }
      if (path === "/order") {
        const jws = (await req.json()) as { payload: string };
        state.orders.push(JSON.parse(Buffer.from(jws.payload, "base64url").toString("utf8")) as Record<string, unknown>);
        const reply = state.script.shift() ?? "order";
        if (reply !== "order") {
          const body = { type: `urn:ietf:params:acme:error:${reply.type}`, detail: reply.detail ?? `refused: ${reply.type}` };
          return new Response(JSON.stringify(body), { status: reply.status, headers: headers({ "content-type": "application/problem+json" }) });
        }
        const order = { status: "ready", identifiers: [{ type: "dns", value: "www.example.test" }], authorizations: [`${base}/authz/1`], finalize: `${base}/finalize` };
        return Response.json(order, { status: 201, headers: headers({ location: `${base}/order/1` }) });
      }
      return new Response("not found", { status: 404, headers: headers() });
    },
  });
  return Object.assign(state, {
    directoryUrl: `http://127.0.0.1:${server.port}/dir`,
    stop: () => server.stop(true),
  });
}
