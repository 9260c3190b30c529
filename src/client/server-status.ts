/**
 * What `modeldeck ps` shows of one server: its models (resident, loading, queued, pulling, on disk) with their sizes
 * and expiries, and its disk cache. The one place `ps` asks a server: its kind is detected by the documented probes
 * (`server-kind.ts`); a modeldeck server is read from `/v1/models` and `/cache`, upstream `transformers serve` from
 * `/v1/models` alone, and the other kinds from their own routes (`engine-status.ts`).
 */

import { readEngineStatus } from './engine-status.js';
import type { Failure } from './failures.js';
import { detectServerKind, type ServerKind } from './server-kind.js';
import { httpFailure, networkFailure } from './http.js';
import { serviceRoot } from './server-url.js';

/** One model of a server. */
export interface StatusModel {
  /** `id@revision` (as the server names it). */
  readonly model: string;
  /**
   * `resident`, `loading`, `queued` (loading, waiting its turn), `pulling` (its files on their way to the disk,
   * `POST /pull_model`; the same model may be listed in another state too), `cached` (on disk only) or `unknown`
   * (its kind does not say: a llama.cpp router status modeldeck does not know).
   */
  readonly state: 'resident' | 'loading' | 'queued' | 'pulling' | 'cached' | 'unknown';
  /** Bytes of its weights (resident) or of its snapshot on disk (cached), when known. */
  readonly size_bytes: number | null;
  /** A load's stage. */
  readonly stage?: string;
  /** When a resident model will be unloaded (RFC 3339), `null` when never; absent when the server does not say. */
  readonly expires_at?: string | null;
  /** Chat requests it is serving. */
  readonly active_requests?: number;
}

/** One server's status. */
export interface ServerStatus {
  /** The server's service root. */
  readonly server: string;
  /** The kind of server it was detected as (`modeldeck`, `transformers-serve`, `ollama`, `llamacpp`, `openai`). */
  readonly kind: ServerKind;
  readonly models: readonly StatusModel[];
  /** Bytes its disk cache holds (all repositories), when the server lists its cache. */
  readonly cache_bytes: number | null;
}

/** Who to ask. */
export interface StatusOptions {
  readonly server: string;
  readonly apiKey?: string | undefined;
  readonly fetch?: typeof fetch;
}

/** Asks `server` for its models and cache. Never throws. */
export async function readServerStatus(
  options: StatusOptions,
): Promise<{ ok: true; value: ServerStatus } | { ok: false; failure: Failure }> {
  const root = serviceRoot(options.server);
  const get = (path: string): Promise<Response> =>
    (options.fetch ?? fetch)(`${root}${path}`, {
      headers: { accept: 'application/json', ...(options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {}) },
    });
  const detected = await detectServerKind({
    server: root,
    apiKey: options.apiKey,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  if (!detected.ok) return detected;
  const { kind } = detected;
  if (kind === 'ollama' || kind === 'llamacpp' || kind === 'openai') {
    const other = await readEngineStatus(kind, { server: root, apiKey: options.apiKey, ...fetchOf(options) });
    return other.ok ? { ok: true, value: { server: root, kind, models: other.value, cache_bytes: null } } : other;
  }
  try {
    const listed = await get('/v1/models');
    if (!listed.ok) return { ok: false, failure: httpFailure(listed, await listed.text().catch(() => '')) };
    const { data, pulls } = (await listed.json()) as { data?: unknown; pulls?: unknown };
    const cache = await get('/cache');
    const repos = cache.ok ? (((await cache.json()) as { data?: unknown }).data as CacheRepo[] | undefined) : undefined;
    const sizes = snapshotSizes(Array.isArray(repos) ? repos : []);
    const models = [
      ...(Array.isArray(data) ? data : []).flatMap((entry) => modelOf(entry, sizes)),
      ...(Array.isArray(pulls) ? pulls : []).flatMap(pullOf),
    ];
    const cacheBytes = Array.isArray(repos)
      ? repos.reduce((sum, repo) => sum + (Number(repo.size_on_disk) || 0), 0)
      : null;
    return { ok: true, value: { server: root, kind, models, cache_bytes: cacheBytes } };
  } catch (error) {
    return { ok: false, failure: networkFailure(error, `cannot reach ${root}`) };
  }
}

function fetchOf(options: StatusOptions): { fetch?: typeof fetch } {
  return options.fetch ? { fetch: options.fetch } : {};
}

/** A repository of `GET /cache`, as far as `ps` reads it. */
interface CacheRepo {
  readonly id?: unknown;
  readonly size_on_disk?: unknown;
  readonly revisions?: readonly { readonly refs?: unknown; readonly size_bytes?: unknown }[];
}

/** `id@ref` → bytes of its snapshot. */
function snapshotSizes(repos: readonly CacheRepo[]): Map<string, number> {
  const sizes = new Map<string, number>();
  for (const repo of repos) {
    for (const revision of repo.revisions ?? []) {
      const refs = Array.isArray(revision.refs) ? revision.refs : [];
      for (const ref of refs) sizes.set(`${String(repo.id)}@${String(ref)}`, Number(revision.size_bytes) || 0);
    }
  }
  return sizes;
}

/** A pull under way, from `/v1/models`' `pulls` (modeldeck's). */
function pullOf(entry: unknown): StatusModel[] {
  if (typeof entry !== 'object' || entry === null) return [];
  const { model, stage } = entry as Record<string, unknown>;
  if (typeof model !== 'string') return [];
  return [{ model, state: 'pulling', size_bytes: null, ...(typeof stage === 'string' ? { stage } : {}) }];
}

function modelOf(entry: unknown, sizes: ReadonlyMap<string, number>): StatusModel[] {
  if (typeof entry !== 'object' || entry === null) return [];
  const e = entry as Record<string, unknown>;
  if (typeof e['id'] !== 'string') return [];
  const model = e['id'];
  const status = e['status'];
  const state =
    status === 'loaded'
      ? 'resident'
      : status === 'loading'
        ? e['stage'] === 'queued'
          ? 'queued'
          : 'loading'
        : 'cached';
  const size = typeof e['size_bytes'] === 'number' ? e['size_bytes'] : (sizes.get(model) ?? null);
  return [
    {
      model,
      state,
      size_bytes: size,
      ...(typeof e['stage'] === 'string' ? { stage: e['stage'] } : {}),
      ...(typeof e['expires_at'] === 'string' || e['expires_at'] === null
        ? { expires_at: e['expires_at'] as string | null }
        : {}),
      ...(typeof e['active_requests'] === 'number' ? { active_requests: e['active_requests'] } : {}),
    },
  ];
}
