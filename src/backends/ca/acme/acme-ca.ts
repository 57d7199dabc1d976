/**
 * @module AcmeCa: any RFC 8555 directory (Let's Encrypt, ZeroSSL with EAB, a private CA)
 * through acme-client, on rota's own transport (see transport.ts) and polling.
 */
import { readFileSync } from "node:fs";
import { Agent } from "node:https";
import * as acme from "acme-client";

/** acme-client exports its RFC 8555 types only through method signatures. */
type Challenge = acme.Authorization["challenges"][number];
import { RotaError, throwIfAborted } from "../../../errors.ts";
import { nameKind } from "../../../config/names.ts";
import { readSecret } from "../../../config/secret.ts";
import { splitPem } from "../../../crypto/x509.ts";
import { scoped } from "../../../log.ts";
import type { BackendContext } from "../../context.ts";
import type { CABackend, ChallengeKind, Checkable, DcvChallenge, Issued, SubmitRequest } from "../../types.ts";
import { loadOrCreateAccountKey } from "./account.ts";
import { shortCertId } from "./cert-id.ts";
import { profileNotOffered, type AcmeCertOptions, type AcmeConfig } from "./config.ts";
import { AcmeProblem, installTransport, withScope } from "./transport.ts";
import { pollUntilValid } from "./poll.ts";

interface PendingChallenge {
  authzUrl: string;
  challenge: Challenge;
}

/** The order handle `submit` returns and `awaitIssuance` takes back; nothing else about it is kept. */
interface AcmeOrder {
  order: acme.Order;
  csrPem: string;
  pending: PendingChallenge[];
}

/**
 * Refusals of `replaces` an order without it gets past (issue 12 §3): `alreadyReplaced` (a crash
 * between finalize and persist), `unauthorized` (another account's certificate, a renamed
 * `[[ca]]`), `serverInternal` (pebble 2.10 files serials without their 0x00 byte), and any
 * HTTP 409 (pebble ≤ 2.9 answers `malformed`).
 */
const REPLACES_REFUSALS = new Set(["alreadyReplaced", "unauthorized", "serverInternal"]);

/** What the submit step says about the order: `le (profile shortlived, replaces aYhb….AIdlQyE)`. */
export interface OrderNote {
  profile?: string;
  replaces?: string;
  /** Why `replaces` was dropped, when the CA refused it. */
  dropped?: string;
}

/** acme-client 5.4 knows neither field, and `createOrder` passes them through as they are. */
type OrderRequest = Parameters<acme.Client["createOrder"]>[0] & { profile?: string; replaces?: string };

/** RFC 8555 §8.4: TXT records are published under this label. */
const DNS_LABEL = "_acme-challenge";
const DNS_TTL = 60;

export function createAcmeCa(name: string, cfg: AcmeConfig, ctx: BackendContext): CABackend & Checkable {
  const who = `acme ${name}`;
  installTransport(acme.axios as unknown as Parameters<typeof installTransport>[0]);
  const log = scoped(ctx.log, { component: "acme" });
  const httpsAgent = new Agent({ keepAlive: true, ...(cfg.caBundle ? { ca: readBundle(cfg.caBundle, who) } : {}) });
  let client: acme.Client | undefined;
  let accountReady: Promise<void> | undefined;

  function getClient(): acme.Client {
    client ??= new acme.Client({
      directoryUrl: cfg.directoryUrl,
      accountKey: loadOrCreateAccountKey(ctx.stateDir, name),
      externalAccountBinding: cfg.eab ? { kid: cfg.eab.kid, hmacKey: readSecret(cfg.eab.hmacKey) } : undefined,
    });
    return client;
  }

  /** Registers (or finds) the account once per process; a failure is retried by the next renewal. */
  function ensureAccount(c: acme.Client): Promise<void> {
    accountReady ??= step("account", () =>
      c.createAccount({ termsOfServiceAgreed: true, contact: cfg.email ? [`mailto:${cfg.email}`] : undefined }),
    ).then(
      () => undefined,
      (err) => {
        accountReady = undefined;
        throw err;
      },
    );
    return accountReady;
  }

  /**
   * Names the operation in acme-client's bare errors and in the CA's problems (transport.ts);
   * our other RotaErrors already say who failed.
   */
  async function step<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof AcmeProblem) throw new AcmeProblem(`${who}: ${what}: ${err.detail}`, err.detail, err.acmeType, err.status);
      if (err instanceof RotaError) throw err;
      throw new RotaError("ca_error", `${who}: ${what}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** The directory's `meta.profiles` must list `profile`; otherwise the renewal fails for good, naming what is offered. */
  async function checkProfile(c: acme.Client, profile: string): Promise<void> {
    const http = (c as unknown as { api: { http: { getMetaField(f: string): Promise<unknown> } } }).api.http;
    const offered = await step("directory", () => http.getMetaField("profiles"));
    const names = offered && typeof offered === "object" ? Object.keys(offered) : [];
    if (!names.includes(profile)) throw notOffered(profile, names);
  }

  function notOffered(profile: string, names: string[]): RotaError {
    return new RotaError("profile_not_offered", profileNotOffered(who, profile, names), { noRetry: true, acmeType: "invalidProfile" });
  }

  /** The CA's `invalidProfile` is as final as a profile the directory does not list. */
  function profileRefusal(err: unknown, profile: string | undefined): unknown {
    if (profile === undefined || !(err instanceof AcmeProblem) || err.acmeType !== "invalidProfile") return err;
    return new RotaError("profile_not_offered", `${who}: profile "${profile}": ${err.detail}`, { noRetry: true, acmeType: err.acmeType });
  }

  function run<T>(signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
    throwIfAborted(signal, who);
    return withScope({ who, clock: ctx.clock, signal, httpsAgent, log }, fn);
  }

  return {
    name,
    async check(signal, checkCtx) {
      return (await import("./check.ts")).checkAcme(cfg, signal, checkCtx);
    },
    submit(req: SubmitRequest, signal: AbortSignal) {
      return run(signal, async () => {
        const c = getClient();
        await ensureAccount(c);
        const profile = (req.certOptions as AcmeCertOptions | undefined)?.profile;
        if (profile !== undefined) await checkProfile(c, profile);
        const base: OrderRequest = { identifiers: req.domains.map(identifier), ...(profile === undefined ? {} : { profile }) };
        const note: OrderNote = { profile };
        let order: acme.Order;
        try {
          order = await step("new order", () => c.createOrder(req.replaces === undefined ? base : { ...base, replaces: req.replaces }));
          note.replaces = req.replaces;
        } catch (err) {
          const refusal = replacesRefusal(err, req.replaces);
          if (refusal === undefined) throw profileRefusal(err, profile);
          log.info(`${who}: the CA refused replaces ${req.replaces} (${refusal}); ordering without it`);
          note.dropped = refusal;
          order = await step("new order", () => c.createOrder(base)).catch((e: unknown) => Promise.reject(profileRefusal(e, profile)));
        }
        const authzs = await step("authorizations", () => c.getAuthorizations(order));
        const pending: PendingChallenge[] = [];
        const challenges: DcvChallenge[] = [];
        for (const authz of authzs) {
          if (authz.status === "valid") continue;
          if (authz.status !== "pending") {
            throw new RotaError("ca_error", `${who}: authorization for ${authz.identifier.value} is ${authz.status}`);
          }
          const chosen = pickChallenge(authz, req.preferredKinds);
          if (!chosen) {
            const offered = authz.challenges.map((ch) => ch.type).join(", ");
            throw new RotaError(
              "no_matching_challenge",
              `${who}: ${authz.identifier.value}: the CA offers ${offered}; the DCV backend solves ${req.preferredKinds.join(", ") || "nothing"}`,
              { noRetry: true },
            );
          }
          const keyAuthorization = await c.getChallengeKeyAuthorization(chosen);
          pending.push({ authzUrl: authz.url, challenge: chosen });
          challenges.push(toDcvChallenge(authz, chosen, keyAuthorization));
        }
        const handle: AcmeOrder = { order, csrPem: req.csrPem, pending };
        return { order: handle, challenges, note: describeOrder(name, note) };
      });
    },

    awaitIssuance(orderHandle: unknown, signal: AbortSignal): Promise<Issued> {
      const h = orderHandle as AcmeOrder;
      return run(signal, async () => {
        const c = getClient();
        for (const p of h.pending) await step("respond to challenge", () => c.completeChallenge(p.challenge));
        for (const p of h.pending) await pollUntilValid(c, p.authzUrl, who, "authorization", ctx.clock, signal);
        const finalized = await step("finalize", () => c.finalizeOrder(h.order, h.csrPem));
        const ready = finalized.status === "valid" ? finalized : await pollUntilValid(c, h.order.url, who, "order", ctx.clock, signal);
        const bundle = await step("download certificate", () => c.getCertificate(ready as acme.Order));
        const [leaf, ...chain] = splitPem(bundle);
        if (!leaf) throw new RotaError("ca_error", `${who}: the CA returned no certificate`);
        return { leafPem: leaf, chainPem: chain.join("") };
      });
    },
  } satisfies CABackend & Checkable;
}

/** Why the CA's refusal of a newOrder is one of `replaces` an order without it gets past, else undefined. */
export function replacesRefusal(err: unknown, replaces: string | undefined): string | undefined {
  if (replaces === undefined || !(err instanceof AcmeProblem)) return undefined;
  if (REPLACES_REFUSALS.has(err.acmeType)) return err.acmeType;
  return err.status === 409 ? `HTTP 409 ${err.acmeType}` : undefined;
}

/** `le (profile shortlived, replaces aYhb….AIdlQyE)`; the refusal instead when `replaces` was dropped. */
export function describeOrder(ca: string, n: OrderNote): string {
  const parts = [
    ...(n.profile === undefined ? [] : [`profile ${n.profile}`]),
    ...(n.replaces !== undefined ? [`replaces ${shortCertId(n.replaces)}`] : []),
    ...(n.dropped !== undefined ? [`replaces refused (${n.dropped}), ordered without it`] : []),
  ];
  return parts.length === 0 ? ca : `${ca} (${parts.join(", ")})`;
}

/** RFC 8738 §3: an IP address is an `ip` identifier, IPv6 in RFC 5952 text (the normal form, names.ts). */
function identifier(value: string): { type: "dns" | "ip"; value: string } {
  return { type: nameKind(value) === "ip" ? "ip" : "dns", value };
}

function pickChallenge(authz: acme.Authorization, preferred: ChallengeKind[]): Challenge | undefined {
  for (const kind of preferred) {
    const found = authz.challenges.find((ch) => ch.type === kind);
    if (found) return found;
  }
  return undefined;
}

function toDcvChallenge(authz: acme.Authorization, ch: Challenge, keyAuthorization: string): DcvChallenge {
  const domain = authz.identifier.value;
  if (ch.type === "dns-01") {
    // For a wildcard the authorization names the base domain (RFC 8555 §7.1.3).
    return { kind: "dns-01", recordName: `${DNS_LABEL}.${domain}`, recordValue: keyAuthorization, ttl: DNS_TTL };
  }
  return { kind: "http-01", domain, token: ch.token, keyAuthorization };
}

function readBundle(path: string, who: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw new RotaError("ca_bundle", `${who}: cannot read ca_bundle ${path}: ${(err as Error).message}`, { cause: err, noRetry: true });
  }
}
