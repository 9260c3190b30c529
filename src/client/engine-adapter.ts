/**
 * The seam between a session and the kind of server it talks to: one {@link EngineAdapter} per {@link ServerKind},
 * each in its own module (the one place that knows that kind's routes), all reporting in the same terms: load events
 * of the `/load_model` vocabulary (`loading` with a stage and progress, `ready`, `error`) and chat deltas. A session
 * resolves its adapter once ({@link createKindResolver}): the kind it was given, or the one the probes detect.
 */

import type { ChatOutcome, StreamChatOptions } from './chat-stream.js';
import { streamChat } from './chat-stream.js';
import { llamacppAdapter } from './engines/llamacpp-adapter.js';
import { ollamaAdapter } from './engines/ollama-adapter.js';
import { openaiAdapter } from './engines/openai-adapter.js';
import type { Failure } from './failures.js';
import { networkFailure } from './http.js';
import { deleteCachedModel, unloadModel, type AdminOptions, type AdminOutcome } from './model-admin.js';
import { serviceRoot } from './server-url.js';
import type { RawFrame } from './frames.js';
import { subscribeLoad, type LoadOutcome, type SubscribeLoadOptions } from './load-subscription.js';
import { detectServerKind, type ServerKind } from './server-kind.js';

/** What one kind of server does for a session, in the session's terms. */
export interface EngineAdapter {
  readonly kind: ServerKind;
  /** Brings the model into memory, reporting each step as a load event; resolves how it ended. Never throws. */
  load(options: SubscribeLoadOptions): Promise<LoadOutcome>;
  /** Streams one reply. Never throws. */
  chat(options: StreamChatOptions): Promise<ChatOutcome>;
  /**
   * Takes the model out of memory (`unload`) or stops its load (`cancel`); absent where the kind has no such route,
   * and then the dashboard says "not supported by <kind>". Never throws.
   */
  readonly unload?: (options: UnloadOptions) => Promise<AdminOutcome<string>>;
  /**
   * Deletes the model's files from the server's disk (a later load downloads them again); absent where the kind has
   * no such route. Never throws.
   */
  readonly deleteModel?: (options: AdminOptions & { readonly model: string }) => Promise<AdminOutcome<string>>;
  /**
   * What the server's own status routes say of it, as lines for its server pane (Ollama's `/api/ps`, vLLM's
   * `/metrics`, the router's `/models`); absent where the feed or `/v1/models` says it all. Never throws.
   */
  readonly serverFacts?: (options: AdminOptions) => Promise<AdminOutcome<string[]>>;
}

/** What an adapter's unload is asked. */
export interface UnloadOptions extends AdminOptions {
  readonly model: string;
  readonly what: 'unload' | 'cancel';
}

/** The failure of an action a kind of server has no route for. */
export function notSupported(what: string, kind: ServerKind): Failure {
  return { kind: 'protocol', message: `${what} is not supported by ${kind}` };
}

/** modeldeck and `transformers serve`: `POST /load_model` and OpenAI chat, as the client always spoke them. */
const loadModelAdapter = (kind: 'modeldeck' | 'transformers-serve'): EngineAdapter => ({
  kind,
  load: subscribeLoad,
  chat: streamChat,
  // Upstream has no per-model unload (its `POST /reset` unloads every model, more than one session may ask for).
  ...(kind === 'modeldeck' ? { unload: unloadModel, deleteModel: deleteCachedModel } : { serverFacts: upstreamHealth }),
});

/**
 * Upstream's `GET /health`: `{"status": "ok"}`, or 503 `{"status": "unhealthy", "reason": "cb_worker_dead"}` when its
 * continuous-batching worker died (transformers PR #45691): said as one line, the reason as sent.
 */
async function upstreamHealth(options: AdminOptions): Promise<AdminOutcome<string[]>> {
  const root = serviceRoot(options.server);
  try {
    const response = await (options.fetch ?? fetch)(`${root}/health`, {
      headers: { accept: 'application/json' },
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const body = (await response.json().catch(() => ({}))) as Record<string, unknown>;
    const status = typeof body['status'] === 'string' ? body['status'] : `HTTP ${response.status}`;
    const reason = typeof body['reason'] === 'string' ? ` (${body['reason']})` : '';
    return { ok: true, value: [`health: ${status}${reason}`] };
  } catch (error) {
    return { ok: false, failure: networkFailure(error, `cannot reach ${root}`) };
  }
}

/** The adapter of `kind`. */
export function adapterFor(kind: ServerKind): EngineAdapter {
  switch (kind) {
    case 'modeldeck':
    case 'transformers-serve':
      return loadModelAdapter(kind);
    case 'ollama':
      return ollamaAdapter;
    case 'llamacpp':
      return llamacppAdapter;
    case 'openai':
      return openaiAdapter;
    default: {
      const never: never = kind;
      throw new TypeError(`unknown server kind ${String(never)}`);
    }
  }
}

/** Options of {@link createKindResolver}. */
export interface KindResolverOptions {
  readonly server: string;
  readonly apiKey?: string | undefined;
  readonly fetch?: typeof fetch;
  /** The kind the user named; absent, it is detected. */
  readonly kind?: ServerKind | undefined;
  /** Says which kind the session uses and why, once, for the event log. */
  readonly onFrame?: (frame: RawFrame) => void;
}

/** A session's adapter, detected once and kept (a failed detection is asked again next time). */
export interface KindResolver {
  /** The adapter, once the kind is known (named, detected or settled); undefined before. */
  known(): EngineAdapter | undefined;
  /**
   * The adapter, detecting the kind by the probes when it is not known yet. `loadModelAbsent`: `POST /load_model`
   * already answered 404 or 405, so its probe is skipped.
   */
  resolve(
    signal?: AbortSignal,
    loadModelAbsent?: boolean,
  ): Promise<{ ok: true; adapter: EngineAdapter } | { ok: false; failure: Failure }>;
  /** The kind is known from a load's own answer: keeps it (once). */
  settle(kind: ServerKind, because: string): void;
}

/** Creates a resolver; nothing is asked until the first {@link KindResolver.resolve}. */
export function createKindResolver(options: KindResolverOptions): KindResolver {
  let adapter: EngineAdapter | undefined;
  const keep = (kind: ServerKind, because: string): EngineAdapter => {
    adapter = adapterFor(kind);
    options.onFrame?.({ kind: 'other', raw: `server kind: ${kind} (${because})` });
    return adapter;
  };
  // A named kind is said on first use, not while the session's controller is still being made.
  const known = (): EngineAdapter | undefined =>
    adapter ?? (options.kind === undefined ? undefined : keep(options.kind, 'as configured'));
  return {
    known,
    settle(kind, because) {
      if (known() === undefined) keep(kind, because);
    },
    async resolve(signal, loadModelAbsent = false) {
      const already = known();
      if (already !== undefined) return { ok: true, adapter: already };
      const found = await detectServerKind({
        server: options.server,
        apiKey: options.apiKey,
        skipLoadModel: loadModelAbsent,
        ...(options.fetch ? { fetch: options.fetch } : {}),
        ...(signal ? { signal } : {}),
      });
      if (!found.ok) return found;
      return { ok: true, adapter: adapter ?? keep(found.kind, `detected: ${found.because}`) };
    },
  };
}

/** True for the kinds that speak `POST /load_model`. */
export function speaksLoadModel(kind: ServerKind): boolean {
  return kind === 'modeldeck' || kind === 'transformers-serve';
}

/**
 * A load on a session whose kind may not be known yet. Known: its adapter's load. Unknown: the load itself is the
 * first probe, so a server that speaks `/load_model` is asked nothing more than before: `POST /load_model`
 * answered with an event stream settles the kind once a terminal event came (`modeldeck` when it carried one of
 * modeldeck's additions, `size_bytes` on `ready` or `code` on `error`, else `transformers-serve`); answered 404 or
 * 405, the other probes decide and that kind's adapter loads.
 */
export async function loadWithKind(resolver: KindResolver, request: SubscribeLoadOptions): Promise<LoadOutcome> {
  const known = resolver.known();
  if (known !== undefined) return known.load(request);
  let modeldeckFields = false;
  const outcome = await subscribeLoad({
    ...request,
    onEvent: (event, raw, extras) => {
      if (
        (event.status === 'ready' && event.size_bytes !== undefined) ||
        (event.status === 'error' && event.code !== undefined)
      )
        modeldeckFields = true;
      request.onEvent?.(event, raw, extras);
    },
  });
  const terminal = outcome.ok || outcome.failure.kind === 'server';
  if (terminal) {
    resolver.settle(
      modeldeckFields ? 'modeldeck' : 'transformers-serve',
      modeldeckFields ? "its load events carry modeldeck's fields" : "its load events carry none of modeldeck's fields",
    );
    return outcome;
  }
  const status = outcome.failure.status;
  if (outcome.failure.kind !== 'http' || (status !== 404 && status !== 405)) return outcome;
  const resolved = await resolver.resolve(request.signal, true);
  if (resolved.ok) return resolved.adapter.load(request);
  if (resolved.failure.kind !== 'protocol') return resolved;
  // No kind answered: the load's own answer says most, with what else was asked.
  const others = 'nor did it answer as Ollama, llama.cpp or an OpenAI-compatible server';
  return { ok: false, failure: { ...outcome.failure, message: `${outcome.failure.message} (${others})` } };
}
