/**
 * @module The four backend surfaces the renewal pipeline composes: CA, DCV, install, alert.
 * Adding a vendor is one implementation of one of these, registered in `registry.ts`.
 */

/** How a CA wants domain control proven. Grows a kind without touching callers that switch on `kind`. */
export type ChallengeKind = "dns-01" | "http-01" | "dns-cname";

/**
 * One challenge the CA handed back; the DCV backend makes it visible, the CA checks it.
 * Values are plain data so a challenge can be written to the journal and removed after a crash.
 * - `dns-01`: a TXT value at `recordName`; one name holds a set of values (an apex and its
 *   wildcard share `_acme-challenge.<domain>`), so publish adds one value and remove takes one.
 * - `http-01`: the key authorization served at `/.well-known/acme-challenge/<token>`.
 * - `dns-cname`: a CNAME at `recordName` pointing at `target` (Sectigo's DCV through Namecheap).
 *   A CNAME owns its name (RFC 1034 §3.6.2): publish refuses a name that holds any other
 *   record, and remove deletes only a CNAME with this target. `target` has no trailing dot.
 */
export type DcvChallenge =
  | { kind: "dns-01"; recordName: string; recordValue: string; ttl: number }
  | { kind: "http-01"; domain: string; token: string; keyAuthorization: string }
  | { kind: "dns-cname"; recordName: string; target: string; ttl: number };

/** `dns-cname at _7F3A….shop.example.com → 1A2B….C3D4….sectigo.com`: a challenge in audit rows and errors. */
export function describeChallenge(ch: DcvChallenge): string {
  switch (ch.kind) {
    case "http-01":
      return `http-01 for ${ch.domain}`;
    case "dns-01":
      return `dns-01 at ${ch.recordName}`;
    case "dns-cname":
      return `dns-cname at ${ch.recordName} → ${ch.target}`;
  }
}

export interface SubmitRequest {
  certId: string;
  domains: string[];
  csrPem: string;
  /** Kinds the cert's DCV backend can satisfy, best first; a CA that offers a choice walks this list. */
  preferredKinds: ChallengeKind[];
  /**
   * ARI certID (RFC 9773 §5) of the certificate this order replaces; set only when this CA
   * answered renewalInfo for it (`CaAdvisor.replaces`). A CA that refuses it may order without.
   */
  replaces?: string;
  /** The cert's CA-specific `[[cert]]` keys, as the CA type's `parseCertOptions` read them (ACME: `profile`). */
  certOptions?: unknown;
}

export interface Issued {
  /** How the await_issuance step reads (`certificate 1002 active after 3 checks (9 s)`); `signed by <ca>` when unset. */
  note?: string;
  /** The leaf certificate, one PEM block. */
  leafPem: string;
  /**
   * The intermediates, the leaf's issuer first. At least one: the pipeline refuses a leaf
   * whose issuer it cannot check, and servers need the chain to present.
   */
  chainPem: string;
}

/**
 * Issues certificates. An order is an opaque handle the backend owns; two orders for
 * the same names are independent. Every call honours its AbortSignal: once aborted it
 * rejects promptly with a RotaError("aborted") and leaves nothing running.
 * Errors are RotaErrors whose message starts with the backend's name; a CA's
 * Retry-After is carried in `retryAfterSeconds`, a permanent refusal sets `noRetry`.
 */
export interface CABackend {
  readonly name: string;
  /**
   * Starts an order for `domains` with the CSR. Returns the challenges still to be
   * satisfied (empty when the CA needs none, or already holds valid authorizations), and
   * `note`: how the submit step names the order (`le (profile shortlived, replaces aYhb….AIdlQyE)`;
   * the CA's name when unset). `summary`, when set, is the submit step's whole message, for a CA
   * whose submit is not an order (`reissued certificate 1001 (active) as 1002; 1 CNAME to publish`).
   */
  submit(req: SubmitRequest, signal: AbortSignal): Promise<{ order: unknown; challenges: DcvChallenge[]; note?: string; summary?: string }>;
  /** Tells the CA the challenges are published, waits for validation and signing, returns the certificate. */
  awaitIssuance(order: unknown, signal: AbortSignal): Promise<Issued>;
}

/**
 * Solves a CA's domain-control challenge. `publish` and `remove` are idempotent:
 * publishing twice leaves one response, removing what is already gone is success.
 * Challenges may share a name (an apex and its wildcard both answer at
 * `_acme-challenge.<domain>`; two tokens for one domain): each is published beside the
 * others and `remove` takes away only its own.
 * `remove` must work from the challenge alone (no memory of the publish), so the
 * daemon can clean up journaled challenges after a crash. Both reject promptly with a
 * RotaError("aborted") once their signal fires; `remove` is called with a signal of its
 * own (a few seconds), also after the renewal's signal was aborted by a shutdown. A write
 * `publish` gave up on may still take effect (a rename in the kernel, a request the vendor
 * received): `remove` waits for it before it looks, and fails when its own signal fires
 * first, so a remove that succeeds has nothing land after it (unfinished.ts).
 */
export interface DcvBackend {
  readonly name: string;
  supportedKinds(): ChallengeKind[];
  /** Whether this challenge is satisfiable; implementations start from `supportsKind`. */
  supports(challenge: DcvChallenge): boolean;
  publish(challenge: DcvChallenge, signal: AbortSignal): Promise<void>;
  remove(challenge: DcvChallenge, signal: AbortSignal): Promise<void>;
}

/**
 * A DCV backend that removes many challenges in fewer vendor calls than a `remove` each
 * (Namecheap: one getHosts + setHosts per domain): an optional capability, checked with
 * `canRemoveMany`. The journal's sweep uses it for the entries of one backend. Each challenge
 * as `remove` would take it (already gone is success). It resolves with the challenges it could
 * not remove, each with its error (one zone that cannot be read does not hold back the others'),
 * and rejects only with RotaError("aborted") once its signal fires.
 */
export interface BatchRemovingDcv extends DcvBackend {
  removeMany(challenges: DcvChallenge[], signal: AbortSignal): Promise<RemoveFailure[]>;
}

/** A challenge `removeMany` could not remove, and why. */
export interface RemoveFailure {
  challenge: DcvChallenge;
  error: unknown;
}

export function canRemoveMany(backend: DcvBackend): backend is BatchRemovingDcv {
  return typeof (backend as Partial<BatchRemovingDcv>).removeMany === "function";
}

/**
 * How the pipeline checks that a DNS backend's TXT records are visible before the CA is told,
 * and where it publishes them. Plain data read from the backend's section by
 * `parsePropagationConfig` (src/dns/config.ts), the one reader of these keys.
 */
export interface PropagationPolicy {
  /** `propagation_check`: false skips the `propagate` step (it says so). */
  check: boolean;
  /** `propagation_resolvers` ("host:port"), asked recursively; empty: the zone's authoritative servers, asked directly. */
  resolvers: string[];
  /** `bootstrap_resolver` ("host:port") finds NS and CNAME records; null: the first nameserver of /etc/resolv.conf. */
  bootstrapResolver: string | null;
  intervalSeconds: number;
  timeoutSeconds: number;
  /** `follow_cname`: publish at the target when `_acme-challenge.<domain>` is a CNAME (delegation). */
  followCname: boolean;
}

/**
 * A DNS-01 backend whose records take time to show: an optional capability, checked with
 * `hasPropagation`. A backend without it (webroot) gets no `propagate` step and no CNAME following.
 */
export interface PropagatingDcv extends DcvBackend {
  readonly propagation: PropagationPolicy;
}

export function hasPropagation(backend: DcvBackend): backend is PropagatingDcv {
  return typeof (backend as Partial<PropagatingDcv>).propagation === "object";
}

/** The default `supports`: the challenge's kind is one the backend lists. */
export function supportsKind(backend: Pick<DcvBackend, "supportedKinds">, challenge: DcvChallenge): boolean {
  return backend.supportedKinds().includes(challenge.kind);
}

export interface InstallRequest {
  certId: string;
  domains: string[];
  leafPem: string;
  chainPem: string;
  /** PKCS#8 PEM. Written only where the serving system reads it, mode 0600; never logged. */
  privateKeyPem: string;
}

/**
 * Places an issued certificate where the serving system reads it.
 * - `install` is all-or-nothing: on failure the previously installed certificate and key
 *   keep serving, as a matching pair. Installing the same certificate again is harmless.
 * - It honours its AbortSignal before it starts changing anything; once it has begun to
 *   swap, it finishes (or rolls back) rather than stop halfway.
 * - Calls for different cert ids may run concurrently; rota never runs two for one cert id.
 */
export interface InstallBackend {
  readonly name: string;
  install(req: InstallRequest, signal: AbortSignal): Promise<void>;
}

/**
 * What a target serves for one cert id, as read back:
 * - `absent`: nothing is installed there; the scheduler installs the stored certificate
 *   (or renews when the store has none).
 * - `damaged`: something is there but cannot serve as it is (a file missing or empty, a key
 *   that does not match, a broken chain, wrong modes, a running server that serves another
 *   certificate than the one on disk...). `reason` says what, in a few words
 *   an operator can act on ("privkey.pem is missing"); it goes into the audit row, so it
 *   never holds key material. The scheduler re-installs the stored certificate.
 * - `present`: a complete, consistent set; `leafPem` is the leaf it serves (one PEM block).
 *   `stamp`, when the backend has one, changes whenever the leaf may have (a file's device,
 *   inode, size and mtime; an API's version or etag): the same stamp for the same cert id
 *   means the same leaf, so the scheduler parses it once, not at every tick.
 */
export type ReadBack =
  | { state: "absent" }
  | { state: "damaged"; reason: string }
  | { state: "present"; leafPem: string; stamp?: string }
  /** Present, and still the set of the answer stamped `stamp` whose leaf the caller said it keeps (`ReadBackOptions.known`). */
  | { state: "unchanged"; stamp: string };

/**
 * An install backend that can read back what it serves: an optional capability, checked
 * with `canReadBack`. A backend without it is taken to serve the certificate it last
 * installed successfully, as the audit store records per target.
 */
export interface ReadableInstall extends InstallBackend {
  /**
   * What the target serves for `certId` now. Runs at every scheduler tick, so it should be
   * cheap when nothing changed. It honours its AbortSignal (the scheduler aborts it after
   * 30 s and at shutdown): once aborted it rejects promptly with a RotaError("aborted").
   * It throws a RotaError (message starting with the backend's name) when the target
   * cannot be read now (permission denied, I/O error, the API unreachable): the scheduler
   * then leaves the cert alone and asks again at the next tick, rather than re-installing
   * or renewing blindly. A throw never means "absent" or "damaged".
   */
  readBack(certId: string, signal: AbortSignal, opts?: ReadBackOptions): Promise<ReadBack>;
}

/** How a read-back is asked for. */
export interface ReadBackOptions {
  /**
   * Set by a sweep over many certs (the scheduler's tick): one object for a batch of its reads.
   * Such a read may answer from a change notification the backend trusts instead of asking
   * the target, provided it sees every change made before the batch began (the filesystem
   * target's folder watch, fenced once per batch). Without it, the read asks the target:
   * a look after a renewal, or one asked for by hand, sees what is there now.
   */
  sweep?: object;
  /**
   * The stamp of an earlier `present` answer whose leaf (or what it needs of it) the caller
   * keeps. While the target still serves exactly that, a backend giving stamps may answer
   * `unchanged` instead of reading the leaf again, and so need not keep every leaf in
   * memory between sweeps (10,000 PEMs in a daemon at 10,000 certs; issue 11). Without it,
   * the answer is never `unchanged`.
   */
  known?: string;
}

/** Whether the backend can read back what it serves. */
export function canReadBack(backend: InstallBackend): backend is ReadableInstall {
  return typeof (backend as Partial<ReadableInstall>).readBack === "function";
}

/**
 * What changed at a target since a sweep's last question: `changed` got every cert id whose
 * answer may differ, and `mark` is what to ask with next time. `all`: nothing can be vouched
 * for since the mark asked with (none given, the target not watched, the watch lost or not
 * yet caught up), so every cert's answer is to be read again.
 */
export interface TargetChanges {
  mark: number | null;
  all: boolean;
}

/**
 * A readable target told of every change to what it serves (the filesystem target's folder
 * watch): an optional capability, checked with `hasChangeHints`. A sweep then reads back only
 * the certs it names, and every cert anyway at its `recheckAt`; nothing else is asked of it.
 */
export interface HintedInstall extends ReadableInstall {
  /**
   * Once every change made before the call has been seen (`sweep` as `ReadBackOptions.sweep`,
   * one per sweep): `changed` is called with each cert id changed since `since`, a mark an
   * earlier answer gave. Never throws: hints it cannot give are `all`.
   */
  changesSince(sweep: object, since: number | null, changed: (certId: string) => void): Promise<TargetChanges>;
  /** When a sweep's read of `certId` next goes to the target whatever the hints say (its backstop for changes no event reports); after `now`. */
  recheckAt(certId: string, now: Date): Date;
}

/** Whether the target is told of changes to what it serves. */
export function hasChangeHints(backend: InstallBackend): backend is HintedInstall {
  const b = backend as Partial<HintedInstall>;
  return typeof b.changesSince === "function" && typeof b.recheckAt === "function" && canReadBack(backend);
}

/**
 * A target that keeps objects per cert between calls (a read-back's verdict cache) and can
 * copy the ones made since its last `compact()` into objects made one after another: made
 * amid a sweep's garbage, each would keep a block of the runtime's heap from being handed
 * back, since its collector never moves an object (issue 11). An optional capability, checked
 * with `canCompact`; the scheduler calls it from its own `compact()`. Synchronous, never
 * throws, and changes no answer.
 */
export interface CompactableInstall extends InstallBackend {
  compact(): void;
}

/** Whether the target can copy what it keeps per cert. */
export function canCompact(backend: InstallBackend): backend is CompactableInstall {
  return typeof (backend as Partial<CompactableInstall>).compact === "function";
}

/** What one `verify_served` endpoint serves for a cert under one SNI name, or why it could not be read. */
export type ServedAt = { endpoint: string; serverName: string | null } & ({ leafPem: string } | { error: string });

/**
 * An install target whose servers are asked what they serve (`verify_served`): an optional
 * capability, checked with `canProbeServed`. The scheduler asks at every tick, after the
 * read-back, so a server restarted from an old file or a reload someone reverted is seen.
 */
export interface ProbedInstall extends InstallBackend {
  /**
   * One TLS handshake per endpoint and name, bounded in time; never throws for an endpoint
   * that cannot be read (that is its entry's `error`). Rejects with RotaError("aborted")
   * once `signal` fires.
   */
  probeServed(req: { certId: string; domains: string[] }, signal: AbortSignal): Promise<ServedAt[]>;
}

/** Whether the target's servers can be asked what they serve. */
export function canProbeServed(backend: InstallBackend): backend is ProbedInstall {
  return typeof (backend as Partial<ProbedInstall>).probeServed === "function";
}

/** How urgent an alert is. Sinks filter on it (`min_severity`); ntfy and mail subjects show it. */
export type Severity = "info" | "warning" | "critical";
export const SEVERITIES: readonly Severity[] = ["info", "warning", "critical"];

/**
 * One notification, built by the daemon from an event (the catalogue in `docs/alerts.md`)
 * and handed to every sink that routes it. Sinks render it in their own format; they never
 * decide whether to send it (routing and rate limiting are the daemon's).
 */
export interface Alert {
  /** A UUID: the delivery id receivers de-duplicate on; the same across a sink's retries. */
  id: string;
  /** The event type: `renewal.failed`, `cert.expiring`, `cert.recovered`, `alert.test`, … */
  type: string;
  severity: Severity;
  occurredAt: Date;
  /** The daemon's host name. */
  node: string;
  /** One sentence a person reads first ("Renewal of www failed: pebble: connection refused"). */
  message: string;
  cert: { id: string; domains: string[]; notAfter: Date | null; daysLeft: number | null } | null;
  renewal: { id: string; trigger: string; status: string; failedStep: string | null; error: string | null } | null;
  /** What rota does next, when it will ("retries at 2030-01-01T01:00:00Z"); null when nothing is planned. */
  next: string | null;
  /** For a reminder after the repeat limit held some back: `count` alerts since `since` (the first held), this one included. */
  repeats: { count: number; since: Date } | null;
  /** The cert's dashboard page when `[http] public_url` is set, else null. */
  url: string | null;
}

/**
 * The code of a send that reached some of its receivers and not others (a mail server that
 * takes one recipient and refuses another): a failed delivery, but the alert arrived.
 */
export const PARTLY_DELIVERED = "partly_delivered";

/**
 * A notification sink (email, webhook). `send` delivers one alert once: it resolves when
 * every receiver accepted it, and rejects with a RotaError whose message starts with the
 * sink's name otherwise — `noRetry` when the receiver refused it for good (a 4xx other than
 * 429, a mail server rejecting a recipient), `retryAfterSeconds` when it asked to wait (429
 * Retry-After), code `PARTLY_DELIVERED` when some receivers got it; a retry of the same
 * alert (same id) goes only to those that did not. It honours its AbortSignal (the daemon's timeout and shutdown): once aborted
 * it rejects promptly with a RotaError("aborted"). Retries, queueing and logging are the
 * daemon's; `send` never logs a secret (password, token, signing key) and never throws into
 * a renewal. Safe to call concurrently.
 */
export interface AlertBackend {
  readonly name: string;
  send(alert: Alert, signal: AbortSignal): Promise<void>;
}

/** What one renewalInfo poll told (RFC 9773), or why this certificate has no ARI. */
export type AriAnswer =
  | { ari: false; reason: string }
  | {
      ari: true;
      certId: string;
      /** The CA's suggested window, its end clamped to the certificate's notAfter; null when `error` is set. */
      window: { start: Date; end: Date } | null;
      explanationUrl: string | null;
      polledAt: Date;
      /** The CA's Retry-After clamped to 60 s – 24 h (6 h without one, 1 h after an error), never past notAfter. */
      nextPollAt: Date;
      /** Why no window could be used (HTTP 404, 5xx, not JSON, an inverted window…); the lifetime rule applies. */
      error: string | null;
    };

/**
 * A CA's advice to the daemon's scheduler, built by `CaEntry.advisor` once per `[[ca]]` and
 * used from the daemon (never inside a renewal process). Calls never throw for what the CA
 * answers: faults come back as `error` and the caller falls back to the lifetime rule. Safe
 * to call concurrently; the caller bounds how many polls run at once and when (`nextPollAt`).
 */
export interface CaAdvisor {
  /** Asks the CA when to renew `leafPem` (the newest certificate of a cert; the caller does not poll past its notAfter). */
  poll(leafPem: string, signal?: AbortSignal): Promise<AriAnswer>;
  /**
   * The certID to send as `SubmitRequest.replaces` for an order replacing `leafPem`: non-null
   * only when this CA answered renewalInfo for it (polled now unless an earlier poll in this
   * process was answered).
   */
  replaces(leafPem: string, signal?: AbortSignal): Promise<string | null>;
  /** Profile names the CA's directory offers (`meta.profiles`), for a warning at start. Throws when the directory cannot be read. */
  profiles(signal?: AbortSignal): Promise<string[]>;
  /**
   * What the CA would refuse in a cert's `certOptions` (`CertConfig.caOptions`), as a warning
   * line, or null: checked online at the daemon's start, since check-config stays offline.
   * Throws when the directory cannot be read.
   */
  checkCertOptions(certOptions: unknown, signal?: AbortSignal): Promise<string | null>;
}

/** One finding of a read-only backend check (rota doctor). Never carries a secret. */
export interface CheckResult {
  status: "ok" | "warn" | "fail" | "skip";
  message: string;
  /** The fixes other than the systemd drop-in, which doctor adds from `dropIn`. */
  hint?: string;
  /** What the hardened unit must be granted for this to pass under systemd. */
  dropIn?: DropInNeed;
}

/**
 * Folders for `ReadWritePaths=` and capabilities for `AmbientCapabilities=` and
 * `CapabilityBoundingSet=` that the hardened unit lacks (packaging/systemd/rota.service.in).
 * Doctor merges every finding's into the one drop-in `rota.service.d/targets.conf` it
 * prints (docs/install.md): a second file of that name would replace the first.
 */
export interface DropInNeed {
  paths: readonly string[];
  capabilities: readonly string[];
}

export interface CheckContext {
  /** Skip anything that touches the network; answer `skip` with the reason instead. */
  offline: boolean;
  /** The service user whose permissions matter (rota doctor --user; default: state_dir's owner). */
  user: { name: string; uid: number; gid: number };
  /**
   * The certs being checked that this backend serves (`rota doctor CERT_ID` narrows them to
   * one), each with its CA options (`CertConfig.caOptions`): a CA with per-cert state asks
   * about each. Absent means none; backends without per-cert state ignore it.
   */
  certs?: readonly { id: string; caOptions?: unknown }[];
  /** `[cluster] enabled`: nothing is ever created on this node that the others must share (a local CA's root). */
  cluster?: boolean;
}

/** Optional capability: a read-only self-check. Never writes, renews, installs, latches or alerts. */
export interface Checkable {
  check(signal: AbortSignal, ctx: CheckContext): Promise<CheckResult[]>;
}

/** Whether the backend can check itself (`rota doctor`). */
export function isCheckable(x: unknown): x is Checkable {
  return typeof x === "object" && x !== null && typeof (x as Partial<Checkable>).check === "function";
}
