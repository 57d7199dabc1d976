/**
 * @module A write a fake vendor holds between receiving it and carrying it out: the vendor
 * still working on a request whose client has given up (an aborted renewal). The fake
 * carries it out once released, whether the client still waits for the reply or not.
 */

export interface Hold {
  /** Settles when the held request has arrived: recorded, its body read, not yet carried out. */
  arrived: Promise<void>;
  /** Lets the held request go on. */
  release(): void;
  /** Settles once the held request was carried out (or refused), its reply on the way. */
  done: Promise<void>;
}

/** The fake's side of a hold: what its handler awaits and signals. */
export interface HeldRequest {
  arrive(): void;
  released: Promise<void>;
  finish(): void;
}

/** A hold for the test and its counterpart for the fake's handler. */
export function newHold(): { hold: Hold; held: HeldRequest } {
  const arrived = Promise.withResolvers<void>();
  const released = Promise.withResolvers<void>();
  const done = Promise.withResolvers<void>();
  return {
    hold: { arrived: arrived.promise, release: () => released.resolve(), done: done.promise },
    held: { arrive: () => arrived.resolve(), released: released.promise, finish: () => done.resolve() },
  };
}
