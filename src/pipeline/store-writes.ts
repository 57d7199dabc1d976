/**
 * @module The daemon's side of a renewal process's audit store writes. The daemon is the
 * only writer of the store (it may move a corrupt file aside and start a fresh one; a
 * second writer could go on writing into the old file). Writes are applied one after
 * another in the order the process sent them, while its lines keep being read; the first
 * that fails is what the renewal failed of. An issued certificate (fenced in cluster mode) is
 * answered once applied or refused, and the process installs nothing until then; install
 * records are not waited for.
 */
import { RotaError, describeError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { errorToWire, type DaemonLine, type StoreWrite } from "./child-protocol.ts";
import type { PipelineStore } from "./renewer.ts";

function describeWrite(w: StoreWrite): string {
  return w.store === "issued" ? `issued serial ${w.issued.serial}` : `the install of serial ${w.installed.serial} on ${w.installed.target}`;
}

export class StoreWrites {
  private queue: Promise<void> = Promise.resolve();
  private failure: RotaError | undefined;

  constructor(
    private readonly store: PipelineStore,
    private readonly certId: string,
    private readonly log: Logger,
  ) {}

  /** Queues `w`; an issued write is answered through `reply` once the store took or refused it. */
  apply(w: StoreWrite, reply: (line: DaemonLine) => void): void {
    this.queue = this.queue.then(async () => {
      const certId = w.store === "issued" ? w.issued.certId : w.installed.certId;
      let refused: unknown = null;
      try {
        if (certId !== this.certId) throw new RotaError("bad_store_write", `pipeline: the renewal process of ${this.certId} wrote for ${certId}`);
        if (w.store === "installed") await this.store.saveInstalled(w.installed);
        else if (w.fence) await this.store.saveIssued(w.issued, w.fence);
        else await this.store.saveIssued(w.issued);
      } catch (err) {
        refused = err;
        this.fail(describeWrite(w), err);
      }
      // The store's own error (`fenced`, `store_unavailable`): the process's outcome carries its code.
      if (w.store === "issued") reply({ stored: { renewalId: w.issued.renewalId, serial: w.issued.serial, error: refused === null ? null : errorToWire(refused) } });
    });
  }

  /** A write line that could not be read: lost, so the renewal fails of it. */
  unreadable(err: unknown): void {
    this.fail("a write", err);
  }

  /** Once every write so far is applied: the first failure, if any. */
  async settled(): Promise<RotaError | undefined> {
    await this.queue;
    return this.failure;
  }

  private fail(what: string, err: unknown): void {
    const failure = new RotaError("store_failed", `pipeline: the audit store could not record ${what}`, { cause: err });
    this.log.error(describeError(failure));
    this.failure ??= failure;
  }
}
