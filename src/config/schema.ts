/** @module The validated, resolved configuration: paths absolute, defaults applied, references checked. */
import type { VerifyServed } from "../backends/install/served/config.ts";
import type { Severity } from "../backends/types.ts";
import type { ClusterConfig } from "../cluster/types.ts";
import type { KeyType } from "../crypto/keys.ts";
import type { SecretRef } from "./secret.ts";

export interface DaemonConfig {
  stateDir: string;
  socket: string;
  checkIntervalSeconds: number;
  /** Unset when the file does not say, so the scheduler can record where a threshold came from. */
  renewThresholdDays: number | undefined;
  failureCooldownSeconds: number;
  failureCooldownMaxSeconds: number;
  /** Authorizations turned invalid in a row (no success between) after which the cert is halted until `rota renew --force`. */
  maxAuthzFailures: number;
  maxConcurrentRenewals: number;
  /** A renewal still running this long is aborted (challenges removed) and fails. */
  renewalTimeoutSeconds: number;
  /** A renewal worker without work this long exits, so an idle daemon returns to its size. */
  workerIdleSeconds: number;
  /** A renewal worker exits after this many renewals (the next renewal starts a fresh one). */
  workerMaxRenewals: number;
  /** `cert.expiring` fires within this many days of expiry (or a third of the lifetime, if less); failures are critical within it. */
  expiryWarningDays: number;
}

export type AuditConfig = SqliteAuditConfig | SurrealAuditConfig;

export interface SqliteAuditConfig {
  backend: "sqlite";
  path: string;
  /** Renewal rows and issued certificates older than this are pruned (the newest of each per cert stays). */
  retentionDays: number;
}

export const SURREAL_AUTH_LEVELS = ["database", "namespace", "root"] as const;
export type SurrealAuthLevel = (typeof SURREAL_AUTH_LEVELS)[number];

/** `[audit] backend = "surrealdb"`: a SurrealDB 3.x server shared by the daemons that write to it. */
export interface SurrealAuditConfig {
  backend: "surrealdb";
  /** `ws://` or `wss://…/rpc`, without credentials. */
  url: string;
  namespace: string;
  database: string;
  username: string;
  /** Read at each connect, so a rotated password file is picked up by the next reconnect. */
  password: SecretRef;
  /** Where the user is defined: `DEFINE USER … ON DATABASE` (the default), `ON NAMESPACE` or `ON ROOT`. */
  authLevel: SurrealAuthLevel;
  /** CAs trusted for wss:// besides the system's. */
  caBundle: string | undefined;
  connectTimeoutSeconds: number;
  /** The most audit writes held in memory during an outage. */
  bufferMaxWrites: number;
  retentionDays: number;
}

/** One `[[ca]]`, `[[dcv]]` or `[[install]]` section; `options` is what its registry entry parsed. */
export interface BackendSection {
  name: string;
  type: string;
  options: unknown;
}

/** One `[[alert]]`: the keys every sink has, read by validation; `options` is what its registry entry parsed. */
export interface AlertSection extends BackendSection {
  /** The catalogue's event names this sink gets (`["*"]` expanded). */
  events: string[];
  minSeverity: Severity;
  repeatIntervalHours: number;
}

/** One `[[install]]`: `verifyServed` is read for every type by the section reader; `options` is what its registry entry parsed. */
export interface InstallSection extends BackendSection {
  verifyServed: VerifyServed | null;
}

export interface CertConfig {
  id: string;
  domains: string[];
  ca: string;
  dcv: string | undefined;
  install: string[];
  keyPath: string;
  keyType: KeyType;
  /** "never": the key at keyPath serves every renewal; "every_renewal": each new order gets a fresh key. */
  keyRotation: KeyRotation;
  renewThresholdDays: number | undefined;
  /** What the CA type's `parseCertOptions` read from this cert's CA-specific keys (ACME: `profile`); undefined when it reads none. */
  caOptions?: unknown;
}

export const KEY_ROTATIONS = ["never", "every_renewal"] as const;
export type KeyRotation = (typeof KEY_ROTATIONS)[number];

export interface HttpListen {
  /** An IP address, without brackets. */
  host: string;
  port: number;
  ipv6: boolean;
}

/** Files given by path, or a cert rota manages (its filesystem target's `fullchain.pem` and `privkey.pem` in `dir`). */
export type HttpTls = { from: "files"; cert: string; key: string } | { from: "cert"; certId: string; target: string; dir: string };

/** The API (and dashboard) on TCP. */
export interface HttpListener {
  listen: HttpListen;
  token: SecretRef;
  /** Null: plain HTTP (loopback, or `allow_plain_http`). */
  tls: HttpTls | null;
  allowPlainHttp: boolean;
  sessionHours: number;
}

/** `[http]`. */
export interface HttpConfig {
  /** Null: no TCP listener. */
  listener: HttpListener | null;
  /** An origin (`https://nas.example.com:8844`): links in alerts, and the origin browsers use behind a reverse proxy. */
  publicUrl: string | undefined;
}

export type { ClusterConfig };

export interface RotaConfig {
  /** Absolute path of the file this came from. */
  file: string;
  daemon: DaemonConfig;
  audit: AuditConfig;
  cas: BackendSection[];
  dcvs: BackendSection[];
  installs: InstallSection[];
  certs: CertConfig[];
  http: HttpConfig;
  alerts: AlertSection[];
  cluster: ClusterConfig;
}

export const DEFAULT_CONFIG_PATH = "/etc/rota/rota.toml";
export const DEFAULT_SOCKET = "/run/rota/rota.sock";
export const DEFAULT_STATE_DIR = "/var/lib/rota";
export const DEFAULT_RETENTION_DAYS = 400;
export const DEFAULT_SURREAL_CONNECT_TIMEOUT_SECONDS = 10;
export const DEFAULT_SURREAL_BUFFER_MAX_WRITES = 10_000;
export const DEFAULT_EXPIRY_WARNING_DAYS = 14;
export const DEFAULT_REPEAT_INTERVAL_HOURS = 24;
