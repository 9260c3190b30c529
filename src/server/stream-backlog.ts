/**
 * The frames of one event stream on their way to its socket, written as fast as the socket takes them and no faster:
 * the backpressure of `sse-stream.ts`, and the measure of its write budget.
 *
 * While the socket takes writes, a frame goes straight to it. Once a write is refused (the socket's buffer is full:
 * the kernel's buffers are, and Node's holds its high-water mark), later frames wait in a queue of their own until
 * `drain`, then go out one by one for as long as the socket takes them. The queue holds references to the frames,
 * which a feed encodes once and shares between all its watchers, so a waiting frame costs a stream a pointer rather
 * than a copy, and Node's own buffer never holds more than about its high-water mark.
 *
 * What waits (Node's buffer and the queue) is measured against the budget. The frames written in the turn the stream
 * opens (a snapshot, the replay of the events a reconnecting watcher missed) are the start of the stream, not a
 * client falling behind: they come on top of the budget, for as long as they have not been taken.
 */

import type { ServerResponse } from 'node:http';

/** The frames of one stream that its socket has not taken yet. */
export interface StreamBacklog {
  /**
   * Writes `frame` to the socket, or queues it while the socket takes no more. False when what waits is now over the
   * budget: the client is not reading (the frame is queued all the same; the owner decides).
   */
  write(frame: string): boolean;
  /**
   * True while frames wait for the socket. A method, not a getter: an object literal with an accessor is kept in
   * dictionary mode, 448 bytes a stream more (heap snapshot, the feed-scale benchmark), a tenth of a watcher's cost.
   */
  backedUp(): boolean;
  /** The frames still queued, as one string (for the stream's last write), and stops: nothing more is written. */
  takeAll(): string;
  /** Forgets the queued frames and stops: nothing more is written. */
  clear(): void;
}

/** Queues above this many taken frames are compacted (a slow reader's queue is read from its head). */
const COMPACT_AFTER = 1024;

/** The backlog of `res`, with a budget of `budgetBytes`. */
export function createStreamBacklog(res: ServerResponse, budgetBytes: number): StreamBacklog {
  let frames: string[] = [];
  let sizes: number[] = [];
  let head = 0;
  let queuedBytes = 0;
  let backedUp = false;
  let stopped = false;
  // What the opening turn wrote and the socket has not taken yet; until that turn ends, everything is.
  let allowance = Number.POSITIVE_INFINITY;
  const waitingBytes = (): number => res.writableLength + queuedBytes;
  setImmediate(() => {
    allowance = waitingBytes();
  });

  const flush = (): void => {
    if (stopped) return;
    backedUp = false;
    while (head < frames.length) {
      const frame = frames[head] as string;
      queuedBytes -= sizes[head] as number;
      head += 1;
      if (!res.write(frame)) {
        backedUp = true;
        break;
      }
    }
    if (head === frames.length) {
      frames = [];
      sizes = [];
      head = 0;
    } else if (head > COMPACT_AFTER && head * 2 > frames.length) {
      frames = frames.slice(head);
      sizes = sizes.slice(head);
      head = 0;
    }
    // The client is reading: what is left of the opening frames shrinks as it takes them.
    allowance = Math.min(allowance, waitingBytes());
    if (backedUp) res.once('drain', flush);
  };

  const stop = (): void => {
    stopped = true;
    frames = [];
    sizes = [];
    head = 0;
    queuedBytes = 0;
  };

  return {
    write(frame) {
      if (stopped) return true;
      if (backedUp) {
        frames.push(frame);
        const size = Buffer.byteLength(frame);
        sizes.push(size);
        queuedBytes += size;
      } else if (!res.write(frame)) {
        backedUp = true;
        res.once('drain', flush);
      }
      return waitingBytes() <= budgetBytes + allowance;
    },
    backedUp: () => backedUp,
    takeAll() {
      const rest = frames.slice(head).join('');
      stop();
      return rest;
    },
    clear: stop,
  };
}
