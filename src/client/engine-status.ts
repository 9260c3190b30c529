/**
 * What `modeldeck ps` lists of a server of another kind, from that kind's own routes: Ollama's `GET /api/ps` (in
 * memory, with size and expiry) and `GET /api/tags` (installed, on disk); llama.cpp's router `GET /models` (each
 * model's `status.value`: `loaded`, `loading`, `downloading`, `unloaded`); vLLM and other OpenAI-compatible servers'
 * `GET /v1/models` (the models they serve, in memory by construction). Nothing is made up: a size or an expiry the
 * kind does not tell is `null` or absent.
 */

import { ollamaName, ollamaResidents } from './engines/ollama-adapter.js';
import { sendForJson } from './engines/engine-http.js';
import type { Failure } from './failures.js';
import type { RequestOptions } from './http.js';

/** One model of another kind's server, in `ps`'s terms. */
export interface EngineStatusModel {
  readonly model: string;
  readonly state: 'resident' | 'loading' | 'cached';
  readonly size_bytes: number | null;
  readonly stage?: string;
  readonly expires_at?: string | null;
}

/** The kinds {@link readEngineStatus} reads. */
export type OtherKind = 'ollama' | 'llamacpp' | 'openai';

/** Lists the models of a server of `kind` by its own routes. Never throws. */
export async function readEngineStatus(
  kind: OtherKind,
  options: RequestOptions,
): Promise<{ ok: true; value: EngineStatusModel[] } | { ok: false; failure: Failure }> {
  switch (kind) {
    case 'ollama':
      return ollamaStatus(options);
    case 'llamacpp':
      return listed(options, '/models', (e) => {
        const status = (e['status'] ?? {}) as Record<string, unknown>;
        const value = typeof status['value'] === 'string' ? status['value'] : 'unloaded';
        const state = value === 'loaded' ? 'resident' : value === 'unloaded' ? 'cached' : 'loading';
        return { state, ...(state === 'loading' ? { stage: value } : {}) };
      });
    case 'openai':
      return listed(options, '/v1/models', () => ({ state: 'resident' }));
    default: {
      const never: never = kind;
      throw new TypeError(`unknown kind ${String(never)}`);
    }
  }
}

/** `data[].id` of a list route, each placed by `place`. */
async function listed(
  options: RequestOptions,
  path: string,
  place: (entry: Record<string, unknown>) => Pick<EngineStatusModel, 'state' | 'stage'>,
): Promise<{ ok: true; value: EngineStatusModel[] } | { ok: false; failure: Failure }> {
  const answer = await sendForJson(options, 'GET', path);
  if (!answer.ok) return answer;
  const data = Array.isArray(answer.value['data']) ? (answer.value['data'] as unknown[]) : [];
  return {
    ok: true,
    value: data.flatMap((entry) => {
      if (typeof entry !== 'object' || entry === null) return [];
      const e = entry as Record<string, unknown>;
      return typeof e['id'] === 'string' ? [{ model: e['id'], size_bytes: null, ...place(e) }] : [];
    }),
  };
}

/** Ollama: what `/api/ps` holds in memory, then what `/api/tags` has installed and is not in memory. */
async function ollamaStatus(
  options: RequestOptions,
): Promise<{ ok: true; value: EngineStatusModel[] } | { ok: false; failure: Failure }> {
  const residents = await ollamaResidents(options);
  if (!residents.ok) return residents;
  const tags = await sendForJson(options, 'GET', '/api/tags');
  if (!tags.ok) return tags;
  const inMemory = new Set(residents.value.map((m) => ollamaName(m.name)));
  const resident: EngineStatusModel[] = residents.value.map((m) => ({
    model: m.name,
    state: 'resident',
    size_bytes: m.size,
    expires_at: m.expiresInMs === null ? null : new Date(Date.now() + m.expiresInMs).toISOString(),
  }));
  const installed = Array.isArray(tags.value['models']) ? (tags.value['models'] as unknown[]) : [];
  const onDisk = installed.flatMap((entry): EngineStatusModel[] => {
    const e = (entry ?? {}) as Record<string, unknown>;
    const name = e['name'];
    if (typeof name !== 'string' || inMemory.has(ollamaName(name))) return [];
    return [{ model: name, state: 'cached', size_bytes: typeof e['size'] === 'number' ? e['size'] : null }];
  });
  return { ok: true, value: [...resident, ...onDisk] };
}
