/**
 * @module A DNS server for tests, on dns-packet over UDP and TCP on one loopback port. It
 * answers from its table like an authoritative server (AA set, NXDOMAIN/NODATA with the zone's
 * SOA in the authority section, NS at the apex), and records every question with its RD bit.
 */
import { createSocket, type Socket } from "node:dgram";
import { createServer, type Server } from "node:net";
import * as packet from "dns-packet";

export type TestRecord =
  | { name: string; type: "TXT"; data: string | string[] }
  | { name: string; type: "A" | "NS" | "CNAME"; data: string };

export interface Asked {
  name: string;
  type: string;
  recursive: boolean;
  over: "udp" | "tcp";
}

export class TestDnsServer {
  readonly asked: Asked[] = [];
  /** Set TC on every UDP reply (and leave its answers out), so clients must retry over TCP. */
  truncateUdp = false;
  /** Record questions but answer none: a server that is down or unreachable. */
  silent = false;
  private udp!: Socket;
  private tcp!: Server;
  port = 0;

  constructor(
    readonly host: string,
    /** The zone apex this server is authoritative for. */
    readonly zone: string,
    public records: TestRecord[] = [],
  ) {}

  /** Binds UDP and TCP on `port` (0: any free one, the same for both). */
  async start(port = 0): Promise<this> {
    this.udp = createSocket("udp4");
    await new Promise<void>((resolve, reject) => {
      this.udp.once("error", reject);
      this.udp.bind(port, this.host, () => resolve());
    });
    this.port = this.udp.address().port;
    this.udp.on("message", (msg, from) => {
      const reply = this.answer(msg, "udp");
      if (reply) this.udp.send(reply, from.port, from.address);
    });
    this.tcp = createServer((conn) => {
      let buf = Buffer.alloc(0);
      conn.on("data", (chunk) => {
        buf = Buffer.concat([buf, Buffer.from(chunk)]);
        if (buf.length < 2 || buf.length < 2 + buf.readUInt16BE(0)) return;
        const reply = this.answer(buf.subarray(2, 2 + buf.readUInt16BE(0)), "tcp");
        if (reply) {
          const len = Buffer.alloc(2);
          len.writeUInt16BE(reply.length);
          conn.end(Buffer.concat([len, reply]));
        }
      });
      conn.on("error", () => {});
    });
    await new Promise<void>((resolve, reject) => {
      this.tcp.once("error", reject);
      this.tcp.listen(this.port, this.host, () => resolve());
    });
    return this;
  }

  get address(): string {
    return `${this.host}:${this.port}`;
  }

  async stop(): Promise<void> {
    this.udp.close();
    await new Promise<void>((resolve) => this.tcp.close(() => resolve()));
  }

  private answer(msg: Buffer, over: "udp" | "tcp"): Buffer | null {
    let q: packet.DecodedPacket;
    try {
      q = packet.decode(msg);
    } catch {
      return null;
    }
    const question = q.questions?.[0];
    if (!question) return null;
    const name = question.name.toLowerCase().replace(/\.$/, "");
    this.asked.push({ name, type: question.type, recursive: q.flag_rd, over });
    if (this.silent) return null;
    const inZone = name === this.zone || name.endsWith(`.${this.zone}`);
    const matches = this.records.filter((r) => r.name === name && (r.type === question.type || r.type === "CNAME"));
    const answers = matches.map((r) => ({ name: r.name, type: r.type, ttl: 60, data: r.data }) as packet.Answer);
    const exists = this.records.some((r) => r.name === name || r.name.endsWith(`.${name}`));
    const truncated = over === "udp" && this.truncateUdp && answers.length > 0;
    // The rcode is the flags' low 4 bits; 3 is NXDOMAIN (RFC 1035 §4.1.1).
    const rcode = inZone && !exists ? 3 : 0;
    const reply: packet.Packet = {
      type: "response",
      id: q.id,
      flags: (inZone ? packet.AUTHORITATIVE_ANSWER : 0) | (truncated ? packet.TRUNCATED_RESPONSE : 0) | (q.flag_rd ? packet.RECURSION_DESIRED : 0) | rcode,
      questions: [question],
      answers: truncated ? [] : answers,
      authorities:
        answers.length === 0 && inZone
          ? [{ name: this.zone, type: "SOA", ttl: 60, data: { mname: `ns1.${this.zone}`, rname: `hostmaster.${this.zone}`, serial: 1, refresh: 60, retry: 60, expire: 600, minimum: 60 } }]
          : [],
    };
    return packet.encode(reply);
  }
}
