/**
 * The holes of one partial file, fetched in ranged parts over the transfer's connections. The holes the file has are
 * cut into parts (`partBytes`); a few lanes take parts in turn, each part asking for a connection under the file's
 * flow (`fair-share.ts`) and streaming its range into the file at its offset (`body-pump.ts`). A part told to yield
 * (its connection wanted by a flow with fewer, or it ran far below its siblings: `slow-parts.ts`) stops where it is,
 * keeping every byte it wrote, and the rest of its range goes back to the front of the queue, to be asked again on
 * another connection. Once the queue is empty, a lane that is free takes the tail of a slow part still in flight
 * (under half the fastest one's rate), leaving it what its rate fetches meanwhile, so a slow connection never holds
 * the download's tail. A hub that answers a ranged request with the whole file (it ignores `Range`) ends this with
 * {@link RangeIgnored}: the caller fetches the file in one stream instead.
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
import { createSlowParts } from './slow-parts.js';
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
  /** When it started (`performance.now()`), for its rate. */
  readonly startedAt: number;
  readonly yielder: AbortController;
  /** Bytes received by this part (what the slow watch compares). */
  received: number;
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
  // The best rate (bytes per millisecond) a part of this file has had: what a slow part is measured against when the
  // fast ones are done.
  const fastest = { rate: 0 };
  const stopWatch = watchSlowParts(transfer, active);
  let failure: { readonly error: unknown } | undefined;
  // A lane with no hole left takes the tail of a slow part still in flight, so the download does not wait on one slow
  // connection (a capped CDN edge) while the others stand idle. A lane with nothing to take waits while parts are in flight: until one ends, or for another look at their rates.
  const ended = createPulse();
  const lane = async (): Promise<void> => {
    for (;;) {
      const work = queue.shift() ?? takeTail(active, fastest.rate);
      if (work === undefined) {
        if (active.size === 0 || controller.signal.aborted) return;
        await ended.next(SHARE_LOOK_MS);
        continue;
      }
      try {
        const rest = await fetchPart(fetch, work, controller.signal, active, fastest);
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
  fastest: { rate: number },
): Promise<Work | undefined> {
  const { file, source, partial } = fetch;
  const part: Part = {
    pos: work.start,
    end: work.end,
    highWater: highWaterBytes(fetch.transfer.policy.connections),
    redials: work.redials,
    startedAt: performance.now(),
    yielder: new AbortController(),
    received: 0,
  };
  active.add(part);
  try {
    await withRetries(
      fetch.transfer,
      file,
      signal,
      { flow: fetch.flow, yielder: part.yielder },
      async (request, refresh) => {
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
    const ms = performance.now() - part.startedAt;
    // Over enough bytes to mean something (a part's first bytes come in one burst).
    if (ms >= 10 && part.received >= MIN_SHARED_BYTES) fastest.rate = Math.max(fastest.rate, part.received / ms);
  }
}

/**
 * Looks at the parts in flight every so often and tells those that stayed far below their siblings to yield (each
 * part at most `maxRedials` times, and only while enough of it is left to be worth a new connection). Returns the
 * function that stops watching.
 */
function watchSlowParts(transfer: Transfer, active: Set<Part>): () => void {
  const { slowFactor, slowAfterMs, maxRedials } = transfer.policy;
  if (!(slowFactor > 0) || maxRedials <= 0) return () => undefined;
  const slowParts = createSlowParts<Part>({ factor: slowFactor, afterMs: slowAfterMs });
  const timer = setInterval(
    () => {
      const parts = [...active].map((part) => ({ key: part, received: part.received }));
      for (const part of slowParts.observe(performance.now(), parts)) {
        if (part.redials >= maxRedials || part.end - part.pos < MIN_REDIAL_BYTES) continue;
        part.yielder.abort(new Yielded('slow'));
      }
    },
    Math.max(50, Math.min(500, slowAfterMs / 3)),
  );
  timer.unref();
  return () => clearInterval(timer);
}

/** A part with less than this left finishes where it is: a new connection would cost more than it saves. */
const MIN_REDIAL_BYTES = 256 * 1024;

/** A range in flight is shared with an idle connection only when what it gives away is at least this big. */
const MIN_SHARED_BYTES = 256 * 1024;

/** A part is judged by its rate only once it has run this long, in milliseconds. */
const SHARE_AFTER_MS = 1000;

/** How often, in milliseconds, a lane with nothing to take looks at the rates of the parts in flight again. */
const SHARE_LOOK_MS = 250;

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
 * The tail of the slow part in flight with the most left, or undefined when none is worth sharing. Slow is under half
 * the best rate a part of the file has had (`fastest`, or a part in flight now): a fast part is left alone, since
 * cutting its body closes its connection, and a new connection may land on a slow edge. The slow part keeps the share
 * its rate would fetch while the fast one fetches the rest (its `end` lowered, so its body stops there:
 * `body-pump.ts`), so both end at about the same time.
 */
function takeTail(active: ReadonlySet<Part>, fastest: number, now = performance.now()): Work | undefined {
  const rated = [...active]
    .filter((part) => now - part.startedAt >= SHARE_AFTER_MS)
    .map((part) => ({ part, rate: part.received / (now - part.startedAt) }));
  const best = Math.max(fastest, ...rated.map((r) => r.rate));
  let slowest: { part: Part; rate: number } | undefined;
  for (const r of rated) {
    if (r.rate >= best / 2 || r.part.end - r.part.pos < 2 * MIN_SHARED_BYTES) continue;
    if (slowest === undefined || r.part.end - r.part.pos > slowest.part.end - slowest.part.pos) slowest = r;
  }
  if (slowest === undefined) return undefined;
  const { part, rate } = slowest;
  const end = part.end;
  const keep = Math.max(MIN_SHARED_BYTES, Math.ceil(((end - part.pos) * rate) / (rate + best)));
  if (end - part.pos - keep < MIN_SHARED_BYTES) return undefined;
  part.end = part.pos + keep;
  return { start: part.end, end, redials: 0 };
}

function isFsError(error: unknown): boolean {
  return typeof (error as { syscall?: unknown } | null)?.syscall === 'string';
}
