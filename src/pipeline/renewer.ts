/**
 * @module The renewer pipeline for one cert, one run: key, csr, submit, preflight,
 * publish, propagate, await_issuance, remove, verify, persist, install. Every step is an event;
 * `remove` runs whatever happened before it, with its own time budget, so neither a
 * failure nor a shutdown leaves a challenge behind.
 * In cluster mode (`RunRequest.cluster`) it never writes a key, never orders without the
 * lease's fence, and an install-only run that cannot use the stored certificate is refused
 * (`key_missing`, `key_mismatch`) instead of ordering: only the leader orders.
 */
import { hasLateWrites } from "../backends/dcv/unfinished.ts";
import { wroteNothing } from "../backends/dcv/unwritten.ts";
import { describeChallenge, hasPropagation, type DcvBackend, type DcvChallenge, type InstallBackend } from "../backends/types.ts";
import type { Clock } from "../clock.ts";
import { createCsr } from "../crypto/csr.ts";
import type { Fence } from "../cluster/types.ts";
import { freshKey, loadKey, loadOrCreateKey, replaceKey } from "../crypto/keys.ts";
import { verifyIssued } from "../crypto/verify.ts";
import { RotaError, describeError, retryAfterOf } from "../errors.ts";
import type { EventBus, StepName, StepStatus, Trigger } from "../events.ts";
import type { AuditStore, IssuedCert } from "../store/types.ts";
import type { ChallengeJournal } from "./journal.ts";
import type { ExpectedRecord } from "../dns/visibility.ts";
import { awaitPropagation, liveDns, type DnsProbe } from "./propagate.ts";
import type { CertRuntime } from "./runtime.ts";

/** How long `remove` may take; shutdown waits for it, and SIGTERM must end the daemon within 5 s. */
const REMOVE_BUDGET_MS = 4_000;

/**
 * What the pipeline reads from and writes to the audit store, and no more: in the daemon's
 * renewal processes it is served by the daemon over the wire (child-main.ts).
 */
export type PipelineStore = Pick<AuditStore, "latestIssued" | "saveIssued" | "saveInstalled">;

export interface RenewerDeps {
  store: PipelineStore;
  bus: EventBus;
  clock: Clock;
  journal: ChallengeJournal;
  /** DNS lookups for CNAME delegation and the propagate step; the live ones when unset. */
  dns?: DnsProbe;
  /**
   * Handed clean-up that outlives the renewal: a removal run again once a write its publish gave
   * up on has ended. The renewal worker waits for it before it exits. Never rejects.
   */
  linger?: (work: Promise<void>) => void;
}

export interface RunRequest {
  renewalId: string;
  trigger: Trigger;
  signal: AbortSignal;
  /** Re-install the newest stored certificate on these targets (by name) instead of ordering a new one. */
  installOnly?: string[];
  /** Order with a fresh key this once (`rota renew --new-key`), whatever `key_rotation` says. Not with installOnly. */
  newKey?: boolean;
  /** ARI certID of the certificate this order replaces (`SubmitRequest.replaces`); only what the CA's advisor answered for. */
  replaces?: string;
  /**
   * Set: a cluster-mode run. `fence` is the lease the leader held when the run got its slot,
   * what the issued write must prove; null on a node that does not lead, which then never
   * orders (install-only runs need none).
   */
  cluster?: { fence: Fence | null };
}

/** `ordered`: an install-only run whose stored certificate could not serve (lost key, names changed) ordered a new one instead. */
export type RunOutcome = { ok: true; issued: IssuedCert; ordered?: true } | { ok: false; error: unknown; interrupted: boolean };

/** A step's result message, or "skipped" with the reason. */
type StepResult = string | { skipped: string };

export async function runRenewal(cert: CertRuntime, req: RunRequest, deps: RenewerDeps): Promise<RunOutcome> {
  const { bus, clock } = deps;
  const certId = cert.config.id;

  async function step<T>(name: StepName, fn: () => Promise<[T, StepResult]>): Promise<T> {
    const started = performance.now();
    bus.emit({ type: "renewal.step_started", renewalId: req.renewalId, certId, step: name, at: clock.now() });
    const emit = (status: StepStatus, message: string) =>
      bus.emit({ type: "renewal.step", renewalId: req.renewalId, certId, step: name, status, message, durationMs: performance.now() - started, at: clock.now() });
    try {
      const [value, result] = await fn();
      if (typeof result === "string") emit("ok", result);
      else emit("skipped", result.skipped);
      return value;
    } catch (err) {
      emit("failed", describeError(err));
      throw err;
    }
  }

  const { keyPath, keyType } = cert.config;
  // A new key goes with a new order only: a re-install serves the key the stored certificate has.
  const rotate = !req.installOnly && (req.newKey === true || cert.config.keyRotation === "every_renewal");
  try {
    const key = await step("key", async () => {
      if (req.cluster) {
        // Every node installs the leader's certificate with its own copy of the key: a key made here would fit no other node.
        if (rotate) throw new RotaError("new_key_refused", `pipeline: a new key cannot be made in cluster mode: every node must hold the same key (see docs/federation.md)`, { noRetry: true });
        return [{ pem: loadKey(keyPath, keyType), fresh: false }, `loaded key at ${keyPath} (cluster mode: never generated)`];
      }
      if (rotate) {
        const k = freshKey(keyPath, keyType);
        const where = k.replacing ? `it replaces ${keyPath} (old kept as .old)` : `it is written to ${keyPath}`;
        return [{ pem: k.pem, fresh: true }, `generated a new ${keyType} key in memory; ${where} once the certificate is issued and verified`];
      }
      const k = loadOrCreateKey(keyPath, keyType);
      const what = k.replaced ? `replaced with a new ${keyType} key (old kept as .old)` : k.created ? `generated ${keyType} key` : "reused key";
      return [{ pem: k.pem, fresh: false }, `${what} at ${keyPath}`];
    });
    const reinstalled = req.installOnly ? await reinstall(cert, req.installOnly, key.pem, req, deps, step) : null;
    if (reinstalled) return { ok: true, issued: reinstalled };
    const issued = await issueAndInstall(cert, key, req, deps, step);
    return req.installOnly ? { ok: true, issued, ordered: true } : { ok: true, issued };
  } catch (err) {
    return { ok: false, error: err, interrupted: req.signal.aborted };
  }
}

type StepFn = <T>(name: StepName, fn: () => Promise<[T, StepResult]>) => Promise<T>;

/** The key a renewal orders with; `fresh` when it exists only in memory until the certificate is verified. */
interface RenewalKey {
  pem: string;
  fresh: boolean;
}

async function issueAndInstall(cert: CertRuntime, renewalKey: RenewalKey, req: RunRequest, deps: RenewerDeps, step: StepFn): Promise<IssuedCert> {
  const { config: c, ca, dcv } = cert;
  const { clock } = deps;
  const key = renewalKey.pem;
  const signal = req.signal;
  // The runner gives an order a fence only while this node leads; without one it never reaches the CA.
  if (req.cluster && !req.cluster.fence) throw new RotaError("not_leader", `pipeline: ${c.id}: this node does not hold the cluster lease; only the leader orders certificates`);

  const csrPem = await step("csr", async () => [await createCsr(c.domains, key), `${c.domains.length} name(s): ${c.domains.join(", ")}`]);
  let leaf: { leafPem: string; chainPem: string };
  const published: DcvChallenge[] = [];
  try {
    const { order, challenges } = await step("submit", async () => {
      const r = await ca.submit(
        {
          certId: c.id,
          domains: c.domains,
          csrPem,
          preferredKinds: dcv?.supportedKinds() ?? [],
          ...(req.replaces === undefined ? {} : { replaces: req.replaces }),
          ...(c.caOptions === undefined ? {} : { certOptions: c.caOptions }),
        },
        signal,
      );
      return [r, r.summary ?? `order placed with ${r.note ?? ca.name}; ${r.challenges.length} challenge(s) to solve`];
    });
    await step("preflight", async () => {
      if (challenges.length === 0) return [undefined, { skipped: "nothing to do: no challenges" }];
      if (!dcv) throw new RotaError("no_dcv", `pipeline: ${ca.name} asked for ${challenges.map((ch) => ch.kind).join(", ")} but cert ${c.id} names no dcv`, { noRetry: true });
      const unsolvable = challenges.filter((ch) => !dcv.supports(ch));
      if (unsolvable.length > 0) {
        throw new RotaError("unsupported_challenge", `pipeline: dcv ${dcv.name} cannot solve ${unsolvable.map(describeChallenge).join(", ")}`, { noRetry: true });
      }
      return [undefined, `${dcv.name} can solve all ${challenges.length}`];
    });
    await step("publish", async () => {
      if (challenges.length === 0 || !dcv) return [undefined, { skipped: "nothing to do: no challenges" }];
      const placed = await delegate(challenges, dcv, deps.dns ?? liveDns, signal);
      // The journal holds the delegated names: after a crash, remove goes where publish went.
      const toPublish = placed.map((p) => p.challenge);
      const journaled = (challenges: DcvChallenge[]) => ({ renewalId: req.renewalId, certId: c.id, dcv: dcv.name, ...(cert.dcvSection ? { section: cert.dcvSection } : {}), challenges });
      deps.journal.record(journaled(toPublish));
      for (const ch of toPublish) {
        published.push(ch);
        try {
          await dcv.publish(ch, signal);
        } catch (err) {
          // Failed before any write (a zone that cannot be read, an API refusing this machine): nothing to
          // remove, now or at any sweep. The journal keeps only what was, or may have been, written.
          if (wroteNothing(err)) {
            published.pop();
            if (published.length === 0) deps.journal.forget(req.renewalId);
            else deps.journal.record(journaled([...published]));
          }
          throw err;
        }
      }
      return [undefined, `published ${placed.map((p) => describeChallenge(p.challenge) + (p.from ? ` (delegated by CNAME from ${p.from})` : "")).join(", ")}`];
    });
    await step("propagate", async () => {
      const records = published.flatMap((ch) => expectedRecords(ch));
      if (!dcv || records.length === 0) return [undefined, { skipped: "nothing to do: no DNS challenges" }];
      if (!hasPropagation(dcv)) return [undefined, { skipped: `${dcv.name} has no propagation check` }];
      if (!dcv.propagation.check) return [undefined, { skipped: `propagation_check = false for ${dcv.name}` }];
      const check = (deps.dns ?? liveDns).visibility(dcv.propagation);
      return [undefined, await awaitPropagation(records, dcv.propagation, check, clock, signal)];
    });
    leaf = await step("await_issuance", async () => {
      const issued = await ca.awaitIssuance(order, signal);
      return [issued, issued.note ?? `signed by ${ca.name}`];
    });
  } finally {
    const removeAll = async (from: DcvBackend) => {
      // The renewal's own signal may be aborted (shutdown): cleaning up gets a budget of its own.
      const budget = AbortSignal.timeout(REMOVE_BUDGET_MS);
      for (const ch of published) await from.remove(ch, budget);
      deps.journal.forget(req.renewalId);
    };
    await step("remove", async () => {
      if (published.length === 0 || !dcv) return [undefined, { skipped: "nothing to do: nothing published" }];
      await removeAll(dcv);
      return [undefined, `removed ${published.length} challenge(s)`];
    }).catch(() => {
      // Recorded as a failed step; the entry stays journaled and the next tick removes it. A
      // write still in flight (its reply late, or its publish cancelled) is why, most often:
      // once it has ended, the zone is read as it left it and the challenge removed, not an hour later.
      const inFlight = dcv && hasLateWrites(dcv) ? dcv.writesInFlight() : null;
      if (!dcv || !inFlight) return;
      // A failure again leaves the entry journaled, for the daemon's sweep.
      const again = inFlight.then(() => removeAll(dcv)).catch(() => {});
      deps.linger?.(again);
    });
  }

  const info = await step("verify", async () => {
    const v = await verifyIssued({ leafPem: leaf.leafPem, chainPem: leaf.chainPem, privateKeyPem: key, domains: c.domains, now: deps.clock.now() });
    return [v, `serial ${v.serial}, valid until ${v.notAfter.toISOString()}`];
  });
  const issued: IssuedCert = {
    certId: c.id,
    renewalId: req.renewalId,
    leafPem: leaf.leafPem,
    chainPem: leaf.chainPem,
    serial: info.serial,
    notBefore: info.notBefore,
    notAfter: info.notAfter,
    issuedAt: deps.clock.now(),
  };
  await step("persist", async () => {
    // The fresh key takes the file's place before anything serves its certificate: a crash
    // from here on leaves a key that matches what gets stored and installed, or the old pair.
    const replaced = renewalKey.fresh ? replaceKey(c.keyPath, key) : false;
    // Fenced, the store refuses it (`fenced`) once another node has taken the lease: nothing below installs it then.
    const fence = req.cluster?.fence;
    if (fence) await deps.store.saveIssued(issued, fence);
    else await deps.store.saveIssued(issued);
    const rotated = renewalKey.fresh ? `new key written to ${c.keyPath}${replaced ? " (old kept as .old)" : ""}; ` : "";
    return [undefined, `${rotated}certificate and chain stored (the key is not)`];
  });
  await installAll(cert.installs, c.domains, issued, key, signal, deps, step);
  return issued;
}

/**
 * Install-only: the newest stored certificate, checked against the key, onto the named
 * targets. Null when the stored certificate cannot serve any more (the key was lost or
 * replaced, the names changed): the caller orders a new one instead. In cluster mode it
 * never orders: no stored certificate fails (`no_certificate`), one that fails `verify` is
 * refused (`key_mismatch`, naming the key's path), and nothing is installed either way.
 */
async function reinstall(cert: CertRuntime, names: string[], key: string, req: RunRequest, deps: RenewerDeps, step: StepFn): Promise<IssuedCert | null> {
  const c = cert.config;
  const targets = cert.installs.filter((t) => names.includes(t.name));
  const issued = await deps.store.latestIssued(c.id);
  const usable = await step("verify", async () => {
    if (!issued && req.cluster) throw new RotaError("no_certificate", `pipeline: ${c.id}: no certificate is stored yet; the leader orders it`);
    if (!issued) return [false, { skipped: "no stored certificate; ordering a new one" }];
    try {
      await verifyIssued({ leafPem: issued.leafPem, chainPem: issued.chainPem, privateKeyPem: key, domains: c.domains, now: deps.clock.now() });
    } catch (err) {
      if (!(err instanceof RotaError) || err.code !== "verify_failed") throw err;
      if (req.cluster) {
        throw new RotaError("key_mismatch", `pipeline: ${c.id}: stored serial ${issued.serial} cannot be installed with the key at ${c.keyPath} (${err.message}); every node needs the leader's key and the same [[cert]] names`, { noRetry: true, cause: err });
      }
      return [false, { skipped: `stored serial ${issued.serial} cannot be installed (${err.message}); ordering a new one` }];
    }
    return [true, `stored serial ${issued.serial} matches the key and names`];
  });
  if (!usable || !issued) return null;
  await installAll(targets, c.domains, issued, key, req.signal, deps, step);
  return issued;
}

/**
 * Installs on every target and records each success in the store (what a target that
 * cannot read back is taken to serve). One failing target does not stop the others, but
 * fails the step with every failure as its cause and the longest Retry-After any asked for.
 */
async function installAll(
  targets: InstallBackend[],
  domains: string[],
  issued: IssuedCert,
  key: string,
  signal: AbortSignal,
  deps: RenewerDeps,
  step: StepFn,
): Promise<void> {
  await step("install", async () => {
    const failures: unknown[] = [];
    for (const t of targets) {
      try {
        await t.install({ certId: issued.certId, domains, leafPem: issued.leafPem, chainPem: issued.chainPem, privateKeyPem: key }, signal);
      } catch (err) {
        failures.push(err);
        continue;
      }
      try {
        await deps.store.saveInstalled({ certId: issued.certId, target: t.name, serial: issued.serial, installedAt: deps.clock.now() });
      } catch (err) {
        failures.push(new RotaError("store_failed", `${t.name}: installed, but the audit store could not record it`, { cause: err }));
      }
    }
    if (failures.length > 0) {
      const waits = failures.map(retryAfterOf).filter((s): s is number => s !== undefined);
      throw new RotaError("install_failed", failures.map(describeError).join("; "), {
        cause: failures.length === 1 ? failures[0] : new AggregateError(failures, ""),
        retryAfterSeconds: waits.length > 0 ? Math.max(...waits) : undefined,
      });
    }
    return [undefined, `installed on ${targets.map((t) => t.name).join(", ")}`];
  });
}

/**
 * Each challenge as it will be published: a dns-01 record whose `_acme-challenge` name is a
 * CNAME goes to the CNAME's target (`follow_cname`), with the name it came from. A `dns-cname`
 * challenge never follows: its record is the CNAME.
 */
async function delegate(challenges: DcvChallenge[], dcv: DcvBackend, dns: DnsProbe, signal: AbortSignal): Promise<{ challenge: DcvChallenge; from: string | null }[]> {
  const policy = hasPropagation(dcv) && dcv.propagation.followCname ? dcv.propagation : null;
  const targets = new Map<string, string | null>();
  const placed: { challenge: DcvChallenge; from: string | null }[] = [];
  for (const ch of challenges) {
    if (ch.kind !== "dns-01" || !policy) {
      placed.push({ challenge: ch, from: null });
      continue;
    }
    // An apex and its wildcard share the name: one lookup serves both.
    if (!targets.has(ch.recordName)) targets.set(ch.recordName, await dns.cnameTarget(ch.recordName, policy, signal));
    const target = targets.get(ch.recordName) ?? null;
    placed.push(target ? { challenge: { ...ch, recordName: target }, from: ch.recordName } : { challenge: ch, from: null });
  }
  return placed;
}

/** What the propagate step waits to see in DNS for a published challenge. */
function expectedRecords(ch: DcvChallenge): ExpectedRecord[] {
  switch (ch.kind) {
    case "dns-01":
      return [{ name: ch.recordName, value: ch.recordValue }];
    case "dns-cname":
      return [{ name: ch.recordName, value: ch.target, type: "CNAME" }];
    case "http-01":
      return [];
  }
}
