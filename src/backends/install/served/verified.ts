/**
 * @module `verify_served` around any install target: once it has installed, each endpoint
 * must serve the certificate just installed, retried until the timeout because reloading
 * workers may answer once more with the old one; and the scheduler can ask the endpoints
 * what they serve at every tick. One wrapper for every install type, never per backend.
 */
import { isIP } from "node:net";
import type { Clock } from "../../../clock.ts";
import { summarizeCert } from "../../../crypto/summary.ts";
import { RotaError, describeError, isAbort } from "../../../errors.ts";
import { sleepOn } from "../../../sleep.ts";
import { canReadBack, type InstallBackend, type InstallRequest, type ProbedInstall, type ReadableInstall, type ServedAt } from "../../types.ts";
import type { Endpoint, VerifyServed } from "./config.ts";
import { readServedLeaf } from "./probe.ts";

/** Between two rounds of handshakes with the endpoints still serving something else. */
const RETRY_MS = 250;

/**
 * The SNI names to ask with: the non-wildcard names (IP addresses are sent without SNI), the
 * first one only unless `allNames`. A cert of wildcards alone is asked without SNI, and gets
 * the server's default certificate.
 */
export function serverNames(domains: readonly string[], allNames: boolean): Array<string | null> {
  const names = [...new Set(domains.filter((d) => !d.startsWith("*.")).map((d) => (isIP(d) === 0 ? d : null)))];
  if (names.length === 0) return [null];
  return allNames ? names : names.slice(0, 1);
}

export interface VerifyDeps {
  clock: Clock;
  /** The wait between rounds; by default on `clock`. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/**
 * `inner`, verified after each install by a handshake with every endpoint; it keeps `inner`'s
 * read-back. Its errors start `<type> <name>:` as the target's own do.
 */
export function withVerifyServed(inner: InstallBackend, type: string, cfg: VerifyServed, deps: VerifyDeps): ProbedInstall {
  const { clock } = deps;
  const who = `${type} ${inner.name}`;
  const sleep = deps.sleep ?? ((ms: number, signal: AbortSignal) => sleepOn(clock, ms, signal));
  const probe = (pairs: Pair[], signal: AbortSignal, timeoutMs: number): Promise<ServedAt[]> =>
    Promise.all(
      pairs.map(async ({ endpoint, serverName }): Promise<ServedAt> => {
        try {
          return { endpoint: endpoint.text, serverName, leafPem: await readServedLeaf(endpoint, serverName, signal, clock, timeoutMs) };
        } catch (err) {
          if (signal.aborted || isAbort(err)) throw new RotaError("aborted", `${who}: verify_served cancelled`, { cause: signal.reason });
          return { endpoint: endpoint.text, serverName, error: describeError(err) };
        }
      }),
    );
  const pairsFor = (domains: readonly string[]): Pair[] => {
    const names = serverNames(domains, cfg.allNames);
    return cfg.endpoints.flatMap((endpoint) => names.map((serverName) => ({ endpoint, serverName, named: names.length > 1 })));
  };

  const verify = async (req: InstallRequest, signal: AbortSignal): Promise<void> => {
    const want = summarizeCert(req.leafPem).serial;
    const deadline = clock.now().getTime() + cfg.timeoutSeconds * 1000;
    let pending = pairsFor(req.domains);
    for (;;) {
      const remaining = deadline - clock.now().getTime();
      const seen = await probe(pending, signal, Math.max(remaining, RETRY_MS));
      const wrong = seen.map((s, i) => ({ pair: pending[i]!, problem: problemOf(s, want) })).filter((x) => x.problem !== null);
      if (wrong.length === 0) return;
      if (clock.now().getTime() >= deadline) {
        throw new RotaError("not_served", `${who}: ${wrong.map((w) => `${where(w.pair)} ${w.problem}`).join("; ")}`);
      }
      pending = wrong.map((w) => w.pair);
      await sleep(Math.min(RETRY_MS, deadline - clock.now().getTime()), signal);
    }
  };

  const wrapped: ProbedInstall = {
    name: inner.name,
    async install(req, signal) {
      await inner.install(req, signal);
      await verify(req, signal);
    },
    probeServed: (req, signal) => probe(pairsFor(req.domains), signal, cfg.timeoutSeconds * 1000),
  };
  if (!canReadBack(inner)) return wrapped;
  const readable: ProbedInstall & ReadableInstall = { ...wrapped, readBack: (certId, signal, opts) => inner.readBack(certId, signal, opts) };
  return readable;
}

interface Pair {
  endpoint: Endpoint;
  serverName: string | null;
  /** Several names are asked: messages say which. */
  named: boolean;
}

function where(p: Pair): string {
  return p.named ? `${p.endpoint.text} (SNI ${p.serverName ?? "none"})` : p.endpoint.text;
}

/**
 * Why what was seen is not serial `want` after the install, or null when it is. In issue 10's
 * words ("still serves serial … (valid until …) after reload"): the reload, whether the
 * target's own or a deploy hook's, is what should have made the server take it.
 */
function problemOf(seen: ServedAt, want: string): string | null {
  if ("error" in seen) return `cannot be read after reload: ${seen.error}`;
  const got = summarizeCert(seen.leafPem);
  return got.serial === want ? null : `still serves serial ${got.serial} (valid until ${got.notAfter.toISOString()}) after reload, not ${want}`;
}
