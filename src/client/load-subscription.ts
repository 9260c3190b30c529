/**
 * One `/load_model` subscription: POST, read the event stream to its terminal event, and say how it ended.
 *
 * Why `fetch` and the protocol's parser (via `sse-reader.ts`) rather than eventsource-client, which the server feed
 * uses: `/load_model` is a one-shot POST whose HTTP status and body matter (401, 404, 422 must reach the user as
 * errors), whose end without a terminal event is a failure, and which must not be re-sent after every stream end.
 * eventsource-client reconnects after every end at one constant delay (the server's `retry:`, 2 s by default) and
 * re-POSTs with `Last-Event-ID`, which `/load_model` does not use; the session's reconnect wants the capped
 * exponential backoff of `reconnect.ts`, a retry that the user can force, and a stop on errors no retry can cure.
 * Wrapping it would mean closing it after every terminal event and re-creating it per attempt: its reconnect would
 * never be used.
 */

import { ENDED_EARLY_MESSAGE, isTerminal, parseLoadEvent, type LoadEvent } from '../protocol/events.js';
import type { LoadExtras } from '../protocol/residency-fields.js';
import type { Failure } from './failures.js';
import { ABORTED_FAILURE, isAbort, networkFailure, postForEventStream, type RequestOptions } from './http.js';
import { readSse, type SseReaderCallbacks } from './sse-reader.js';

/** Options of {@link subscribeLoad}. */
export interface SubscribeLoadOptions extends RequestOptions {
  /** As given by the user: `org/name` or `org/name@revision`. */
  readonly model: string;
  /** The request's `dtype`: ONNX weights variants in order of preference (a modeldeck server's); absent: not sent. */
  readonly dtype?: readonly string[];
  /**
   * Every event that parsed, in order. `extras`: what an adapter of another kind of server read beside the event
   * (an Ollama model's unload countdown); absent, they are read from `raw` as modeldeck writes them.
   */
  readonly onEvent?: (event: LoadEvent, raw: string, extras?: LoadExtras) => void;
  /** The server answered 200 with an event stream (before any event: a queued load may wait a while for its first). */
  readonly onAccepted?: () => void;
  /** `/load_model` (the default), or a modeldeck server's `/pull_model` (the same stream; ready means on disk). */
  readonly route?: '/load_model' | '/pull_model';
}

/** How a subscription ended. */
export type LoadOutcome =
  | { readonly ok: true; readonly event: Extract<LoadEvent, { status: 'ready' }> }
  | { readonly ok: false; readonly failure: Failure };

/**
 * POSTs `/load_model` and reads its event stream to the end. Never throws: every way it can end is a
 * {@link LoadOutcome}. An HTTP error status becomes an `http` failure naming the status and the body's message; a
 * stream that ends without `ready`/`error` is an `ended-early` failure ({@link ENDED_EARLY_MESSAGE}), never success.
 * Frames that do not parse are logged and skipped (other servers may interleave things this client does not know).
 */
export async function subscribeLoad(options: SubscribeLoadOptions): Promise<LoadOutcome> {
  const request = { model: options.model, ...(options.dtype === undefined ? {} : { dtype: options.dtype }) };
  const answer = await postForEventStream(options.route ?? '/load_model', request, options);
  if (!answer.ok) return answer;
  const { response } = answer;
  options.onAccepted?.();

  let outcome: LoadOutcome | undefined;
  const reader: SseReaderCallbacks = {
    onEvent: ({ data }) => {
      options.onFrame?.({ kind: 'data', raw: data });
      if (outcome) return;
      const parsed = parseLoadEvent(data);
      if (!parsed.ok) {
        options.onFrame?.({ kind: 'other', raw: `skipped a frame: ${parsed.error}` });
        return;
      }
      options.onEvent?.(parsed.event, data);
      if (isTerminal(parsed.event)) {
        outcome =
          parsed.event.status === 'ready'
            ? { ok: true, event: parsed.event }
            : {
                ok: false,
                failure: {
                  kind: 'server',
                  message: parsed.event.message,
                  ...(parsed.event.code !== undefined ? { code: parsed.event.code } : {}),
                },
              };
      }
    },
    onComment: (text) => options.onFrame?.({ kind: 'comment', raw: text }),
    onRetry: (ms) => options.onFrame?.({ kind: 'other', raw: `retry: ${ms}` }),
    onError: ({ message, line }) => options.onFrame?.({ kind: 'other', raw: line === '' ? message : line }),
  };
  const body = response.body;
  if (body === null) return { ok: false, failure: { kind: 'ended-early', message: ENDED_EARLY_MESSAGE } };
  try {
    await readSse(body, reader, () => outcome !== undefined);
  } catch (error) {
    if (outcome) return outcome;
    if (isAbort(error, options.signal)) return { ok: false, failure: ABORTED_FAILURE };
    return { ok: false, failure: networkFailure(error, 'connection lost mid-load') };
  }
  return outcome ?? { ok: false, failure: { kind: 'ended-early', message: ENDED_EARLY_MESSAGE } };
}
