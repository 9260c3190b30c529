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
  /** True while frames wait for the socket. */
  backedUp(): boolean;
  /** True until the turn the stream opened in has ended (its writes are the start of the stream: see above). */
  opening(): boolean;
  /** The frames still queued, as one string (for the stream's last write), and stops: nothing more is written. */
  takeAll(): string;
  /** Forgets the queued frames and stops: nothing more is written. */
  clear(): void;
}

/** Queues above this many taken frames are compacted (a slow reader's queue is read from its head). */
const COMPACT_AFTER = 1024;

/**
 * The backlog of `res`, with a budget of `budgetBytes`.
 *
 * One object whose methods are shared on its prototype: a feed holds one backlog per watcher, and as closures over
 * the factory's variables (eight functions and their context) it cost about 600 bytes a stream more (heap snapshot
 * of the feed-scale benchmark's server), a tenth of a watcher.
 */
export function createStreamBacklog(res: ServerResponse, budgetBytes: number): StreamBacklog {
  return new Backlog(res, budgetBytes);
}

/** Ends the opening turn of `backlog` (a shared function, not a closure per stream). */
function settleAllowance(backlog: Backlog): void {
  backlog.settle();
}

class Backlog implements StreamBacklog {
  private readonly res: ServerResponse;
  private readonly budgetBytes: number;
  // Created when the socket first refuses a write: a stream that keeps up never has a queue.
  private frames: string[] | undefined = undefined;
  private sizes: number[] | undefined = undefined;
  private head = 0;
  private queuedBytes = 0;
  private waiting = false;
  private stopped = false;
  // What the opening turn wrote and the socket has not taken yet; until that turn ends, everything is.
  private allowance = Number.POSITIVE_INFINITY;

  constructor(res: ServerResponse, budgetBytes: number) {
    this.res = res;
    this.budgetBytes = budgetBytes;
    setImmediate(settleAllowance, this);
  }

  write(frame: string): boolean {
    if (this.stopped) return true;
    if (this.waiting) {
      this.frames ??= [];
      this.sizes ??= [];
      this.frames.push(frame);
      const size = Buffer.byteLength(frame);
      this.sizes.push(size);
      this.queuedBytes += size;
    } else if (!this.res.write(frame)) {
      this.backUp();
    }
    return this.waitingBytes() <= this.budgetBytes + this.allowance;
  }

  backedUp(): boolean {
    return this.waiting;
  }

  opening(): boolean {
    return this.allowance === Number.POSITIVE_INFINITY;
  }

  takeAll(): string {
    const rest = this.frames?.slice(this.head).join('') ?? '';
    this.clear();
    return rest;
  }

  clear(): void {
    this.stopped = true;
    this.frames = undefined;
    this.sizes = undefined;
    this.head = 0;
    this.queuedBytes = 0;
  }

  /** Ends the opening turn: what it wrote and the socket has not taken yet is the allowance from now on. */
  settle(): void {
    this.allowance = this.waitingBytes();
  }

  /** Writes what waits for as long as the socket takes it (on `drain`). */
  flush(): void {
    if (this.stopped) return;
    this.waiting = false;
    const frames = this.frames ?? [];
    const sizes = this.sizes ?? [];
    while (this.head < frames.length) {
      const frame = frames[this.head] as string;
      this.queuedBytes -= sizes[this.head] as number;
      this.head += 1;
      if (!this.res.write(frame)) {
        this.waiting = true;
        break;
      }
    }
    if (this.head === frames.length) {
      this.frames = undefined;
      this.sizes = undefined;
      this.head = 0;
    } else if (this.head > COMPACT_AFTER && this.head * 2 > frames.length) {
      this.frames = frames.slice(this.head);
      this.sizes = sizes.slice(this.head);
      this.head = 0;
    }
    // The client is reading: what is left of the opening frames shrinks as it takes them.
    this.allowance = Math.min(this.allowance, this.waitingBytes());
    if (this.waiting) this.onDrain();
  }

  private backUp(): void {
    this.waiting = true;
    this.onDrain();
  }

  // A listener made while frames wait: a stream that keeps up holds none.
  private onDrain(): void {
    this.res.once('drain', () => this.flush());
  }

  private waitingBytes(): number {
    return this.res.writableLength + this.queuedBytes;
  }
}
