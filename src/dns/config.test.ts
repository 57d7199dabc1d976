/** @module The propagation keys every DNS backend shares: defaults, every key set, each refusal named by its key. */
import { describe, expect, test } from "bun:test";
import { Problems, Reader } from "../config/reader.ts";
import type { PropagationPolicy } from "../backends/types.ts";
import { parsePropagationConfig } from "./config.ts";

function parse(table: Record<string, unknown>): { cfg: PropagationPolicy; problems: string[] } {
  const problems = new Problems();
  const r = new Reader(table, "dcv[0]", { problems, baseDir: "/", env: {} });
  const cfg = parsePropagationConfig(r);
  r.finish();
  return { cfg, problems: problems.list };
}

describe("parsePropagationConfig", () => {
  test("defaults: check the zone's authoritative servers every 2 s for 120 s, follow CNAMEs", () => {
    expect(parse({})).toEqual({
      cfg: { check: true, resolvers: [], bootstrapResolver: null, intervalSeconds: 2, timeoutSeconds: 120, followCname: true },
      problems: [],
    });
  });

  test("every key set", () => {
    expect(
      parse({
        propagation_check: false,
        propagation_resolvers: ["1.1.1.1:53", "[2606:4700:4700::1111]:53", "8.8.8.8"],
        bootstrap_resolver: "127.0.0.1:5353",
        propagation_interval_seconds: 5,
        propagation_timeout_seconds: 300,
        follow_cname: false,
      }),
    ).toEqual({
      cfg: {
        check: false,
        resolvers: ["1.1.1.1:53", "[2606:4700:4700::1111]:53", "8.8.8.8"],
        bootstrapResolver: "127.0.0.1:5353",
        intervalSeconds: 5,
        timeoutSeconds: 300,
        followCname: false,
      },
      problems: [],
    });
  });

  test("refusals name their key", () => {
    expect(
      parse({
        propagation_resolvers: ["1.1.1.1:99999", ""],
        bootstrap_resolver: "not a server",
        propagation_interval_seconds: 30,
        propagation_timeout_seconds: 10,
      }).problems,
    ).toEqual([
      'dcv[0].propagation_resolvers[1]: must be a non-empty string',
      'dcv[0].propagation_resolvers[0]: "1.1.1.1:99999" is not host:port',
      'dcv[0].bootstrap_resolver: "not a server" is not host:port',
      "dcv[0].propagation_interval_seconds: must not exceed propagation_timeout_seconds (10)",
    ]);
  });
});
