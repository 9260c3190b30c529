/**
 * Which kind of server a session talks to, and how it is told: named (`kind` in the config, `--kind`) or detected
 * from what the server answers to a fixed list of read-only probes, asked in order, the first that matches deciding:
 *
 * 1. `GET /load_model` answers anything but 404 (405 or 422: the route exists for POST): it speaks `/load_model`,
 *    and an error body with a `code` (modeldeck's error catalogue) says `modeldeck`, any other (FastAPI's
 *    `{"detail": …}`) `transformers-serve`. First, since it decides the kind modeldeck's own users meet most in one
 *    request.
 * 2. `GET /api/version` answers 200 with a JSON `version` string: `ollama`.
 * 3. `GET /props` answers 200 with a JSON `role` string (`router` or a single model's): `llamacpp`.
 * 4. `GET /v1/models` answers 200, or `GET /health` answers 503 (a server still starting): `openai` (vLLM and every
 *    other OpenAI-compatible server; vLLM is told apart by its `vllm:` metrics, not by its kind).
 *
 * No probe loads, unloads or counts as use. Every probe goes through the caller's `fetch` (the wire tap's), so the
 * event log shows each one and its answer.
 */

import { MAX_MODEL_ID_LENGTH, parseModelId } from '../protocol/model-id.js';
import type { Failure } from './failures.js';
import { isAbort, networkFailure } from './http.js';
import { serviceRoot } from './server-url.js';

/** Every kind of server modeldeck knows how to drive. */
export const SERVER_KINDS = ['modeldeck', 'transformers-serve', 'ollama', 'llamacpp', 'openai'] as const;

/** A kind of server: whose routes its adapter (`engine-adapter.ts`) uses. */
export type ServerKind = (typeof SERVER_KINDS)[number];

/** The kind `text` names, or undefined when it names none (case-insensitive; `vllm` is `openai`). */
export function parseServerKind(text: string): ServerKind | undefined {
  const lower = text.trim().toLowerCase();
  if (lower === 'vllm' || lower === 'openai-compatible') return 'openai';
  if (lower === 'llama.cpp' || lower === 'llama-server') return 'llamacpp';
  return (SERVER_KINDS as readonly string[]).includes(lower) ? (lower as ServerKind) : undefined;
}

/** The message for a kind that is none of {@link SERVER_KINDS}. */
export function unknownKindMessage(text: string): string {
  return `unknown server kind ${JSON.stringify(text)}; choose one of ${SERVER_KINDS.join(', ')} (or leave it out to detect it)`;
}

/** What detection found: the kind and the probe that decided it, in words for the event log. */
export type KindDetection =
  | { readonly ok: true; readonly kind: ServerKind; readonly because: string }
  | { readonly ok: false; readonly failure: Failure };

/** Who to probe. */
export interface DetectOptions {
  readonly server: string;
  readonly apiKey?: string | undefined;
  readonly fetch?: typeof fetch;
  readonly signal?: AbortSignal;
  /** `POST /load_model` already answered 404 or 405: skip the `/load_model` probe. */
  readonly skipLoadModel?: boolean;
}

interface ProbeAnswer {
  readonly status: number;
  readonly type: string;
  readonly json: Record<string, unknown> | null;
}

/**
 * Asks the probes in order (see the file's comment) and resolves the first kind that matches. A server that cannot
 * be reached is a `network` failure (a reconnect may find it); one that answers none of the probes a `protocol`
 * failure naming what was asked. Never throws.
 */
export async function detectServerKind(options: DetectOptions): Promise<KindDetection> {
  const root = serviceRoot(options.server);
  const probe = (path: string): Promise<ProbeAnswer> => probeOnce(`${root}${path}`, options);
  try {
    // The first probe; a session's own load asks it as `POST /load_model` instead (`engine-adapter.ts`).
    const load = options.skipLoadModel === true ? undefined : await probe('/load_model');
    if (load !== undefined && load.status !== 404) {
      const error = load.json?.['error'];
      const code = typeof error === 'object' && error !== null ? (error as Record<string, unknown>)['code'] : undefined;
      if (typeof code === 'string')
        return { ok: true, kind: 'modeldeck', because: `GET /load_model answered ${load.status} with code ${code}` };
      return {
        ok: true,
        kind: 'transformers-serve',
        because: `GET /load_model answered ${load.status} without a code`,
      };
    }
    const version = await probe('/api/version');
    if (version.status === 200 && typeof version.json?.['version'] === 'string')
      return { ok: true, kind: 'ollama', because: `GET /api/version answered version ${version.json['version']}` };
    const props = await probe('/props');
    if (props.status === 200 && typeof props.json?.['role'] === 'string')
      return { ok: true, kind: 'llamacpp', because: `GET /props answered role ${props.json['role']}` };
    const models = await probe('/v1/models');
    if (models.status === 200) return { ok: true, kind: 'openai', because: 'only GET /v1/models answered' };
    const health = await probe('/health');
    if (health.status === 503) return { ok: true, kind: 'openai', because: 'GET /health answered 503 (starting)' };
    return {
      ok: false,
      failure: {
        kind: 'protocol',
        message: `${root} answered none of the probes (/load_model, /api/version, /props, /v1/models, /health); name its kind with --kind or "kind"`,
      },
    };
  } catch (error) {
    if (isAbort(error, options.signal)) return { ok: false, failure: { kind: 'aborted', message: 'closed' } };
    return { ok: false, failure: networkFailure(error, `cannot reach ${root}`) };
  }
}

/** One GET; the body is read as JSON when it says so, anything else is cancelled unread. */
async function probeOnce(url: string, options: DetectOptions): Promise<ProbeAnswer> {
  const response = await (options.fetch ?? fetch)(url, {
    headers: { accept: 'application/json', ...(options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {}) },
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const type = response.headers.get('content-type') ?? '';
  if (!type.includes('json')) {
    await response.body?.cancel().catch(() => {});
    return { status: response.status, type, json: null };
  }
  const text = await response.text().catch(() => '');
  let json: Record<string, unknown> | null = null;
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) json = value as Record<string, unknown>;
  } catch {
    json = null;
  }
  return { status: response.status, type, json };
}

/**
 * Why `model` cannot name a model on a server of `kind`, or undefined when it can. Servers that speak `/load_model`
 * (and a kind not yet known) take Hub ids (`org/name[@revision]`, {@link parseModelId}); the others name models their
 * own way (`qwen3:0.6b`, `hf.co/org/repo:Q4_K_M`), so only what no server takes is refused there: an empty or overlong
 * name, whitespace and control characters.
 */
export function modelProblem(model: string, kind: ServerKind | undefined): string | undefined {
  if (kind === undefined || kind === 'modeldeck' || kind === 'transformers-serve') {
    const parsed = parseModelId(model);
    return parsed.ok ? undefined : parsed.message;
  }
  if (model === '') return 'model name is empty';
  if (model.length > MAX_MODEL_ID_LENGTH) return `model name is longer than ${MAX_MODEL_ID_LENGTH} characters`;
  if (/[\s\p{Cc}\p{Cf}]/u.test(model))
    return `model name ${JSON.stringify(model)} contains whitespace or a control character`;
  return undefined;
}
