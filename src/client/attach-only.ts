/**
 * What a read-only (watch-only) session may do about its model without changing the server: see it resident, or join
 * a load under way; never start a load, and never `POST /load_model` for a resident model (which counts as use and
 * resets its idle timer). It asks the list of the server's kind (`kind-models.ts`: `GET /v1/models`, Ollama's
 * `/api/ps`, the router's `/models`), which reads only. On a kind without `/load_model` a load under way cannot be
 * joined without asking for it again: the session waits until the list says the model is resident.
 */

import { parseModelId } from '../protocol/model-id.js';
import { ollamaName } from './engines/ollama-adapter.js';
import type { Failure } from './failures.js';
import { listKindModels } from './kind-models.js';
import { listModels } from './model-admin.js';
import type { ServerKind } from './server-kind.js';

/** What the listing says a read-only session may do. */
export type AttachPlan =
  /** Resident: ready as it is (`id` as the server lists it). */
  | { readonly kind: 'resident'; readonly id: string }
  /** Loading: join the load (`POST /load_model` joins, it starts nothing). */
  | { readonly kind: 'join' }
  /** Neither, or the server could not be asked: why. */
  | { readonly kind: 'stop'; readonly failure: Failure };

/** Options of {@link planAttach}. */
export interface AttachOptions {
  readonly server: string;
  readonly model: string;
  readonly apiKey?: string | undefined;
  readonly fetch?: typeof fetch;
  readonly signal?: AbortSignal;
  /** The server's kind, when known: its own list is asked; absent, `GET /v1/models` as modeldeck lists it. */
  readonly kind?: ServerKind | undefined;
}

/** Asks the server's model list whether `model` is resident or loading. Never throws. */
export async function planAttach(options: AttachOptions): Promise<AttachPlan> {
  const request = {
    server: options.server,
    apiKey: options.apiKey,
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  };
  const listed = await (options.kind === undefined ? listModels(request) : listKindModels(options.kind, request));
  if (!listed.ok) return { kind: 'stop', failure: listed.failure };
  const key = options.kind === 'ollama' ? ollamaName : keyOf;
  const wanted = key(options.model);
  const entry = listed.value.find((m) => key(m.id) === wanted);
  if (entry?.state === 'resident') return { kind: 'resident', id: entry.id };
  const joins = options.kind === undefined || options.kind === 'modeldeck' || options.kind === 'transformers-serve';
  if (entry?.state === 'loading' && joins) return { kind: 'join' };
  const where =
    entry?.state === 'loading'
      ? ' yet (it is loading: the session is ready once it is loaded)'
      : entry?.state === 'on-disk'
        ? ' (only cached on disk)'
        : entry !== undefined && entry.state === null
          ? ` as far as the server tells (its list does not say what is in memory)`
          : '';
  return {
    kind: 'stop',
    failure: {
      kind: 'read-only',
      message: `${options.model} is not loaded on the server${where}, and a read-only session loads nothing`,
    },
  };
}

/** `org/name` and `org/name@main` alike; an id that does not parse, as it is. */
function keyOf(id: string): string {
  const parsed = parseModelId(id);
  return parsed.ok ? parsed.ref.key : id;
}
