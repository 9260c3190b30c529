/**
 * Socket writes in slices: at most a batch of them in one turn of the event loop, the rest waiting for the next turns
 * (`setImmediate`), so that a frame for ten thousand watchers does not hold the loop, and `/health`, a chat or a new
 * watcher is served between batches.
 *
 * A feed event used to be written to every socket in one synchronous loop: at 10,000 watchers and 1,000 load
 * subscribers, 56–163 ms per frame in the feed-scale benchmark (seconds on a loaded host), during which no request was
 * answered. Here the first writes of a turn go out at once; past the batch, each waits in one queue, first in first out,
 * and is handed back to its writer in a later turn. A writer with something queued queues everything after it too, so
 * the frames of one socket keep their order, whatever the turn.
 *
 * Ends of streams are decided once the turn they were asked in has run its code (`process.nextTick`, before Node
 * flushes the turn's writes): when no frame waits, they go out then, each with its stream's last frame in one socket
 * write, as a plain loop would; when frames wait, the ends wait in a queue of their own behind every frame queued
 * until then, whoever's it is, and go out in slices like writes. Ending a response is what a socket costs most to let
 * go of: Node then hears its write finish, the client's FIN and the close, each with its listeners, and all of it runs
 * in the turns between slices. When a load ended, the first batch of its subscribers was ended at once and the closes
 * of those 256 connections ran before the next slice: the last subscribers got the `ready` frame 190–500 ms after the
 * event, against 30–55 ms for a plain loop that writes every frame and end before any close (fan-out benchmark on a
 * loaded host: the terminal frame was the tail of the delivery p99). Now the frame reaches every socket first.
 */

/** The side of a stream that the slicer hands a waiting frame back to. */
export interface SlicedWriter {
  /** Writes `frame` now (it waited in the slicer), or, for `undefined`, ends the stream after what it wrote. */
  writeSliced(frame: string | undefined): void;
}

/** The writes of one process, in slices. */
export interface WriteSlicer {
  /** True when one more write fits in this turn's batch (and counts it): the caller writes it now. */
  take(): boolean;
  /**
   * Queues `frame` for `writer` behind every frame waiting already; it is handed back in a later turn. `undefined` is
   * the end of the writer's stream: it is handed back once the code of this turn has run, if no frame waits then;
   * else in a later turn, once every frame queued until then has gone (its writer's among them). The writer counts
   * what it has waiting and queues all its writes while any waits.
   */
  defer(writer: SlicedWriter, frame: string | undefined): void;
  /** Frames and ends waiting to be handed back. */
  waiting(): number;
}

/** Options of {@link createWriteSlicer}. */
export interface WriteSlicerOptions {
  /** Writes in one turn, the direct ones and those handed back (frames and ends) together. */
  readonly batch: number;
  /** Runs `fn` in a later turn, after the I/O waiting now (`setImmediate`; tests inject their own). */
  readonly later?: (fn: () => void) => void;
  /** Runs `fn` once the code of this turn has run, before its writes are flushed (`process.nextTick`). */
  readonly soon?: (fn: () => void) => void;
  /** Gets what a writer threw when handed its frame back (the slicer goes on with the others). */
  readonly onError: (error: unknown, writer: SlicedWriter) => void;
}

/**
 * A first-in-first-out queue of two parallel arrays read from `head`: no object per waiting write, and nothing moved
 * until the queue is empty or half read. It counts what it ever took in and handed out.
 */
class Queue<T> {
  writers: SlicedWriter[] = [];
  values: T[] = [];
  head = 0;
  pushed = 0;
  shifted = 0;

  get size(): number {
    return this.writers.length - this.head;
  }

  push(writer: SlicedWriter, value: T): void {
    this.writers.push(writer);
    this.values.push(value);
    this.pushed += 1;
  }

  /** The value at the head (read it before {@link Queue.shift}). */
  peek(): T {
    return this.values[this.head] as T;
  }

  shift(): SlicedWriter {
    const writer = this.writers[this.head] as SlicedWriter;
    this.head += 1;
    this.shifted += 1;
    return writer;
  }

  /** Drops what was read, once it is all of the queue or half of it; returns how many entries went. */
  compact(): number {
    const read = this.head;
    if (read === this.writers.length) {
      this.writers = [];
      this.values = [];
    } else if (read * 2 > this.writers.length) {
      this.writers = this.writers.slice(read);
      this.values = this.values.slice(read);
    } else return 0;
    this.head = 0;
    return read;
  }
}

/**
 * The ends waiting, each with the count of frames ever queued that must go before it: set once the code of the turn
 * it was asked in has run ({@link Ends.stamp}), infinite until then, so that a frame queued later in that turn goes
 * before it too.
 */
class Ends extends Queue<number> {
  /** The entries before this index are stamped. */
  private stamped = 0;

  ask(writer: SlicedWriter): void {
    this.push(writer, Number.POSITIVE_INFINITY);
  }

  /** The ends asked for until now wait for the first `framesQueued` frames. */
  stamp(framesQueued: number): void {
    for (; this.stamped < this.writers.length; this.stamped += 1) this.values[this.stamped] = framesQueued;
  }

  /** True when ends of earlier turns wait (a new end then queues behind them). */
  olderWaiting(): boolean {
    return this.stamped > this.head;
  }

  /** True when the head end may go, `framesDone` frames having gone. */
  due(framesDone: number): boolean {
    return this.size > 0 && this.peek() <= framesDone;
  }

  override shift(): SlicedWriter {
    const writer = super.shift();
    this.stamped = Math.max(this.stamped, this.head);
    return writer;
  }

  override compact(): number {
    const read = super.compact();
    this.stamped -= read;
    return read;
  }
}

/** Creates a slicer; sse-stream.ts holds the one the server's event streams share. */
export function createWriteSlicer(options: WriteSlicerOptions): WriteSlicer {
  const { batch, onError } = options;
  const later = options.later ?? ((fn: () => void): void => void setImmediate(fn));
  const soon = options.soon ?? ((fn: () => void): void => process.nextTick(fn));
  let writes = 0;
  let scheduled = false;
  let settling = false;
  const frames = new Queue<string>();
  const ends = new Ends();

  const schedule = (): void => {
    if (scheduled) return;
    scheduled = true;
    later(turn);
  };

  const settleSoon = (): void => {
    if (settling) return;
    settling = true;
    soon(settle);
  };

  const handBack = (writer: SlicedWriter, frame: string | undefined): void => {
    writes += 1;
    try {
      writer.writeSliced(frame);
    } catch (error) {
      onError(error, writer);
    }
  };

  // The code of a turn has run: its ends go out now if nothing waits, else behind the frames that do.
  function settle(): void {
    settling = false;
    if (frames.size > 0 || ends.olderWaiting()) return ends.stamp(frames.pushed);
    while (ends.size > 0) handBack(ends.shift(), undefined);
    ends.compact();
  }

  // A new turn: its batch starts empty, and the oldest waiting writes fill it, each end once the frames before it went.
  function turn(): void {
    scheduled = false;
    writes = 0;
    ends.stamp(frames.pushed);
    while (writes < batch) {
      if (ends.due(frames.shifted)) handBack(ends.shift(), undefined);
      else if (frames.size > 0) {
        const frame = frames.peek();
        handBack(frames.shift(), frame);
      } else break;
    }
    frames.compact();
    ends.compact();
    // Writes went out in this turn: the next turn starts a new batch (and hands back what still waits).
    if (writes > 0 || frames.size > 0 || ends.size > 0) schedule();
  }

  return {
    take() {
      if (writes >= batch) return false;
      writes += 1;
      schedule();
      // Before the write's own flush, so that an end asked for next goes out with it.
      settleSoon();
      return true;
    },
    defer(writer, frame) {
      if (frame === undefined) {
        ends.ask(writer);
        settleSoon();
      } else frames.push(writer, frame);
      schedule();
    },
    waiting: () => frames.size + ends.size,
  };
}
