/**
 * The calls a model worker has not answered yet, by id, and the abort flags of the generations among them. A worker
 * with no call in flight does not keep the process alive; one with a call does. Used by `worker-client.ts` only.
 */

import type { WorkerReply, WorkerResult } from './worker-messages.js';

/** One call waiting for its answer. */
export interface PendingCall {
  resolve(result: WorkerResult | undefined): void;
  reject(error: Error): void;
  onProgress?: ((current: number, total: number) => void) | undefined;
  onText?: ((text: string) => void) | undefined;
}

/** What the table needs of the worker thread: whether it keeps the process alive. */
export interface RefCounted {
  ref(): void;
  unref(): void;
}

/** The calls of one worker. */
export interface WorkerCalls {
  /** Why every call fails now that the worker is gone (the first reason given); undefined while it lives. */
  readonly dead: Error | undefined;
  /** Records a call under a new id (the worker now keeps the process alive) and returns the id. */
  open(call: PendingCall): number;
  /** Forgets a call that will get no answer (its caller gave up); the worker may let the process exit again. */
  forget(id: number): void;
  /** Hands one reply of the worker to its call; a reply to a call no longer waiting is dropped. */
  deliver(reply: WorkerReply): void;
  /** Marks the worker dead with `error` (unless it already is) and rejects every call with its reason. */
  failAll(error: Error): void;
  /** Tracks the abort flag of a generation under way, until {@link WorkerCalls.untrack}. */
  track(flag: Int32Array): void;
  untrack(flag: Int32Array): void;
  /** Stops every generation tracked at its next token (stores 1 in each flag) and stops tracking them. */
  raiseFlags(): void;
}

/** Creates the table of `worker`, with no call (so the worker does not keep the process alive). */
export function createWorkerCalls(worker: RefCounted): WorkerCalls {
  const pending = new Map<number, PendingCall>();
  const flags = new Set<Int32Array>();
  let nextId = 1;
  let dead: Error | undefined;
  // An idle model must not keep the process alive on its own; a call in flight must.
  const updateRef = (): void => {
    if (pending.size > 0) worker.ref();
    else worker.unref();
  };
  const take = (id: number): PendingCall | undefined => {
    const call = pending.get(id);
    pending.delete(id);
    updateRef();
    return call;
  };
  updateRef();

  return {
    get dead() {
      return dead;
    },
    open(call) {
      const id = nextId;
      nextId += 1;
      pending.set(id, call);
      updateRef();
      return id;
    },
    forget: (id) => void take(id),
    deliver(reply) {
      const call = pending.get(reply.id);
      if (call === undefined) return;
      switch (reply.type) {
        case 'progress':
          return call.onProgress?.(reply.current, reply.total);
        case 'text':
          return call.onText?.(reply.text);
        case 'done':
          take(reply.id);
          return call.resolve(reply.result);
        case 'failed':
          take(reply.id);
          return call.reject(
            Object.assign(new Error(reply.message), reply.code === undefined ? {} : { code: reply.code }),
          );
        default: {
          const never: never = reply;
          throw new Error(`unknown worker reply ${JSON.stringify(never)}`);
        }
      }
    },
    failAll(error) {
      dead ??= error;
      for (const call of pending.values()) call.reject(dead);
      pending.clear();
    },
    track: (flag) => void flags.add(flag),
    untrack: (flag) => void flags.delete(flag),
    raiseFlags() {
      for (const flag of flags) Atomics.store(flag, 0, 1);
      flags.clear();
    },
  };
}
