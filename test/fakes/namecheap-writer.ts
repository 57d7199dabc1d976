/**
 * @module One renewal's publish through NamecheapDcv in a process of its own, as the
 * daemon's child processes run it: `bun namecheap-writer.ts <api_url> <state_dir> <record> <value>`,
 * the key in NAMECHEAP_KEY. Used to prove the per-domain lock holds across processes.
 */
import { createNamecheapDcv } from "../../src/backends/dcv/namecheap/namecheap.ts";
import { systemClock } from "../../src/clock.ts";
import { createLogger } from "../../src/log.ts";
import { propagationPolicy } from "../../src/testing/propagation.ts";

const [apiUrl, stateDir, recordName, recordValue] = process.argv.slice(2) as [string, string, string, string];
const dcv = createNamecheapDcv(
  "nc",
  { apiUser: "alice", username: "alice", apiKey: { from: "env", name: "NAMECHEAP_KEY" }, clientIp: "203.0.113.7", apiUrl, propagation: propagationPolicy() },
  { stateDir, clock: systemClock, log: createLogger({ level: "silent" }), emit: () => {}, withheldEnv: () => [] },
);
await dcv.publish({ kind: "dns-01", recordName, recordValue, ttl: 60 }, new AbortController().signal);
