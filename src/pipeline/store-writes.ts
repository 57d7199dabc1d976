/**
 * @module The daemon's side of a renewal process's audit store writes. The daemon is the
 * only writer of the store (it may move a corrupt file aside and start a fresh one; a
 * second writer could go on writing into the old file). Writes are applied one after
 * another in the order the process sent them, while its lines keep being read; the
 * process does not wait for them, so the first that fails is what the renewal failed of.
 */
import { RotaError, describeError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { StoreWrite } from "./child-protocol.ts";
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

  apply(w: StoreWrite): void {
    this.queue = this.queue.then(async () => {
      const certId = w.store === "issued" ? w.issued.certId : w.installed.certId;
      try {
        if (certId !== this.certId) throw new RotaError("bad_store_write", `pipeline: the renewal process of ${this.certId} wrote for ${certId}`);
        if (w.store === "issued") await this.store.saveIssued(w.issued);
        else await this.store.saveInstalled(w.installed);
      } catch (err) {
        this.fail(describeWrite(w), err);
      }
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
