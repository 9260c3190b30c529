/**
 * What a read-only (watch-only) session may do about its model without changing the server: see it resident, or join
 * a load under way; never start a load, and never `POST /load_model` for a resident model (which counts as use and
 * resets its idle timer). It asks `GET /v1/models`, which reads only.
 */

import { parseModelId } from '../protocol/model-id.js';
import type { Failure } from './failures.js';
import { listModels } from './model-admin.js';

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
}

/** Asks the server's model list whether `model` is resident or loading. Never throws. */
export async function planAttach(options: AttachOptions): Promise<AttachPlan> {
  const listed = await listModels({
    server: options.server,
    apiKey: options.apiKey,
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  if (!listed.ok) return { kind: 'stop', failure: listed.failure };
  const wanted = keyOf(options.model);
  const entry = listed.value.find((m) => keyOf(m.id) === wanted);
  if (entry?.state === 'resident') return { kind: 'resident', id: entry.id };
  if (entry?.state === 'loading') return { kind: 'join' };
  return {
    kind: 'stop',
    failure: {
      kind: 'read-only',
      message: `${options.model} is not loaded on the server${entry?.state === 'on-disk' ? ' (only cached on disk)' : ''}, and a read-only session loads nothing`,
    },
  };
}

/** `org/name` and `org/name@main` alike; an id that does not parse, as it is. */
function keyOf(id: string): string {
  const parsed = parseModelId(id);
  return parsed.ok ? parsed.ref.key : id;
}
