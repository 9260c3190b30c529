/**
 * Deletions from the disk cache against the loads and pulls that read it. `POST /delete_model` checks that no
 * revision of the repository is resident, loading or pulling, and claims the repository in the same turn of the
 * event loop; a load or pull of that repository opened while the claim is held waits for the deletion to end
 * before it runs its loader (and then fetches what the deletion removed), so no file is removed under a load.
 */

import type { LoadQueue } from '../protocol/events.js';
import { abortReason } from './load-limiter.js';

/** The queue reason a load or pull waiting for a deletion of its repository shows (stage `queued`). */
export const DELETION_QUEUE_REASON = 'deletion';

/** The deletions under way, by repository id. */
export interface CacheClaims {
  /**
   * Runs `task` once no deletion of repository `id` is under way: synchronously, inside this call, when none is
   * (as a loader that reports synchronously needs); else it first tells `onQueued` what it waits for. A `signal` that
   * fires during the wait rejects with its reason (a cancellation) once the deletion has ended.
   */
  after<T>(
    id: string,
    signal: AbortSignal | undefined,
    onQueued: (queue: LoadQueue) => void,
    task: () => Promise<T>,
  ): Promise<T>;
  /**
   * Holds repository `id` (of revision `key`) while `remove` runs; a deletion already under way of the same
   * repository runs first. Call it in the same turn as the check that nothing uses the repository.
   */
  claim<T>(id: string, key: string, remove: () => Promise<T>): Promise<T>;
  /** The revision whose deletion holds repository `id`, if any. */
  holder(id: string): string | undefined;
}

/** Creates the claims of one server, none held. */
export function createCacheClaims(): CacheClaims {
  const held = new Map<string, { readonly key: string; readonly done: Promise<void> }>();
  return {
    after(id, signal, onQueued, task) {
      const claim = held.get(id);
      if (claim === undefined) return task();
      onQueued({ position: 1, reason: DELETION_QUEUE_REASON, held_by: [claim.key] });
      return claim.done.then(() => {
        if (signal?.aborted === true) throw abortReason(signal);
        return task();
      });
    },
    claim(id, key, remove) {
      const before = held.get(id)?.done ?? Promise.resolve();
      const result = before.then(remove);
      const done = result.then(
        () => undefined,
        () => undefined,
      );
      held.set(id, { key, done });
      void done.then(() => {
        if (held.get(id)?.done === done) held.delete(id);
      });
      return result;
    },
    holder: (id) => held.get(id)?.key,
  };
}
