/**
 * The one place the load manager's listeners are added, dropped and cleared: a load's subscribers and the manager's
 * watchers are each a listener set. A listener that throws (a broken socket) is dropped and reported; it never
 * starves the others.
 */

/** Listeners that each get every value, in the order they were added. */
export interface ListenerSet<T> {
  /** Adds `listener` (a listener already in the set stays once); returns the function that removes it. Idempotent. */
  add(listener: (value: T) => void): () => void;
  /**
   * Gives `value` to every listener in the set when the call began (one removed by an earlier one still gets it). A
   * listener that throws is removed, and its error goes to the set's `onError`.
   */
  emit(value: T): void;
  /** Removes every listener. */
  clear(): void;
  /** Listeners in the set. */
  readonly size: number;
}

/** Creates an empty set; `onError` gets what a listener threw, with the value it was given. */
export function createListenerSet<T>(onError: (error: unknown, value: T) => void): ListenerSet<T> {
  const listeners = new Set<(value: T) => void>();
  return {
    add(listener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
    emit(value) {
      for (const listener of [...listeners]) {
        try {
          listener(value);
        } catch (error) {
          listeners.delete(listener);
          onError(error, value);
        }
      }
    },
    clear() {
      listeners.clear();
    },
    get size() {
      return listeners.size;
    },
  };
}
