/**
 * The holes of one partial file, fetched in ranged parts over the transfer's connections. The holes the file has are
 * cut into parts (`partBytes`); a few lanes take parts in turn, each part asking for a connection under the file's
 * flow (`fair-share.ts`) and streaming its range into the file at its offset (`body-pump.ts`). One rate view of the
 * parts in flight (`part-rates.ts`) serves the two ways a slow connection is kept from holding the download back:
 * - a part told to yield (its connection wanted by a flow with fewer, or it ran far below its siblings) stops where it
 *   is, keeping every byte it wrote, and the rest of its range goes back to the front of the queue, to be asked again
 *   on another connection;
 * - once the queue is empty, a lane that is free takes the tail of the part in flight that would take longest to
 *   finish at its rate (a slow one first, by that measure), leaving it what its rate fetches while the taker fetches
 *   the rest at the file's best rate, so both end at about the same time (as aria2 shares a segment). A part that
 *   would finish within {@link SHARE_MIN_MS} is left alone: cutting its body closes its connection.
 * A hub that answers a ranged request with the whole file (it ignores `Range`) ends this with {@link RangeIgnored}:
 * the caller fetches the file in one stream instead.
 */

import { setMaxListeners } from 'node:events';

import { LoadError } from '../loader-types.js';
import { highWaterBytes, pumpBody, type PumpTarget } from './body-pump.js';
import { holes, type ByteSpan } from './byte-spans.js';
import { abortReason, withRetries, Yielded } from './download-retry.js';
import { bodyError, checkLength, cutOff } from './download-failures.js';
import type { FileSource } from './file-source.js';
import type { HubFile } from './hub-client.js';
import type { PartialFile } from './partial-file.js';
import { createPartRates, type PartRates } from './part-rates.js';
import { partBytes, type Transfer } from './transfer.js';

/** Abort listeners one signal may have without a warning: a few per part in flight. */
export const LISTENERS = 1000;

/** A ranged request was answered with the whole file: the hub ignores `Range`. */
export class RangeIgnored extends Error {}

/** What fetching the holes of one file needs. */
export interface HoleFetch {
  readonly file: HubFile;
  readonly source: FileSource;
  readonly partial: PartialFile;
  readonly transfer: Transfer;
  /** The flow its connections are asked for under: `[load, file]`. */
  readonly flow: readonly string[];
  readonly signal: AbortSignal | undefined;
  /** Bytes arrived (not yet written), for the progress. */
  readonly received: (bytes: number) => void;
  /** Bytes of those written. */
  readonly written: (bytes: number) => void;
}

/** A range being fetched: where it has got to, and what it was told. */
interface Part extends PumpTarget {
  readonly redials: number;
  readonly yielder: AbortController;
  /** Bytes received by this part (what its rate is measured by). */
  received: number;
  /** It holds a connection now (a part waiting for one is not shared: its taker would wait as well). */
  connected: boolean;
}

/** A range to fetch, with the times it was asked again for being slow. */
interface Work {
  readonly start: number;
  readonly end: number;
  readonly redials: number;
}

/** Fetches every hole of `fetch.partial`; rejects with the first failure once every part stopped, or RangeIgnored. */
export async function fetchHoles(fetch: HoleFetch): Promise<void> {
  const { file, transfer } = fetch;
  const size = file.size;
  const queue: Work[] = splitHoles(holes(fetch.partial.spans, size), partBytes(size, transfer.policy));
  if (queue.length === 0) return;
  const controller = new AbortController();
  // Every part in flight and every wait for a connection listens to it: many, by design.
  setMaxListeners(LISTENERS, controller.signal);
  const onAbort = (): void => controller.abort(fetch.signal?.reason);
  if (fetch.signal?.aborted === true) onAbort();
  else fetch.signal?.addEventListener('abort', onAbort, { once: true });
  const active = new Set<Part>();
  const { slowFactor, slowAfterMs } = transfer.policy;
  const rates = createPartRates<Part>({ factor: slowFactor, afterMs: slowAfterMs });
  const stopWatch = watchParts(transfer, active, rates);
  let failure: { readonly error: unknown } | undefined;
  // A lane with no hole left takes the tail of a part still in flight, so the download does not wait on one slow
  // connection (a capped CDN edge) while the others stand idle. A lane with nothing to take waits while parts are in
  // flight: until one ends, or for another look at their rates.
  const ended = createPulse();
  const lane = async (): Promise<void> => {
    for (;;) {
      const work = queue.shift() ?? takeTail(active, rates);
      if (work === undefined) {
        if (active.size === 0 || controller.signal.aborted) return;
        await ended.next(SHARE_LOOK_MS);
        continue;
      }
      try {
        const rest = await fetchPart(fetch, work, controller.signal, active);
        // The rest of a part that yielded goes first: it is the oldest hole.
        if (rest !== undefined) queue.unshift(rest);
      } finally {
        ended.fire();
      }
    }
  };
  try {
    const lanes = Array.from({ length: Math.min(transfer.policy.connections, queue.length) }, () =>
      lane().catch((error: unknown) => {
        failure ??= { error };
        controller.abort(error);
      }),
    );
    await Promise.all(lanes);
    if (failure !== undefined) throw failure.error;
  } finally {
    stopWatch();
    fetch.signal?.removeEventListener('abort', onAbort);
  }
}

/** `spans` cut into works of at most `size` bytes. */
function splitHoles(spans: readonly ByteSpan[], size: number): Work[] {
  const works: Work[] = [];
  for (const [start, end] of spans) {
    for (let at = start; at < end; at += size) works.push({ start: at, end: Math.min(end, at + size), redials: 0 });
  }
  return works;
}

/**
 * Fetches one work into the file, retrying from the bytes it has; resolves with the rest of it when it yielded,
 * `undefined` when it is whole.
 */
async function fetchPart(
  fetch: HoleFetch,
  work: Work,
  signal: AbortSignal,
  active: Set<Part>,
): Promise<Work | undefined> {
  const { file } = fetch;
  const part: Part = {
    pos: work.start,
    end: work.end,
    highWater: highWaterBytes(fetch.transfer.policy.connections),
    redials: work.redials,
    yielder: new AbortController(),
    received: 0,
    connected: false,
  };
  active.add(part);
  try {
    await withRetries(
      fetch.transfer,
      file,
      signal,
      { flow: fetch.flow, yielder: part.yielder },
      async (request, refresh) => {
        part.connected = true;
        try {
          await fetchRange(fetch, part, request, refresh);
        } finally {
          part.connected = false;
        }
      },
    );
    return undefined;
  } catch (error) {
    if (error instanceof Yielded && part.pos < part.end) {
      return { start: part.pos, end: part.end, redials: part.redials + (error.why === 'slow' ? 1 : 0) };
    }
    if (error instanceof Yielded) return undefined;
    if (signal.aborted && !(error instanceof LoadError)) throw abortReason(signal, error);
    throw error;
  } finally {
    active.delete(part);
  }
}

/** One try at the rest of a part: its range asked for and streamed into the file. */
async function fetchRange(fetch: HoleFetch, part: Part, request: AbortSignal, refresh: () => void): Promise<void> {
  const { file, source, partial } = fetch;
  const range = { start: part.pos, end: part.end - 1 };
  const response = await source.open(range, request);
  if (response.status === 200 && !(range.start === 0 && range.end === file.size - 1)) {
    response.cancel();
    throw new RangeIgnored();
  }
  checkLength(response, file, range.end - range.start + 1);
  try {
    await pumpBody(
      response.body,
      partial,
      part,
      {
        received: (bytes) => {
          refresh();
          part.received += bytes;
          fetch.received(bytes);
        },
        written: fetch.written,
        overflow: () =>
          new LoadError('DOWNLOAD_FAILED', `download of ${file.path} sent more bytes than it asked for; retry`),
      },
      range.end + 1,
    );
  } catch (error) {
    if (isFsError(error)) throw error;
    throw bodyError(error, request, file, part.pos);
  }
  if (part.pos < part.end) throw cutOff(file, part.pos, undefined);
}

/**
 * Looks at the parts in flight every so often: updates their rates (which {@link takeTail} reads) and tells those
 * that stayed far below their siblings to yield (each part at most `maxRedials` times, and only while enough of it is
 * left to be worth a new connection). Returns the function that stops watching.
 */
function watchParts(transfer: Transfer, active: Set<Part>, rates: PartRates<Part>): () => void {
  const { slowAfterMs, maxRedials } = transfer.policy;
  const timer = setInterval(
    () => {
      const parts = [...active].map((part) => ({ key: part, received: part.received }));
      for (const part of rates.observe(performance.now(), parts)) {
        if (part.redials >= maxRedials || part.end - part.pos < MIN_REDIAL_BYTES) continue;
        part.yielder.abort(new Yielded('slow'));
      }
    },
    Math.max(50, Math.min(LOOK_MS, slowAfterMs / 3)),
  );
  timer.unref();
  return () => clearInterval(timer);
}

/** How often, in milliseconds, the rates of the parts in flight are looked at (at most). */
const LOOK_MS = 200;

/** A part with less than this left finishes where it is: a new connection would cost more than it saves. */
const MIN_REDIAL_BYTES = 256 * 1024;

/** A range in flight is shared with an idle connection only when what it gives away is at least this big. */
const MIN_SHARED_BYTES = 256 * 1024;

/**
 * A part in flight is shared with an idle connection only when it would take at least this long, in milliseconds, to
 * finish at its rate: a new connection costs a set-up (and the cut one its own), which a shorter tail does not repay.
 */
const SHARE_MIN_MS = 400;

/** How often, in milliseconds, a lane with nothing to take looks at the rates of the parts in flight again. */
const SHARE_LOOK_MS = 100;

/** A signal the waiting lanes share: `next(ms)` resolves at the next `fire()`, or after `ms`. */
function createPulse(): { next(ms: number): Promise<void>; fire(): void } {
  let waiters: (() => void)[] = [];
  return {
    next: (ms) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, ms);
        timer.unref();
        waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
    fire() {
      const woken = waiters;
      waiters = [];
      for (const wake of woken) wake();
    },
  };
}

/**
 * The tail of the part in flight that would take longest to finish at its rate, or undefined when none is worth
 * sharing. A part not rated yet (it just started) is taken to run at the file's best rate; before any rate is known
 * nothing is shared, nor is a part waiting for a connection. The part keeps the share its rate fetches while the taker fetches the rest at the best rate (its
 * `end` lowered, so its body stops there: `body-pump.ts`), so both end at about the same time.
 */
function takeTail(active: ReadonlySet<Part>, rates: PartRates<Part>): Work | undefined {
  const best = rates.best();
  if (!(best > 0)) return undefined;
  let longest: { part: Part; rate: number; ms: number } | undefined;
  for (const part of active) {
    const left = part.end - part.pos;
    if (!part.connected || left < 2 * MIN_SHARED_BYTES) continue;
    const rate = Math.max(rates.rate(part) ?? best, best / 1000);
    const ms = left / rate;
    if (longest === undefined || ms > longest.ms) longest = { part, rate, ms };
  }
  if (longest === undefined || longest.ms < SHARE_MIN_MS) return undefined;
  const { part, rate } = longest;
  const end = part.end;
  const keep = Math.max(MIN_SHARED_BYTES, Math.ceil(((end - part.pos) * rate) / (rate + Math.max(rate, best))));
  if (end - part.pos - keep < MIN_SHARED_BYTES) return undefined;
  part.end = part.pos + keep;
  return { start: part.end, end, redials: 0 };
}

function isFsError(error: unknown): boolean {
  return typeof (error as { syscall?: unknown } | null)?.syscall === 'string';
}
