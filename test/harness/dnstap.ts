/**
 * @module A dnstap receiver on a unix socket: what a DNS server was asked, RD bit included,
 * as the server itself logged it. knotd's mod-dnstap writes Frame Streams
 * (https://github.com/farsightsec/fstrm, bidirectional handshake on sockets) carrying
 * `Dnstap` protobuf messages (https://dnstap.info, dnstap.proto) whose `query_message` is
 * the query's wire bytes; those are decoded with dns-packet. knotd flushes about once a
 * second, so a caller waits for the query it expects rather than reading once.
 */
import { rmSync } from "node:fs";
import * as packet from "dns-packet";

export interface TappedQuery {
  name: string;
  type: string;
  /** The RD bit: set by a resolver or a client wanting recursion, clear from one asking an authoritative server. */
  recursive: boolean;
}

export interface DnstapReceiver {
  path: string;
  queries: TappedQuery[];
  stop(): void;
}

const CONTENT_TYPE = "protobuf:dnstap.Dnstap";
// fstrm control frame types.
const ACCEPT = 0x01;
const STOP = 0x03;
const READY = 0x04;
const FINISH = 0x05;
const FIELD_CONTENT_TYPE = 0x01;

function controlFrame(type: number, contentType?: string): Buffer {
  const field = contentType === undefined ? Buffer.alloc(0) : Buffer.concat([u32(FIELD_CONTENT_TYPE), u32(contentType.length), Buffer.from(contentType)]);
  return Buffer.concat([u32(0), u32(4 + field.length), u32(type), field]);
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

/** The length-delimited fields of one protobuf message, by field number (the last one wins). */
function protobufBytes(buf: Buffer): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  let at = 0;
  const varint = () => {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      const byte = buf[at++]!;
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
    }
  };
  while (at < buf.length) {
    const key = varint();
    const wire = key & 7;
    if (wire === 0) varint();
    else if (wire === 1) at += 8;
    else if (wire === 5) at += 4;
    else if (wire === 2) {
      const len = varint();
      out.set(Math.floor(key / 8), buf.subarray(at, at + len));
      at += len;
    } else throw new Error(`dnstap: protobuf wire type ${wire} not expected`);
  }
  return out;
}

/** The query a Dnstap frame carries (Dnstap.message = 14, Message.query_message = 10), or null for a response. */
function queryOf(frame: Buffer): TappedQuery | null {
  const wire = protobufBytes(frame).get(14);
  const query = wire && protobufBytes(wire).get(10);
  if (!query) return null;
  const decoded = packet.decode(query);
  const q = decoded.questions?.[0];
  return q ? { name: q.name.toLowerCase(), type: q.type, recursive: decoded.flag_rd } : null;
}

/** Listens at `path` (removed first: a stale socket file from a killed run would refuse the bind). */
export function startDnstapReceiver(path: string): DnstapReceiver {
  rmSync(path, { force: true });
  const queries: TappedQuery[] = [];
  const pending = new WeakMap<object, Buffer>();
  const listener = Bun.listen({
    unix: path,
    socket: {
      data(socket, chunk) {
        let buf = Buffer.concat([pending.get(socket) ?? Buffer.alloc(0), Buffer.from(chunk)]);
        for (;;) {
          if (buf.length < 4) break;
          const len = buf.readUInt32BE(0);
          if (len > 0) {
            if (buf.length < 4 + len) break;
            const q = queryOf(buf.subarray(4, 4 + len));
            if (q) queries.push(q);
            buf = buf.subarray(4 + len);
            continue;
          }
          // A control frame: 0, its length, then its type and fields.
          if (buf.length < 8 || buf.length < 8 + buf.readUInt32BE(4)) break;
          const type = buf.readUInt32BE(8);
          buf = buf.subarray(8 + buf.readUInt32BE(4));
          if (type === READY) socket.write(controlFrame(ACCEPT, CONTENT_TYPE));
          else if (type === STOP) socket.write(controlFrame(FINISH));
        }
        pending.set(socket, buf);
      },
    },
  });
  return {
    path,
    queries,
    stop() {
      listener.stop(true);
      rmSync(path, { force: true });
    },
  };
}
