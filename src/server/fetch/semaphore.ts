/**
 * A counting semaphore with first-come, first-served waiters: what bounds the connections of the downloads and the
 * bytes they hold in memory.
 */

/** Units of something scarce (connections, bytes), handed out in request order. */
export interface Semaphore {
  /** Units not handed out. */
  readonly available: number;
  /** Waits until `units` are free and takes them; rejects with the signal's reason when it aborts first. */
  acquire(units: number, signal?: AbortSignal): Promise<void>;
  /** Takes `units` if they are free now and nobody waits before; false otherwise. */
  tryAcquire(units: number): boolean;
  /** Gives `units` back. */
  release(units: number): void;
}

/** A {@link Semaphore} of `capacity` units. A request for more than the capacity is granted when all are free. */
export function createSemaphore(capacity: number): Semaphore {
  let available = capacity;
  const waiters: { units: number; grant: () => void }[] = [];
  const fits = (units: number): boolean => available >= Math.min(units, capacity);
  const drain = (): void => {
    while (waiters.length > 0 && fits((waiters[0] as { units: number }).units)) {
      const waiter = waiters.shift() as { units: number; grant: () => void };
      available -= waiter.units;
      waiter.grant();
    }
  };
  return {
    get available() {
      return available;
    },
    acquire(units, signal) {
      if (waiters.length === 0 && fits(units)) {
        available -= units;
        return Promise.resolve();
      }
      return new Promise<void>((resolve, reject) => {
        const onAbort = (): void => {
          const index = waiters.indexOf(waiter);
          if (index >= 0) waiters.splice(index, 1);
          reject(signal?.reason as Error);
          drain();
        };
        const waiter = {
          units,
          grant: () => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          },
        };
        if (signal?.aborted === true) {
          reject(signal.reason as Error);
          return;
        }
        signal?.addEventListener('abort', onAbort, { once: true });
        waiters.push(waiter);
      });
    },
    tryAcquire(units) {
      if (waiters.length > 0 || !fits(units)) return false;
      available -= units;
      return true;
    },
    release(units) {
      available += units;
      drain();
    },
  };
}
