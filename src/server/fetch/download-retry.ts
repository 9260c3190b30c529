/**
 * How one request of a file download is tried: on a connection of the transfer (asked for under the request's flow,
 * `fair-share.ts`), abandoned when it stalls, and tried again as the transfer's {@link Transfer.retry} policy says
 * (`common/retry.ts`) when it fails transiently. A request may also be told to yield (its connection is wanted by a
 * flow with fewer, or it runs far below its siblings): that is no failure, and ends the tries with a {@link Yielded}.
 */

import { setTimeout as sleep } from 'node:timers/promises';

import { decideRetry, type RetryDecision } from '../../common/retry.js';
import { LoadError } from '../loader-types.js';
import type { HubFile } from './hub-client.js';
import type { Grant } from './fair-share.js';
import type { Transfer } from './transfer.js';
import { TransientError } from './transient-error.js';

/** One try: `requestSignal` aborts it; `refresh()` says bytes arrived (the stall timer starts over). */
export type Attempt = (requestSignal: AbortSignal, refresh: () => void) => Promise<void>;

/** Why a request stopped without failing: its connection went to a flow holding fewer, or it was far too slow. */
export class Yielded extends Error {
  constructor(readonly why: 'preempted' | 'slow') {
    super(`the request yielded (${why})`);
  }
}

/** Where the tries of one request run. */
export interface TryContext {
  /** The flow the connections are asked for under (`[load, file]`). */
  readonly flow: readonly string[];
  /** Aborting it with a {@link Yielded} makes the current try (or the wait for a connection) yield. */
  readonly yielder: AbortController;
  /**
   * Whether the connection may be asked to yield for a flow holding fewer (default true). A request that cannot resume
   * where it stopped (a whole file from a hub that ignores `Range`) must not: it would start over every time.
   */
  readonly preemptible?: boolean;
}

/**
 * Runs `attempt` until it succeeds, retrying transient failures with backoff. Each attempt gets a signal that aborts
 * when `signal` does, when it stalls (no `refresh()` for the stall timeout), or when it is told to yield. Rejects with
 * a permanent failure as it is, with the last transient one reworded to say why the tries ended, with the abort's
 * {@link LoadError}, or with the {@link Yielded} it was told to yield with.
 */
export async function withRetries(
  transfer: Transfer,
  file: HubFile,
  signal: AbortSignal,
  context: TryContext,
  attempt: Attempt,
): Promise<void> {
  for (let attempts = 1; ; attempts += 1) {
    const outcome = await tryOnce(transfer, file, signal, context, attempt);
    if (outcome.ok) return;
    const { failure } = outcome;
    if (signal.aborted) throw abortReason(signal, failure);
    const reason: unknown = context.yielder.signal.reason;
    if (reason instanceof Yielded) throw reason;
    const decision = decideRetry(transfer.retry, failure, attempts);
    if (decision.verdict === 'permanent') throw failure;
    if (decision.verdict !== 'retry') throw gaveUp(failure as LoadError, decision);
    transfer.onRetry();
    await sleep(decision.delayMs, undefined, { signal }).catch((error: unknown) => {
      throw abortReason(signal, error);
    });
  }
}

/**
 * One attempt on a connection of the transfer, with its stall timer; a stall fails it with a `cut` error. The
 * connection's holder is asked to yield through the context's yielder.
 */
async function tryOnce(
  transfer: Transfer,
  file: HubFile,
  signal: AbortSignal,
  context: TryContext,
  attempt: Attempt,
): Promise<{ readonly ok: true } | { readonly ok: false; readonly failure: unknown }> {
  const { policy } = transfer;
  const { yielder } = context;
  const waiting = AbortSignal.any([signal, yielder.signal]);
  let grant: Grant;
  try {
    const onPreempt = (): void => yielder.abort(new Yielded('preempted'));
    grant = await transfer.connections.acquire(
      context.flow,
      waiting,
      context.preemptible === false ? undefined : onPreempt,
    );
  } catch (error) {
    if (signal.aborted) throw abortReason(signal, error);
    return { ok: false, failure: error };
  }
  const controller = new AbortController();
  const onAbort = (): void => controller.abort(signal.aborted ? signal.reason : yielder.signal.reason);
  signal.addEventListener('abort', onAbort, { once: true });
  yielder.signal.addEventListener('abort', onAbort, { once: true });
  if (yielder.signal.aborted) onAbort();
  let stalled = false;
  // The timer covers the wait for headers too: a hub that accepts the connection and says nothing is stalled.
  const stall = setTimeout(() => {
    stalled = true;
    const message = `download of ${file.path} stalled: no data for ${formatMs(policy.stallTimeoutMs)}; retry`;
    controller.abort(new TransientError('DOWNLOAD_FAILED', message, 'cut'));
  }, policy.stallTimeoutMs);
  try {
    await attempt(controller.signal, () => stall.refresh());
    return { ok: true };
  } catch (error) {
    return { ok: false, failure: stalled ? controller.signal.reason : error };
  } finally {
    clearTimeout(stall);
    signal.removeEventListener('abort', onAbort);
    yielder.signal.removeEventListener('abort', onAbort);
    grant.release();
  }
}

/** The last transient failure, saying why the tries ended. */
function gaveUp(failure: LoadError, decision: Exclude<RetryDecision, { verdict: 'retry' | 'permanent' }>): LoadError {
  const message = failure.message.replace(/; retry( later)?$/, '');
  const why =
    decision.verdict === 'wait-too-long'
      ? `the hub asked to wait ${formatMs(decision.delayMs)}, longer than modeldeck waits`
      : `gave up after ${decision.attempts} attempts`;
  return new LoadError(failure.code, `${message} (${why}); retry later`, { cause: failure });
}

/** The {@link LoadError} an abort of `signal` rejects with: its reason when it is one, else ABORTED. */
export function abortReason(signal: AbortSignal, error: unknown): LoadError {
  const reason: unknown = signal.reason;
  if (reason instanceof LoadError) return reason;
  return new LoadError('ABORTED', 'download was aborted', { cause: error });
}

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}
