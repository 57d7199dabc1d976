/** @module A cert together with the backends its config names, as the pipeline and scheduler use it. */
import type { CABackend, DcvBackend, InstallBackend } from "../backends/types.ts";
import type { CertConfig } from "../config/schema.ts";

export interface CertRuntime {
  config: CertConfig;
  ca: CABackend;
  /** Absent when the CA needs no domain validation (the local CA). */
  dcv: DcvBackend | undefined;
  /** Every install target of the cert, in config order. */
  installs: InstallBackend[];
}
