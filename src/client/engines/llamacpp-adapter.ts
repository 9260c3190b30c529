/**
 * llama.cpp's `llama-server` in router mode (`ggml-org/llama.cpp` @ 00dd0816: `tools/server/server-models.cpp`, its
 * README and `tests/unit/test_router.py`, as docs/protocol.md summarises them): the one module that knows its routes.
 * A load reads `GET /models` first (a `loaded` model is ready, cached), opens `GET /models/sse` before it asks
 * anything (the stream has no snapshot and no ids: what happens before it opens is lost), then sends `POST
 * /models/load`, or, for a model the router does not list, `POST /models` (its download) and the load once
 * `download_finished` comes; and reads the model's frames: `model_status` and `status_change` progress become stages,
 * `download_progress` (per URL) is summed into one `download` gauge, `status_change` to `loaded` is ready, to
 * `unloaded` (a failed child, `exit_code`) and `download_failed` are errors. Chat is OpenAI's.
 */

import type { LoadEvent } from '../../protocol/events.js';
import { streamChat } from '../chat-stream.js';
import type { EngineAdapter, UnloadOptions } from '../engine-adapter.js';
import type { AdminOutcome } from '../model-admin.js';
import type { Failure } from '../failures.js';
import { ABORTED_FAILURE, isAbort, networkFailure, type RequestOptions } from '../http.js';
import type { LoadOutcome, SubscribeLoadOptions } from '../load-subscription.js';
import { readSse } from '../sse-reader.js';
import { numberOf, send, sendForJson } from './engine-http.js';

/**
 * A model's `status.value` in `GET /models` (`unloaded`, `loading`, `loaded`, `sleeping`, …), or undefined: not listed
 * (not in the router's cache, models dir or presets: it must be downloaded first) or not asked.
 */
export async function llamacppStatus(options: RequestOptions, model: string): Promise<string | undefined> {
  const listed = await sendForJson(options, 'GET', '/models');
  if (!listed.ok) return undefined;
  const data = Array.isArray(listed.value['data']) ? (listed.value['data'] as unknown[]) : [];
  for (const entry of data) {
    const e = entry as Record<string, unknown> | null;
    if (e?.['id'] !== model) continue;
    const value = (e['status'] as Record<string, unknown> | undefined)?.['value'];
    return typeof value === 'string' ? value : undefined;
  }
  return undefined;
}

type Step = LoadEvent | { readonly failure: Failure } | { readonly downloaded: true } | undefined;

/** What one `/models/sse` frame about the model means for the session. */
function stepOf(
  model: string,
  event: unknown,
  data: Record<string, unknown>,
  downloads: Map<string, readonly [number, number]>,
): Step {
  switch (event) {
    case 'model_status':
      return { status: 'loading', model, stage: data['status'] === 'downloading' ? 'download' : 'load' };
    case 'status_change': {
      if (data['status'] === 'loaded') return { status: 'ready', model, cached: false, size_bytes: null };
      if (data['status'] === 'unloaded') {
        const code = numberOf(data['exit_code']);
        return {
          failure: {
            kind: 'server',
            message: `the model's server process exited${code === undefined ? '' : ` with code ${code}`} before it loaded`,
          },
        };
      }
      const progress = data['progress'] as Record<string, unknown> | undefined;
      if (progress === undefined) return undefined;
      const stages = Array.isArray(progress['stages']) ? (progress['stages'] as unknown[]) : [];
      const current = progress['current'];
      const stage = typeof current === 'number' ? stages[current] : current;
      const value = numberOf(progress['value']);
      return {
        status: 'loading',
        model,
        stage: typeof stage === 'string' ? stage : 'load',
        ...(value === undefined ? {} : { progress: { current: Math.round(value * 100), total: 100 } }),
      };
    }
    case 'download_progress': {
      const files = (data['progress'] ?? {}) as Record<string, { done?: unknown; total?: unknown }>;
      for (const [url, file] of Object.entries(files))
        downloads.set(url, [numberOf(file.done) ?? 0, numberOf(file.total) ?? 0]);
      let current = 0;
      let total = 0;
      for (const [done, size] of downloads.values()) {
        current += done;
        total += size;
      }
      return { status: 'loading', model, stage: 'download', progress: { current, total } };
    }
    case 'download_finished':
      return { downloaded: true };
    case 'download_failed':
      return { failure: { kind: 'server', message: 'the download failed (or was cancelled)' } };
    default:
      return undefined;
  }
}

async function load(options: SubscribeLoadOptions): Promise<LoadOutcome> {
  const { model } = options;
  const emit = (event: LoadEvent, raw = JSON.stringify(event)): void => options.onEvent?.(event, raw);
  const listed = await llamacppStatus(options, model);
  if (listed === 'loaded') {
    const ready = { status: 'ready', model, cached: true, size_bytes: null } as const;
    options.onAccepted?.();
    emit(ready);
    return { ok: true, event: ready };
  }
  // Its own signal too: a load refused after the download ends the stream, which no more frames would end.
  const ending = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, ending.signal]) : ending.signal;
  const stream = await send({ ...options, signal }, 'GET', '/models/sse', undefined, 'text/event-stream');
  if (!stream.ok) return stream;
  // Not listed: the router knows no such model yet; `POST /models` downloads it first (a child in download mode),
  // then the load is asked once its `download_finished` comes.
  const download = listed === undefined;
  const asked = download
    ? await sendForJson(options, 'POST', '/models', { model })
    : await sendForJson(options, 'POST', '/models/load', { model });
  if (!asked.ok) return asked;
  options.onAccepted?.();
  const body = stream.response.body;
  if (body === null) return { ok: false, failure: { kind: 'ended-early', message: 'the model events ended' } };
  return followEvents(options, body, emit, () => ending.abort());
}

/** Reads `/models/sse` for the model until it is loaded or failed; asks the load when a download it waited for ends. */
async function followEvents(
  options: SubscribeLoadOptions,
  body: ReadableStream<Uint8Array>,
  emit: (event: LoadEvent, raw?: string) => void,
  end: () => void,
): Promise<LoadOutcome> {
  const { model } = options;
  let outcome: LoadOutcome | undefined;
  const downloads = new Map<string, readonly [number, number]>();
  const fail = (failure: Failure, raw: string): void => {
    emit({ status: 'error', model, message: failure.message }, raw);
    outcome = { ok: false, failure };
  };
  try {
    await readSse(
      body,
      {
        onEvent: ({ data }) => {
          options.onFrame?.({ kind: 'data', raw: data });
          let frame: Record<string, unknown>;
          try {
            frame = JSON.parse(data) as Record<string, unknown>;
          } catch {
            return;
          }
          if (outcome !== undefined || frame['model'] !== model) return;
          const step = stepOf(model, frame['event'], (frame['data'] ?? {}) as Record<string, unknown>, downloads);
          if (step === undefined) return;
          if ('failure' in step) return fail(step.failure, data);
          if ('downloaded' in step) {
            void sendForJson(options, 'POST', '/models/load', { model }).then((asked) => {
              if (asked.ok || outcome !== undefined) return;
              fail(asked.failure, asked.failure.message);
              end();
            });
            return;
          }
          emit(step);
          if (step.status === 'ready') outcome = { ok: true, event: step };
        },
      },
      () => outcome !== undefined,
    );
  } catch (error) {
    if (outcome !== undefined) return outcome;
    if (isAbort(error, options.signal)) return { ok: false, failure: ABORTED_FAILURE };
    return { ok: false, failure: networkFailure(error, 'connection lost mid-load') };
  }
  return (
    outcome ?? {
      ok: false,
      failure: { kind: 'ended-early', message: 'the model events ended before the model loaded' },
    }
  );
}

/** `POST /models/unload`: the router stops the model's process, a loading one too (so it also cancels). */
async function unload(options: UnloadOptions): Promise<AdminOutcome<string>> {
  const answer = await sendForJson(options, 'POST', '/models/unload', { model: options.model });
  if (!answer.ok) return answer;
  return { ok: true, value: JSON.stringify(answer.value) };
}

/** The adapter of llama.cpp's router. */
// No `serverFacts`: the server view's table shows `GET /models` (`kind-models.ts`). Not `/metrics` either: on a router
// it needs a `model=` and loads that model, and polling it keeps the model awake (llama.cpp issue #20227).
export const llamacppAdapter: EngineAdapter = { kind: 'llamacpp', load, chat: streamChat, unload };
