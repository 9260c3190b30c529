/**
 * What `modeldeck ps` lists of a server of another kind, from that kind's own routes, as the dashboard's poll reads
 * them (`kind-models.ts`): Ollama's `GET /api/ps` (in memory, with size and expiry) and `GET /api/tags` (installed,
 * on disk); llama.cpp's router `GET /models` (each model's `status.value`: `loaded`, `loading`, `downloading`,
 * `unloaded`; any other word `unknown`); vLLM and other OpenAI-compatible servers' `GET /v1/models` (the models they
 * serve, in memory by construction). Nothing is made up: a size or an expiry the kind does not tell is `null` or
 * absent, and a state it does not tell is `unknown`.
 */

import type { Failure } from './failures.js';
import type { RequestOptions } from './http.js';
import { listKindModels } from './kind-models.js';
import type { ListedModel } from './model-admin.js';

/** One model of another kind's server, in `ps`'s terms. */
export interface EngineStatusModel {
  readonly model: string;
  readonly state: 'resident' | 'loading' | 'cached' | 'unknown';
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
  const listed = await listKindModels(kind, options);
  if (!listed.ok) return listed;
  const now = Date.now();
  return { ok: true, value: listed.value.map((m) => statusOf(m, now)) };
}

function statusOf(m: ListedModel, now: number): EngineStatusModel {
  const base = { model: m.id, size_bytes: m.sizeBytes };
  switch (m.state) {
    case 'resident':
      return {
        ...base,
        state: 'resident',
        ...(m.expiresInMs === undefined
          ? {}
          : { expires_at: m.expiresInMs === null ? null : new Date(now + m.expiresInMs).toISOString() }),
      };
    case 'loading':
      return { ...base, state: 'loading', ...(m.stage ? { stage: m.stage } : {}) };
    // On its disk (Ollama's installed models), or known to the router and not in memory.
    case 'on-disk':
    case 'unloaded':
    case 'failed':
      return { ...base, state: 'cached' };
    case null:
      return { ...base, state: 'unknown' };
    default: {
      const never: never = m.state;
      throw new TypeError(`unknown residency ${String(never)}`);
    }
  }
}
