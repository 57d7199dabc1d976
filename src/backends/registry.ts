/**
 * @module The one explicit map from a config `type` to its backend: how to read its
 * config section and how to build it. Implementations are imported lazily so the CLI
 * and an idle daemon never load a vendor's client they do not use.
 */
import type { Reader } from "../config/reader.ts";
import type { BackendSection } from "../config/schema.ts";
import type { BackendContext } from "./context.ts";
import type { AlertBackend, CABackend, CaAdvisor, ChallengeKind, DcvBackend, InstallBackend } from "./types.ts";
import { parseEmailConfig } from "./alert/email/config.ts";
import { parseWebhookConfig } from "./alert/webhook/config.ts";
import { ACME_CERT_KEYS, parseAcmeCertOptions, parseAcmeConfig, type AcmeConfig } from "./ca/acme/config.ts";
import { parseLocalCaConfig } from "./ca/local/config.ts";
import { missingRootProblem } from "./ca/local/layout.ts";
import {
  impliedNames,
  NAMECHEAP_CERT_KEYS,
  parseNamecheapCaConfig,
  parseNamecheapCertOptions,
  type NamecheapCaConfig,
  type NamecheapCertOptions,
} from "./ca/namecheap/config.ts";
import { parseCloudflareConfig } from "./dcv/cloudflare/config.ts";
import { parseNamecheapConfig } from "./dcv/namecheap/config.ts";
import { parseWebrootConfig, webrootPublicFolders, type WebrootConfig } from "./dcv/webroot/config.ts";
import { filesystemKeyFolders, parseFilesystemConfig, type FilesystemConfig } from "./install/filesystem/config.ts";
import { parseDsmConfig } from "./install/dsm/config.ts";
import { parseNginxConfig } from "./install/nginx/config.ts";
import { haproxyKeyFolders, parseHaproxyConfig, type HaproxyConfig } from "./install/haproxy/config.ts";
import { parseK8sSecretConfig } from "./install/k8s-secret/config.ts";

/** A folder a backend's section names, with the key that names it (`path`, `dir`). */
export interface ConfiguredFolder {
  key: string;
  path: string;
}

export interface BackendEntry<B, C = unknown> {
  /** Reads and validates the section's own keys; problems go to the reader. */
  parse(r: Reader): C;
  create(name: string, config: C, ctx: BackendContext): Promise<B>;
}

export interface CaEntry<C = unknown> extends BackendEntry<CABackend, C> {
  /** Whether certificates from this CA need a DCV backend (a local CA does not). */
  needsDcv: boolean;
  /**
   * The challenge kinds this CA hands out, known without building it: validation refuses a
   * cert whose DCV solves none of them, and a wildcard unless they share a DNS kind.
   */
  kinds: readonly ChallengeKind[];
  /**
   * Names the CA puts in a certificate beyond the ones asked for (Sectigo adds the `www.`
   * counterpart of a one-name certificate, the base name of a lone wildcard): the scheduler does
   * not take them for a change of names.
   */
  impliedNames?: (domains: readonly string[]) => string[];
  /** The least renewal deadline this CA's certs need, in seconds: the runner uses it when `renewal_timeout_seconds` is shorter. */
  minRenewalSeconds?: (options: unknown) => number;
  /**
   * What a cert's CA options hold that no other cert may (a Namecheap certificate id): the key
   * and its value, or undefined. Validation refuses two certs with the same claim.
   */
  certClaim?: (certOptions: unknown) => { key: string; value: string } | undefined;
  /** The lifetime of the certificates it issues, in days, when the config alone tells. */
  lifetimeDays?: (options: unknown) => number;
  /** The most names one certificate may hold, when the CA sets a limit. */
  maxNames?: number;
  /**
   * The CA-specific `[[cert]]` keys this type reads (`certKeys`) and how (`parseCertOptions`,
   * problems to the reader): the result is `CertConfig.caOptions`, handed back to the CA as
   * `SubmitRequest.certOptions`. A cert whose CA type does not list a key another type reads
   * gets "ca X (type T) takes no <key>".
   */
  certKeys?: readonly string[];
  parseCertOptions?(r: Reader): unknown;
  /**
   * Builds the daemon's advisor for one `[[ca]]` (ARI polling, offered profiles): see
   * `CaAdvisor` for its contract. Lazy like `create`; absent when the type gives no advice.
   */
  advisor?(name: string, options: unknown, ctx: BackendContext): Promise<CaAdvisor>;
  /** Why cluster mode cannot use this type at all, as the problem under a section's `type` says it; absent when it can. */
  clusterUnsupported?: string;
  /**
   * Why cluster mode cannot use the `[[ca]]` called `name` on this machine (a file each node
   * must hold), as the problem under its `type` says it; undefined when it can. Reads files,
   * never changes any.
   */
  clusterProblem?: (name: string, ctx: { stateDir: string; cas: BackendSection[] }) => string | undefined;
}

export interface DcvEntry<C = unknown> extends BackendEntry<DcvBackend, C> {
  /**
   * The challenge kinds this type solves, known without building it, so validation can
   * refuse what it cannot do (a wildcard needs a DNS kind). Equals the backend's `supportedKinds()`.
   */
  kinds: readonly ChallengeKind[];
  /**
   * The folders this DCV hands to anyone over HTTP (a webroot), so validation can refuse a
   * private key written inside one.
   */
  publicFolders?: (options: unknown) => ConfiguredFolder[];
}

export interface InstallEntry<C = unknown> extends BackendEntry<InstallBackend, C> {
  /**
   * The target holds one certificate (a DSM certificate entry, a Kubernetes Secret), so
   * validation refuses a second cert naming it: each renewal would overwrite the other's.
   */
  singleCert?: boolean;
  /**
   * The folders this target writes private keys into on this machine, so validation can
   * refuse one inside a webroot and `rota check-config` can check it is writable.
   */
  keyFolders?: (options: unknown) => ConfiguredFolder[];
}

/**
 * An alert sink type. `parse` reads only the type's own keys; the keys every sink has
 * (`events`, `min_severity`, `repeat_interval_hours`) are read by the config's alert section reader.
 */
export type AlertEntry<C = unknown> = BackendEntry<AlertBackend, C>;

/** Keeps each entry's config type checked while the tables below hold them side by side. */
function entry<B, C>(e: BackendEntry<B, C>): BackendEntry<B> {
  return e as BackendEntry<B>;
}

export const CA_TYPES: Record<string, CaEntry> = {
  acme: {
    needsDcv: true,
    kinds: ["http-01", "dns-01"],
    // Let's Encrypt's limit (https://letsencrypt.org/docs/rate-limits/), and the usual one of other ACME CAs.
    maxNames: 100,
    certKeys: ACME_CERT_KEYS,
    parseCertOptions: parseAcmeCertOptions,
    advisor: async (name, options, ctx) => (await import("./ca/acme/ari.ts")).createAcmeAdvisor(name, options as AcmeConfig, { clock: ctx.clock }),
    ...entry<CABackend, ReturnType<typeof parseAcmeConfig>>({
      parse: parseAcmeConfig,
      create: async (name, cfg, ctx) => (await import("./ca/acme/acme-ca.ts")).createAcmeCa(name, cfg, ctx),
    }),
  },
  local: {
    needsDcv: false,
    kinds: [],
    lifetimeDays: (options) => (options as ReturnType<typeof parseLocalCaConfig>).validityDays,
    clusterProblem: (name, { stateDir, cas }) => missingRootProblem(stateDir, cas, name),
    ...entry<CABackend, ReturnType<typeof parseLocalCaConfig>>({
      parse: parseLocalCaConfig,
      create: async (name, cfg, ctx) =>
        (await import("./ca/local/local-ca.ts")).createLocalCa(name, cfg, ctx),
    }),
  },
  namecheap: {
    needsDcv: true,
    kinds: ["dns-cname"],
    impliedNames,
    // The runner's deadline must outlast the polling, with room for key, submit, publish and install.
    minRenewalSeconds: (options) => (options as NamecheapCaConfig).issuanceTimeoutSeconds + 300,
    certKeys: NAMECHEAP_CERT_KEYS,
    parseCertOptions: parseNamecheapCertOptions,
    certClaim: (o) => ({ key: "namecheap_certificate_id", value: String((o as NamecheapCertOptions).certificateId) }),
    // An order waiting for its certificate is kept in one node's state folder (state.ts): another leader would not find it.
    clusterUnsupported: "a namecheap CA is not supported in cluster mode yet (its pending-request state is per node)",
    ...entry<CABackend, NamecheapCaConfig>({
      parse: parseNamecheapCaConfig,
      create: async (name, cfg, ctx) => (await import("./ca/namecheap/namecheap-ca.ts")).createNamecheapCa(name, cfg, ctx),
    }),
  },
};

/** Every CA-specific `[[cert]]` key some CA type reads. */
export const CA_CERT_KEYS: readonly string[] = [...new Set(Object.values(CA_TYPES).flatMap((e) => e.certKeys ?? []))];

export const DCV_TYPES: Record<string, DcvEntry> = {
  cloudflare: {
    kinds: ["dns-01", "dns-cname"],
    ...entry<DcvBackend, ReturnType<typeof parseCloudflareConfig>>({
      parse: parseCloudflareConfig,
      create: async (name, cfg, ctx) => (await import("./dcv/cloudflare/cloudflare.ts")).createCloudflareDcv(name, cfg, ctx),
    }),
  },
  namecheap: {
    kinds: ["dns-01", "dns-cname"],
    ...entry<DcvBackend, ReturnType<typeof parseNamecheapConfig>>({
      parse: parseNamecheapConfig,
      create: async (name, cfg, ctx) => (await import("./dcv/namecheap/namecheap.ts")).createNamecheapDcv(name, cfg, ctx),
    }),
  },
  webroot: {
    kinds: ["http-01"],
    publicFolders: (options) => webrootPublicFolders(options as WebrootConfig),
    ...entry<DcvBackend, ReturnType<typeof parseWebrootConfig>>({
      parse: parseWebrootConfig,
      create: async (name, cfg) => (await import("./dcv/webroot/webroot.ts")).createWebrootDcv(name, cfg),
    }),
  },
};

export const INSTALL_TYPES: Record<string, InstallEntry> = {
  filesystem: {
    keyFolders: (options) => filesystemKeyFolders(options as FilesystemConfig),
    ...entry<InstallBackend, ReturnType<typeof parseFilesystemConfig>>({
      parse: parseFilesystemConfig,
      create: async (name, cfg, ctx) => (await import("./install/filesystem/filesystem.ts")).createFilesystemTarget(name, cfg, ctx),
    }),
  },
  nginx: {
    // The same set as a filesystem target, so the same folders hold keys.
    keyFolders: (options) => filesystemKeyFolders(options as FilesystemConfig),
    ...entry<InstallBackend, ReturnType<typeof parseNginxConfig>>({
      parse: parseNginxConfig,
      create: async (name, cfg, ctx) => (await import("./install/nginx/nginx.ts")).createNginxTarget(name, cfg, ctx),
    }),
  },
  haproxy: {
    keyFolders: (options) => haproxyKeyFolders(options as HaproxyConfig),
    ...entry<InstallBackend, ReturnType<typeof parseHaproxyConfig>>({
      parse: parseHaproxyConfig,
      create: async (name, cfg, ctx) => (await import("./install/haproxy/haproxy.ts")).createHaproxyTarget(name, cfg, ctx),
    }),
  },
  dsm: {
    // One DSM certificate entry: a second cert would overwrite the first at each renewal.
    singleCert: true,
    ...entry<InstallBackend, ReturnType<typeof parseDsmConfig>>({
      parse: parseDsmConfig,
      create: async (name, cfg, ctx) => (await import("./install/dsm/dsm.ts")).createDsmInstall(name, cfg, ctx),
    }),
  },
  "k8s-secret": {
    singleCert: true,
    ...entry<InstallBackend, ReturnType<typeof parseK8sSecretConfig>>({
      parse: parseK8sSecretConfig,
      create: async (name, cfg, ctx) => (await import("./install/k8s-secret/k8s-secret.ts")).createK8sSecretTarget(name, cfg, ctx),
    }),
  },
};

/** Sink types, each in its own folder under `alert/`. */
export const ALERT_TYPES: Record<string, AlertEntry> = {
  email: entry<AlertBackend, ReturnType<typeof parseEmailConfig>>({
    parse: parseEmailConfig,
    create: async (name, cfg, ctx) => (await import("./alert/email/email.ts")).createEmailAlert(name, cfg, ctx),
  }),
  webhook: entry<AlertBackend, ReturnType<typeof parseWebhookConfig>>({
    parse: parseWebhookConfig,
    create: async (name, cfg, ctx) => (await import("./alert/webhook/webhook.ts")).createWebhookAlert(name, cfg, ctx),
  }),
};
