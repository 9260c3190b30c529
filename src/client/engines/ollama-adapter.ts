/**
 * Ollama (`ollama/ollama` @ fb30760, v0.33.0-rc2: `api/types.go`, `server/routes.go`, `docs/api.md`): the one module
 * that knows its routes. A load is `GET /api/ps` (resident already: ready, cached), `GET /api/tags` (installed: no
 * pull), `POST /api/pull` (NDJSON; each layer's `completed`/`total` summed into one `download` gauge), then an empty
 * `POST /api/generate` (Ollama's load; it has no load progress, so the stage `load` carries none), then `/api/ps` again
 * for the size and `expires_at`. A chat is `POST /api/chat`, NDJSON, its final line's counts as the usage.
 */

import type { LoadEvent } from '../../protocol/events.js';
import type { ChatOutcome, StreamChatOptions } from '../chat-stream.js';
import { notSupported, type EngineAdapter, type UnloadOptions } from '../engine-adapter.js';
import { formatBytes, formatDuration } from '../format.js';
import type { AdminOutcome } from '../model-admin.js';
import type { Failure } from '../failures.js';
import { ABORTED_FAILURE, isAbort, networkFailure, type RequestOptions } from '../http.js';
import type { LoadOutcome, SubscribeLoadOptions } from '../load-subscription.js';
import { readNdjson, type NdjsonLine } from '../ndjson-reader.js';
import { ollamaTimings } from '../server-timings.js';
import { numberOf, send, sendForJson } from './engine-http.js';

/** `name` as Ollama lists it: a name without a tag is `:latest`. */
export function ollamaName(name: string): string {
  const last = name.slice(name.lastIndexOf('/') + 1);
  return last.includes(':') ? name : `${name}:latest`;
}

/** One model of `GET /api/ps`, as far as a session needs it. */
export interface OllamaResident {
  readonly name: string;
  readonly size: number | null;
  readonly sizeVram: number | null;
  /** Milliseconds until Ollama unloads it (`expires_at` less now); null for never (a far-future date). */
  readonly expiresInMs: number | null;
}

/** The models `GET /api/ps` says are in memory. */
export async function ollamaResidents(
  options: RequestOptions,
): Promise<{ ok: true; value: OllamaResident[] } | { ok: false; failure: Failure }> {
  const answer = await sendForJson(options, 'GET', '/api/ps');
  if (!answer.ok) return answer;
  const models = Array.isArray(answer.value['models']) ? (answer.value['models'] as unknown[]) : [];
  return { ok: true, value: models.flatMap((entry) => residentOf(entry)) };
}

// Ollama writes a model kept forever (keep_alive < 0) with an expiry centuries away.
const FOREVER_MS = 100 * 365 * 24 * 3600 * 1000;

function residentOf(entry: unknown): OllamaResident[] {
  if (typeof entry !== 'object' || entry === null) return [];
  const e = entry as Record<string, unknown>;
  const name = typeof e['name'] === 'string' ? e['name'] : typeof e['model'] === 'string' ? e['model'] : undefined;
  if (name === undefined) return [];
  const expires = typeof e['expires_at'] === 'string' ? Date.parse(e['expires_at']) : NaN;
  const left = Number.isNaN(expires) ? null : Math.max(0, expires - Date.now());
  return [
    {
      name,
      size: numberOf(e['size']) ?? null,
      sizeVram: numberOf(e['size_vram']) ?? null,
      expiresInMs: left === null || left > FOREVER_MS ? null : left,
    },
  ];
}

async function findResident(options: RequestOptions, model: string): Promise<OllamaResident | undefined> {
  const listed = await ollamaResidents(options);
  return listed.ok ? listed.value.find((m) => ollamaName(m.name) === ollamaName(model)) : undefined;
}

async function installed(options: RequestOptions, model: string): Promise<boolean> {
  const tags = await sendForJson(options, 'GET', '/api/tags');
  if (!tags.ok) return false;
  const models = Array.isArray(tags.value['models']) ? (tags.value['models'] as unknown[]) : [];
  return models.some((m) => {
    const name = (m as Record<string, unknown> | null)?.['name'];
    return typeof name === 'string' && ollamaName(name) === ollamaName(model);
  });
}

/** Reads an NDJSON answer's lines into `onLine` (each logged raw first) until it returns a result. */
async function readLines<T>(
  response: Response,
  options: RequestOptions,
  phase: string,
  onLine: (line: NdjsonLine) => T | undefined,
): Promise<T | { ok: false; failure: Failure } | undefined> {
  let result: T | undefined;
  if (response.body === null) return undefined;
  try {
    await readNdjson(
      response.body,
      (line) => {
        options.onFrame?.({ kind: 'data', raw: line.raw });
        if (result === undefined) result = onLine(line);
      },
      () => result !== undefined,
    );
  } catch (error) {
    if (result !== undefined) return result;
    if (isAbort(error, options.signal)) return { ok: false, failure: ABORTED_FAILURE };
    return { ok: false, failure: networkFailure(error, phase) };
  }
  return result;
}

/** `POST /api/pull`, its layers summed into one download gauge; resolves undefined on `success`. */
async function pull(options: SubscribeLoadOptions, emit: (event: LoadEvent) => void): Promise<Failure | undefined> {
  const answer = await send(
    options,
    'POST',
    '/api/pull',
    { model: options.model, stream: true },
    'application/x-ndjson',
  );
  if (!answer.ok) return answer.failure;
  options.onAccepted?.();
  const layers = new Map<string, { total: number; completed: number }>();
  const ended = await readLines(
    answer.response,
    options,
    'connection lost mid-pull',
    (line): 'done' | Failure | undefined => {
      const value = line.value;
      if (value === null) return undefined;
      if (typeof value['error'] === 'string') return { kind: 'server', message: value['error'] };
      const status = typeof value['status'] === 'string' ? value['status'] : '';
      if (status === 'success') return 'done';
      const digest = value['digest'];
      const total = numberOf(value['total']);
      if (typeof digest === 'string' && total !== undefined) {
        layers.set(digest, { total, completed: numberOf(value['completed']) ?? 0 });
        let current = 0;
        let sum = 0;
        for (const layer of layers.values()) {
          current += layer.completed;
          sum += layer.total;
        }
        emit({ status: 'loading', model: options.model, stage: 'download', progress: { current, total: sum } });
      } else if (status !== '') emit({ status: 'loading', model: options.model, stage: status });
      return undefined;
    },
  );
  if (ended === 'done') return undefined;
  if (ended === undefined) return { kind: 'ended-early', message: 'the pull ended before it said success' };
  return 'ok' in ended ? ended.failure : ended;
}

async function load(options: SubscribeLoadOptions): Promise<LoadOutcome> {
  const model = options.model;
  const emit = (event: LoadEvent, expiresInMs?: number | null): void =>
    options.onEvent?.(event, JSON.stringify(event), expiresInMs === undefined ? undefined : { expiresInMs });
  const before = await findResident(options, model);
  if (before !== undefined) {
    const ready = { status: 'ready', model, cached: true, size_bytes: before.size } as const;
    options.onAccepted?.();
    emit(ready, before.expiresInMs);
    return { ok: true, event: ready };
  }
  if (!(await installed(options, model))) {
    const failure = await pull(options, emit);
    if (failure !== undefined) return fail(options, failure);
  } else options.onAccepted?.();
  emit({ status: 'loading', model, stage: 'load' });
  const loaded = await sendForJson(options, 'POST', '/api/generate', { model, stream: false });
  if (!loaded.ok) return fail(options, loaded.failure);
  options.onFrame?.({ kind: 'data', raw: JSON.stringify(loaded.value) });
  if (typeof loaded.value['error'] === 'string')
    return fail(options, { kind: 'server', message: loaded.value['error'] });
  const after = await findResident(options, model);
  const ready = { status: 'ready', model, cached: false, size_bytes: after?.size ?? null } as const;
  emit(ready, after === undefined ? undefined : after.expiresInMs);
  return { ok: true, event: ready };
}

function fail(options: SubscribeLoadOptions, failure: Failure): LoadOutcome {
  if (failure.kind === 'server')
    options.onEvent?.({ status: 'error', model: options.model, message: failure.message }, failure.message);
  return { ok: false, failure };
}

async function chat(options: StreamChatOptions): Promise<ChatOutcome> {
  const sampling = {
    ...(options.maxTokens !== undefined ? { num_predict: options.maxTokens } : {}),
    ...(options.temperature !== undefined ? { temperature: options.temperature } : {}),
    ...(options.seed !== undefined ? { seed: options.seed } : {}),
  };
  const body = { model: options.model, messages: options.messages, stream: true, options: sampling };
  const answer = await send(options, 'POST', '/api/chat', body, 'application/x-ndjson');
  if (!answer.ok) return answer;
  const ended = await readLines(
    answer.response,
    options,
    'connection lost mid-reply',
    (line): ChatOutcome | undefined => {
      const value = line.value;
      if (value === null) return undefined;
      if (typeof value['error'] === 'string')
        return { ok: false, failure: { kind: 'server', message: value['error'] } };
      const message = value['message'] as Record<string, unknown> | undefined;
      const text = message?.['content'];
      if (typeof text === 'string' && text !== '') options.onDelta?.(text);
      const thinking = message?.['thinking'];
      if (typeof thinking === 'string' && thinking !== '') options.onReasoning?.(thinking);
      const calls = message?.['tool_calls'];
      if (Array.isArray(calls)) {
        for (const call of calls as { function?: { name?: unknown; arguments?: unknown } }[])
          options.onToolCall?.(
            `${String(call.function?.name ?? '?')} ${JSON.stringify(call.function?.arguments ?? {})}`,
          );
      }
      if (value['done'] !== true) return undefined;
      const prompt = numberOf(value['prompt_eval_count']);
      const completion = numberOf(value['eval_count']);
      if (prompt !== undefined && completion !== undefined) options.onUsage?.({ prompt, completion });
      const timings = ollamaTimings(value);
      if (timings) options.onTimings?.(timings);
      return { ok: true };
    },
  );
  return ended ?? { ok: false, failure: { kind: 'ended-early', message: 'the reply ended before it was done' } };
}

/** An empty generate with `keep_alive: 0`: Ollama's unload. A pull cannot be cancelled by another request. */
async function unload(options: UnloadOptions): Promise<AdminOutcome<string>> {
  if (options.what === 'cancel') return { ok: false, failure: notSupported('cancelling a pull', 'ollama') };
  const answer = await sendForJson(options, 'POST', '/api/generate', {
    model: options.model,
    keep_alive: 0,
    stream: false,
  });
  if (!answer.ok) return answer;
  return { ok: true, value: JSON.stringify(answer.value) };
}

/** `DELETE /api/delete`: Ollama removes the model's files (unloading it first when it is in memory). */
async function deleteModel(options: RequestOptions & { readonly model: string }): Promise<AdminOutcome<string>> {
  const answer = await send(options, 'DELETE', '/api/delete', { model: options.model });
  if (!answer.ok) return answer;
  return { ok: true, value: await answer.response.text().catch(() => '') };
}

/** Each resident model of `/api/ps`: its size, the share of it in VRAM, and when Ollama unloads it. */
async function serverFacts(options: RequestOptions): Promise<AdminOutcome<string[]>> {
  const listed = await ollamaResidents(options);
  if (!listed.ok) return listed;
  if (listed.value.length === 0) return { ok: true, value: ['ollama: nothing in memory (GET /api/ps)'] };
  return {
    ok: true,
    value: listed.value.map((m) => {
      const vram =
        m.size !== null && m.size > 0 && m.sizeVram !== null
          ? `${Math.round((m.sizeVram / m.size) * 100)}% in VRAM`
          : 'VRAM unknown';
      const expiry = m.expiresInMs === null ? 'kept loaded' : `unloads in ${formatDuration(m.expiresInMs)}`;
      return `${m.name} · ${m.size === null ? 'size unknown' : formatBytes(m.size)} · ${vram} · ${expiry}`;
    }),
  };
}

/** Ollama's adapter. */
export const ollamaAdapter: EngineAdapter = { kind: 'ollama', load, chat, unload, deleteModel, serverFacts };
