/**
 * The contract between the load manager (one load per model, subscribers, SSE) and whatever actually loads a
 * model. The manager never imports transformers.js; the loader never knows about HTTP subscribers.
 */

import type { LoadErrorCode } from '../protocol/errors.js';
import type { KnownStage } from '../protocol/events.js';
import type { ModelRef } from '../protocol/model-id.js';

export type { ModelRef };

/** The stages of a load, in the order a fresh load passes them (the protocol's {@link KnownStage}s). */
export type LoadStage = KnownStage;

/**
 * What a loader reports while it works.
 *
 * - `stage`: a stage begins. Stages arrive in order; `download` is skipped when every file is cached.
 * - `progress`: the current stage advanced. For `download`, `current`/`total` are bytes fetched over the network in
 *   this stage, summed over its files, and `total` is known before the first `download` progress and never changes.
 *   For `weights`, they are items (see the README for the unit). `current` never decreases and never exceeds `total`.
 *   Loaders may report as often as they like; the manager coalesces.
 */
export type LoaderEvent =
  | { readonly type: 'stage'; readonly stage: LoadStage }
  | {
      readonly type: 'progress';
      readonly stage: 'download' | 'weights';
      readonly current: number;
      readonly total: number;
    };

/** Machine-readable reasons a load fails (the protocol's catalogue); each comes with a message that says what to do. */
export type { LoadErrorCode };

/** A load that failed for a reason a user can act on. `message` is shown to users as is. */
export class LoadError extends Error {
  override readonly name = 'LoadError';
  constructor(
    readonly code: LoadErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** One chat message, OpenAI style. */
export interface ChatMessage {
  readonly role: 'system' | 'user' | 'assistant';
  readonly content: string;
}

/** What a generation starts from: chat messages (formatted with the model's chat template), or plain text. */
export type Prompt = readonly ChatMessage[] | string;

/** The `code` of the error a chat prompt gets from a model without a chat template (a base model). */
export const NO_CHAT_TEMPLATE = 'CHAT_TEMPLATE_MISSING';

/**
 * The `code` of the error a chat prompt gets when the model's chat template refuses the messages (its
 * `raise_exception`, say, on a system message or on roles that do not alternate): the request's problem, a 400.
 */
export const TEMPLATE_REFUSED = 'TEMPLATE_REFUSED';

/**
 * The `code` of the error a generation or a prompt measure gets when its model was unloaded under it (a forced
 * `/unload_model` or `/reset`, or a shutdown past its grace): the reply is cut, the server is fine.
 */
export const MODEL_UNLOADED = 'MODEL_UNLOADED';

/** Options of one generation. */
export interface GenerateOptions {
  /** Upper bound of new tokens. */
  readonly maxTokens: number;
  readonly temperature?: number;
  readonly topP?: number;
  readonly seed?: number;
  /** Strings that end the generation when produced (not included in the output). */
  readonly stop?: readonly string[];
}

/** What a finished generation reports. */
export interface GenerateResult {
  readonly finishReason: 'stop' | 'length';
  readonly promptTokens: number;
  readonly completionTokens: number;
}

/** How long a prompt is, next to how much the model can take. */
export interface PromptSize {
  /** Tokens of the messages with the chat template applied (what generation starts from). */
  readonly promptTokens: number;
  /** The model's context (`max_position_embeddings` or its equivalents), tokens; undefined when its config has none. */
  readonly contextLength: number | undefined;
}

/** A model resident in memory (in a worker thread), ready to generate. */
export interface LoadedModel {
  readonly ref: ModelRef;
  /** Bytes of the weight files it was loaded from, when known (shown by `GET /v1/models` and the feed). */
  readonly weightBytes?: number;
  /** The ONNX dtype its weights were loaded in (`q8`, `q4f16`, …), when the loader knows it. */
  readonly dtype?: string;
  /** Whether it has a chat template (false: a base model, for `/v1/completions` only), when the loader knows it. */
  readonly hasChatTemplate?: boolean;
  /**
   * Generates from `prompt` (messages, formatted with the model's chat template; or text, as it is), calling `onText`
   * with each new piece of text as it is produced. Aborting `signal` stops generation at the next token and resolves
   * normally. Messages to a model without a chat template reject with an error whose `code` is
   * {@link NO_CHAT_TEMPLATE}; a generation whose model is unloaded before or while it runs, with {@link MODEL_UNLOADED}.
   */
  generate(
    prompt: Prompt,
    options: GenerateOptions,
    onText: (text: string) => void,
    signal?: AbortSignal,
  ): Promise<GenerateResult>;
  /** Measures `prompt` as {@link LoadedModel.generate} would see it; models that cannot tell have no method. */
  measure?(prompt: Prompt): Promise<PromptSize>;
  /** Frees the model (terminates its worker). Idempotent. */
  dispose(): Promise<void>;
}

/** What one load asks for beyond the model itself. */
export interface LoadOptions {
  /** The request's dtype preference (`["q4", "q8"]`, `auto` for the default choice); replaces the server's. */
  readonly dtype?: readonly string[];
  /** The request's `"force": true`: load even past `--max-memory`. */
  readonly force?: boolean;
  /**
   * Called with the bytes of the weight files chosen, from the listing, before any of them is fetched; rejects (with a
   * {@link LoadError}) when the model may not load (`--max-memory`). The manager sets it.
   */
  readonly admit?: (weightBytes: number) => Promise<void>;
}

/** Loads models. One call is one load; de-duplication of concurrent requests is the manager's job. */
export interface ModelLoader {
  /**
   * Loads `ref`, calling `onEvent` as it goes, and resolves with the resident model. Rejects with a {@link LoadError}
   * for every failure a user can act on. `signal` aborts the load (used on server shutdown only: a client disconnect
   * never cancels a load).
   */
  load(
    ref: ModelRef,
    onEvent: (event: LoaderEvent) => void,
    signal?: AbortSignal,
    options?: LoadOptions,
  ): Promise<LoadedModel>;
  /** Models present in the local cache (complete snapshots), for `GET /v1/models`. */
  listCached(): Promise<ModelRef[]>;
  /**
   * Brings `ref`'s files into the disk cache as a load would (stages `processor`, `config`, `download`), without
   * loading it into memory (`POST /pull_model`); resolves with what a `ready` says of it. Loaders without a cache
   * have no method.
   */
  pull?(
    ref: ModelRef,
    onEvent: (event: LoaderEvent) => void,
    signal?: AbortSignal,
    options?: LoadOptions,
  ): Promise<PulledModel>;
  /** The directory of the Hugging Face cache it fills, when it has one (`GET /cache`, `POST /delete_model`). */
  readonly cacheDir?: string;
}

/** What a pull brought onto the disk. */
export interface PulledModel {
  /** Bytes of the weight files of the dtype chosen. */
  readonly weightBytes: number;
  readonly dtype: string;
}
