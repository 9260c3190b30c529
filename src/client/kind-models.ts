/**
 * What a server without a live feed says of its models, read by its kind's own routes, for the dashboard's poll: in
 * the feed's states (`resident`, `loading`, `on-disk`, `unloaded`, `failed`) where the kind says which, and no state
 * (`null`: unknown) where it does not. Never guessed:
 *
 * - modeldeck: `GET /v1/models`, whose entries carry modeldeck's `status`, size and countdown.
 * - `transformers serve`: `GET /v1/models` lists its disk cache with no loaded flag (transformers 5.x): every entry's
 *   state is unknown.
 * - Ollama: `GET /api/ps` (in memory: size, expiry) then `GET /api/tags` (installed: on disk, with its size).
 * - llama.cpp's router: `GET /models`, each entry's `status.value`: `loaded` resident, `loading` or `downloading`
 *   loading (that word its stage), `unloaded` unloaded (`failed` with its exit code when `status.failed`); any other
 *   word unknown, kept as the row's note.
 * - vLLM and other OpenAI-compatible servers: `GET /v1/models` lists what they serve, which they hold in memory from
 *   their start (they load nothing on request): resident.
 */

import { ollamaName, ollamaResidents } from './engines/ollama-adapter.js';
import { numberOf, sendForJson } from './engines/engine-http.js';
import { listModels, type AdminOptions, type AdminOutcome, type ListedModel } from './model-admin.js';
import type { ServerKind } from './server-kind.js';

/** Lists the models of a server of `kind` by its own routes. Never throws. */
export function listKindModels(kind: ServerKind, options: AdminOptions): Promise<AdminOutcome<ListedModel[]>> {
  switch (kind) {
    case 'modeldeck':
      return listModels(options);
    case 'transformers-serve':
      // Its list is the disk cache: whatever a field might suggest, it says nothing of memory.
      return listModels(options).then((o) => (o.ok ? { ok: true, value: o.value.map(unknownState) } : o));
    case 'ollama':
      return ollamaModels(options);
    case 'llamacpp':
      return routerModels(options);
    case 'openai':
      return listModels(options).then((o) =>
        o.ok ? { ok: true, value: o.value.map((m) => ({ ...m, state: 'resident' as const })) } : o,
      );
    default: {
      const never: never = kind;
      throw new TypeError(`unknown server kind ${String(never)}`);
    }
  }
}

const unknownState = (m: ListedModel): ListedModel => ({ ...m, state: null, subscribers: null });

/** Ollama: what `/api/ps` holds in memory, then what `/api/tags` has installed and is not in memory. */
async function ollamaModels(options: AdminOptions): Promise<AdminOutcome<ListedModel[]>> {
  const residents = await ollamaResidents(options);
  if (!residents.ok) return residents;
  const tags = await sendForJson(options, 'GET', '/api/tags');
  if (!tags.ok) return tags;
  const inMemory = new Set(residents.value.map((m) => ollamaName(m.name)));
  const resident = residents.value.map((m): ListedModel => ({
    id: m.name,
    state: 'resident',
    sizeBytes: m.size,
    subscribers: null,
    expiresInMs: m.expiresInMs,
  }));
  const installed = Array.isArray(tags.value['models']) ? (tags.value['models'] as unknown[]) : [];
  const onDisk = installed.flatMap((entry): ListedModel[] => {
    const e = (entry ?? {}) as Record<string, unknown>;
    const name = e['name'];
    if (typeof name !== 'string' || inMemory.has(ollamaName(name))) return [];
    return [{ id: name, state: 'on-disk', sizeBytes: numberOf(e['size']) ?? null, subscribers: null }];
  });
  return { ok: true, value: [...resident, ...onDisk] };
}

/** llama.cpp's router: `GET /models`, each entry's `status`. */
async function routerModels(options: AdminOptions): Promise<AdminOutcome<ListedModel[]>> {
  const listed = await sendForJson(options, 'GET', '/models');
  if (!listed.ok) return listed;
  const data = Array.isArray(listed.value['data']) ? (listed.value['data'] as unknown[]) : [];
  return {
    ok: true,
    value: data.flatMap((entry): ListedModel[] => {
      const e = (entry ?? {}) as Record<string, unknown>;
      if (typeof e['id'] !== 'string') return [];
      return [{ id: e['id'], sizeBytes: null, subscribers: null, ...routerState(e['status']) }];
    }),
  };
}

function routerState(status: unknown): Pick<ListedModel, 'state' | 'stage' | 'note'> {
  const s = (typeof status === 'object' && status !== null ? status : {}) as Record<string, unknown>;
  const value = s['value'];
  switch (value) {
    case 'loaded':
      return { state: 'resident' };
    case 'loading':
    case 'downloading':
      return { state: 'loading', stage: value };
    case 'unloaded': {
      if (s['failed'] !== true) return { state: 'unloaded' };
      const code = numberOf(s['exit_code']);
      return { state: 'failed', note: `its process exited${code === undefined ? '' : ` with code ${code}`}` };
    }
    default:
      return { state: null, note: typeof value === 'string' ? `status ${value}` : 'no status' };
  }
}
