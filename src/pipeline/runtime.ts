/** @module A cert together with the backends its config names: what the scheduler watches, and what a renewal needs. */
import type { CABackend, DcvBackend, InstallBackend } from "../backends/types.ts";
import type { BackendSection, CertConfig, RotaConfig } from "../config/schema.ts";

/** What the scheduler watches: the cert and every install target it reads back, in config order. */
export interface WatchedCert {
  config: CertConfig;
  /** In the cert's order. The daemon's watchlist shares one array among the certs that name the same targets: never changed in place. */
  installs: InstallBackend[];
  /** Names the CA adds to a certificate beyond `domains` (`CaEntry.impliedNames`): not a change of names. */
  impliedNames?: string[];
  /** The shortest renewal deadline the cert's CA needs (`CaEntry.minRenewalSeconds`); `renewal_timeout_seconds` when longer. */
  minRenewalSeconds?: number;
}

/** What one renewal runs with: also the CA, and the DCV backend when the CA validates domain control. */
export interface CertRuntime extends WatchedCert {
  ca: CABackend;
  dcv: DcvBackend | undefined;
  /** The `[[dcv]]` section `dcv` was built from: journaled with its challenges, so clean-up after a reload removes them where they were published. */
  dcvSection?: BackendSection;
}

/** One loaded config and the backends the daemon built from it; a reload replaces it as a whole. */
export interface Watchlist {
  config: RotaConfig;
  /** In config order. */
  certs: WatchedCert[];
  /** Every configured DCV backend, so challenges journaled under any name still configured can be removed. */
  dcvs: Map<string, DcvBackend>;
}
