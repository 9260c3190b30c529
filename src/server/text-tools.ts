/**
 * The model worker's pure text tools: the `weights` item count, the stop-string filter, the text batcher and the
 * incremental detokeniser. Plain functions over strings and numbers: this module imports neither transformers.js nor
 * ONNX Runtime, so its tests and any other caller load neither.
 */

/** Size of one `weights` progress item while reading files, in bytes. */
export const WEIGHTS_BLOCK_BYTES = 1024 * 1024;

/** Total `weights` items for files of these sizes (bytes): blocks per file plus one session. */
export function weightItems(sizes: readonly number[]): number {
  return sizes.reduce((sum, size) => sum + Math.ceil(size / WEIGHTS_BLOCK_BYTES), 0) + 1;
}

/**
 * Holds text back while it could still become one of `stops`, and cuts it before the first stop string.
 * `push` returns the text that is now safe to emit; after a stop matched, `stopped` is true and nothing more is
 * emitted. `flush` returns what was held back (when no stop matched).
 */
export function createStopFilter(stops: readonly string[]): {
  push(text: string): string;
  flush(): string;
  readonly stopped: boolean;
} {
  const needles = stops.filter((stop) => stop.length > 0);
  let held = '';
  let stopped = false;
  return {
    get stopped() {
      return stopped;
    },
    push(text) {
      if (stopped) return '';
      const buffer = held + text;
      let cut = -1;
      for (const needle of needles) {
        const at = buffer.indexOf(needle);
        if (at !== -1 && (cut === -1 || at < cut)) cut = at;
      }
      if (cut !== -1) {
        stopped = true;
        held = '';
        return buffer.slice(0, cut);
      }
      // Keep the longest tail that is a proper prefix of some stop string.
      let keep = 0;
      for (const needle of needles) {
        for (let length = Math.min(needle.length - 1, buffer.length); length > keep; length -= 1) {
          if (buffer.endsWith(needle.slice(0, length))) {
            keep = length;
            break;
          }
        }
      }
      held = buffer.slice(buffer.length - keep);
      return buffer.slice(0, buffer.length - keep);
    },
    flush() {
      const rest = stopped ? '' : held;
      held = '';
      return rest;
    },
  };
}

/**
 * Text leaves the worker at most this many milliseconds after the token that completed it. Tokens generated closer
 * together than that share one message: a message to the main thread costs ~20 µs of this thread's time (measured
 * in a profile of `npm run bench`, chat streaming), as much as a whole generation step of a very small model, while
 * a model generating under 1,000 tokens a second still sends each token on its own.
 */
export const TEXT_INTERVAL_MS = 1;

/**
 * Coalesces text for {@link TEXT_INTERVAL_MS}: `push` posts at once when the last post is at least that old, else
 * holds the text and arms a timer (which fires between generation steps: each step yields to this thread's loop).
 * `pushLazy` is for text that costs to produce (detokenising): `produce` runs only when a post is due, once for all
 * the tokens since the last one (the latest `produce` given wins). `flush` posts what is held; call it at the end.
 */
export function createTextBatcher(
  post: (text: string) => void,
  intervalMs: number = TEXT_INTERVAL_MS,
  now: () => number = () => performance.now(),
): { push(text: string): void; pushLazy(produce: () => string): void; flush(): void } {
  let held = '';
  let source: (() => string) | undefined;
  let lastPost = Number.NEGATIVE_INFINITY;
  let timer: NodeJS.Timeout | undefined;
  const flush = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    if (source !== undefined) {
      const produce = source;
      source = undefined;
      held += produce();
    }
    if (held === '') return;
    const text = held;
    held = '';
    lastPost = now();
    post(text);
  };
  const schedule = (): void => {
    const wait = lastPost + intervalMs - now();
    if (wait <= 0) flush();
    else timer ??= setTimeout(flush, wait);
  };
  return {
    push(text) {
      if (text === '') return;
      held += text;
      schedule();
    },
    pushLazy(produce) {
      source = produce;
      schedule();
    },
    flush,
  };
}

/**
 * Turns a growing token list into text deltas without re-decoding everything each step, and without emitting half
 * of a multi-byte character (a decode ending in U+FFFD waits for the next token). Decoding a short window before the
 * new tokens keeps tokenizer-dependent spacing right (the approach of text-generation-inference).
 */
export function createIncrementalDecoder(decodeIds: (ids: bigint[]) => string): {
  push(ids: readonly bigint[]): string;
} {
  // transformers.js refuses to decode an empty list.
  const decode = (ids: bigint[]): string => (ids.length === 0 ? '' : decodeIds(ids));
  let prefixOffset = 0;
  let readOffset = 0;
  return {
    push(ids) {
      const prefix = decode(ids.slice(prefixOffset, readOffset));
      const full = decode(ids.slice(prefixOffset));
      if (full.length > prefix.length && !full.endsWith('\uFFFD')) {
        prefixOffset = readOffset;
        readOffset = ids.length;
        return full.slice(prefix.length);
      }
      return '';
    },
  };
}
