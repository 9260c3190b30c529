/**
 * Socket writes in slices: at most a batch of them in one turn of the event loop, the rest waiting for the next turns
 * (`setImmediate`), so that a frame for ten thousand watchers does not hold the loop, and `/health`, a chat or a new
 * watcher is served between batches.
 *
 * A feed event used to be written to every socket in one synchronous loop: at 10,000 watchers and 1,000 load
 * subscribers, 56–163 ms per frame in the feed-scale benchmark (seconds on a loaded host), during which no request was
 * answered. Here the first writes of a turn go out at once; past the batch, each waits in one queue, first in first out,
 * and is handed back to its writer in a later turn. A writer with something queued queues everything after it too, so
 * the frames of one socket keep their order, whatever the turn; the end of a stream waits behind its frames like one.
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
   * Queues `frame` (`undefined`: the end) for `writer` behind everything waiting already; it is handed back in a later
   * turn. The writer counts what it has waiting and queues all its writes while any waits.
   */
  defer(writer: SlicedWriter, frame: string | undefined): void;
}

/** Options of {@link createWriteSlicer}. */
export interface WriteSlicerOptions {
  /** Writes in one turn, the direct ones and those handed back together. */
  readonly batch: number;
  /** Runs `fn` in a later turn, after the I/O waiting now (`setImmediate`; tests inject their own). */
  readonly later?: (fn: () => void) => void;
  /** Gets what a writer threw when handed its frame back (the slicer goes on with the others). */
  readonly onError: (error: unknown, writer: SlicedWriter) => void;
}

/** Creates a slicer; sse-stream.ts holds the one the server's event streams share. */
export function createWriteSlicer(options: WriteSlicerOptions): WriteSlicer {
  const { batch, onError } = options;
  const later = options.later ?? ((fn: () => void): void => void setImmediate(fn));
  let writes = 0;
  let scheduled = false;
  // Two parallel queues read from `head`: no object per waiting write, and nothing moved until a turn ends.
  let writers: SlicedWriter[] = [];
  let frames: (string | undefined)[] = [];
  let head = 0;

  const schedule = (): void => {
    if (scheduled) return;
    scheduled = true;
    later(turn);
  };

  // A new turn: its batch starts empty, and the oldest waiting writes fill it.
  function turn(): void {
    scheduled = false;
    writes = 0;
    const end = Math.min(writers.length, head + batch);
    while (head < end) {
      const writer = writers[head] as SlicedWriter;
      const frame = frames[head];
      head += 1;
      writes += 1;
      try {
        writer.writeSliced(frame);
      } catch (error) {
        onError(error, writer);
      }
    }
    if (head === writers.length) {
      writers = [];
      frames = [];
      head = 0;
    } else if (head * 2 > writers.length) {
      writers = writers.slice(head);
      frames = frames.slice(head);
      head = 0;
    }
    // Writes went out in this turn: the next turn starts a new batch (and hands back what still waits).
    if (writes > 0 || writers.length > 0) schedule();
  }

  return {
    take() {
      if (writes >= batch) return false;
      writes += 1;
      schedule();
      return true;
    },
    defer(writer, frame) {
      writers.push(writer);
      frames.push(frame);
      schedule();
    },
  };
}
