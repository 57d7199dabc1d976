/** @module A cert together with the backends its config names: what the scheduler watches, and what a renewal needs. */
import type { CABackend, DcvBackend, InstallBackend } from "../backends/types.ts";
import type { CertConfig } from "../config/schema.ts";

/** What the scheduler watches: the cert and every install target it reads back, in config order. */
export interface WatchedCert {
  config: CertConfig;
  installs: InstallBackend[];
}

/** What one renewal runs with: also the CA, and the DCV backend when the CA validates domain control. */
export interface CertRuntime extends WatchedCert {
  ca: CABackend;
  dcv: DcvBackend | undefined;
}
