/**
 * @module One DNS question to one named server: UDP first, TCP when the reply is truncated
 * (RFC 7766 §5). Built on `dns-packet` rather than node's `dns.Resolver` because propagation
 * checks must clear the RD bit to ask an authoritative server non-recursively and read the
 * AA flag and rcode of its reply, which `dns.Resolver` (c-ares) does not expose.
 */
import { createSocket } from "node:dgram";
import { connect } from "node:net";
import * as packet from "dns-packet";
import { RotaError } from "../errors.ts";
import { formatServer, type DnsServer } from "./server.ts";

export interface DnsReply {
  rcode: string;
  authoritative: boolean;
  answers: packet.Answer[];
  authorities: packet.Answer[];
}

export interface QueryOptions {
  /** Set RD: ask a resolver to recurse. Cleared when asking a zone's own servers. */
  recursive: boolean;
  timeoutMs: number;
  signal?: AbortSignal;
}

export type RecordType = packet.RecordType;

export async function query(server: DnsServer, name: string, type: RecordType, opts: QueryOptions): Promise<DnsReply> {
  const id = Math.floor(Math.random() * 65536);
  const question: packet.Packet = {
    type: "query",
    id,
    flags: opts.recursive ? packet.RECURSION_DESIRED : 0,
    questions: [{ type, name, class: "IN" }],
  };
  const signals = [AbortSignal.timeout(opts.timeoutMs), ...(opts.signal ? [opts.signal] : [])];
  const signal = AbortSignal.any(signals);
  const where = `dns: ${type} ${name} at ${formatServer(server)}`;
  try {
    let reply = await overUdp(server, packet.encode(question), id, signal);
    if (reply.flag_tc) reply = await overTcp(server, packet.streamEncode(question), id, signal);
    return {
      rcode: (reply as { rcode?: string }).rcode ?? "NOERROR",
      authoritative: reply.flag_aa,
      answers: reply.answers ?? [],
      authorities: reply.authorities ?? [],
    };
  } catch (err) {
    if (opts.signal?.aborted) throw new RotaError("aborted", "cancelled", { cause: opts.signal.reason });
    if (signal.aborted) throw new RotaError("dns_timeout", `${where}: no answer within ${opts.timeoutMs} ms`);
    throw new RotaError("dns_failed", `${where}`, { cause: err });
  }
}

function overUdp(server: DnsServer, message: Buffer, id: number, signal: AbortSignal): Promise<packet.DecodedPacket> {
  return new Promise((resolve, reject) => {
    const socket = createSocket(server.host.includes(":") ? "udp6" : "udp4");
    const done = (fn: () => void) => {
      signal.removeEventListener("abort", onAbort);
      socket.close();
      fn();
    };
    const onAbort = () => done(() => reject(signal.reason));
    signal.addEventListener("abort", onAbort, { once: true });
    socket.on("error", (err) => done(() => reject(err)));
    socket.on("message", (buf) => {
      let reply: packet.DecodedPacket;
      try {
        reply = packet.decode(buf);
      } catch {
        return; // Not a DNS message: keep waiting for ours.
      }
      // A reply to another id is someone else's (or a spoof): ignore it (RFC 5452 §3).
      if (reply.id === id) done(() => resolve(reply));
    });
    socket.send(message, server.port, server.host);
  });
}

function overTcp(server: DnsServer, message: Buffer, id: number, signal: AbortSignal): Promise<packet.DecodedPacket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: server.host, port: server.port });
    let buf = Buffer.alloc(0);
    const done = (fn: () => void) => {
      signal.removeEventListener("abort", onAbort);
      socket.destroy();
      fn();
    };
    const onAbort = () => done(() => reject(signal.reason));
    signal.addEventListener("abort", onAbort, { once: true });
    socket.on("error", (err) => done(() => reject(err)));
    socket.on("connect", () => socket.write(message));
    socket.on("data", (chunk) => {
      buf = Buffer.concat([buf, Buffer.from(chunk)]);
      if (buf.length < 2 || buf.length < 2 + buf.readUInt16BE(0)) return;
      try {
        const reply = packet.streamDecode(buf) as packet.DecodedPacket;
        done(() => (reply.id === id ? resolve(reply) : reject(new Error("reply to another query"))));
      } catch (err) {
        done(() => reject(err));
      }
    });
    socket.on("end", () => done(() => reject(new Error("connection closed before a reply"))));
  });
}

/** Every TXT value at `name` in a reply, each record's strings joined (RFC 7208 §3.3 style). */
export function txtValues(reply: DnsReply, name: string): string[] {
  const want = lower(name);
  return reply.answers.flatMap((a) => {
    if (a.type !== "TXT" || lower(a.name) !== want) return [];
    const data = Array.isArray(a.data) ? a.data : [a.data];
    return [data.map((d) => (typeof d === "string" ? d : d.toString("utf8"))).join("")];
  });
}

/** The target of each CNAME record at `name` in a reply, lower-case without the trailing dot. */
export function cnameTargets(reply: DnsReply, name: string): string[] {
  const want = lower(name);
  return reply.answers.flatMap((a) => (a.type === "CNAME" && lower(a.name) === want ? [lower(a.data)] : []));
}

export function lower(name: string): string {
  return name.replace(/\.$/, "").toLowerCase();
}
