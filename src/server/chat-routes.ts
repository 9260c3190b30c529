import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  validateChatCompletionRequest,
  validateCompletionRequest,
  type ChatCompletion,
  type ChatCompletionChunk,
  type ChatCompletionUsage,
  type NormalisedChatRequest,
  type TextCompletion,
} from '../protocol/chat.js';
import { wireError } from '../protocol/errors.js';
import { parseKeepAlive } from '../protocol/keep-alive.js';
import type { ChatEndPayload, ChatStartPayload } from '../protocol/feed.js';
import { sendError } from './error-reply.js';
import {
  LoadError,
  MODEL_UNLOADED,
  NO_CHAT_TEMPLATE,
  TEMPLATE_REFUSED,
  type GenerateResult,
  type LoadedModel,
  type ModelRef,
  type Prompt,
  type PromptSize,
} from './loader-types.js';
import type { LoadManager } from './load-manager.js';
import type { ServerMetrics } from './metrics.js';
import { openSseStream } from './sse-stream.js';

/** Options of {@link registerChatRoutes}. */
export interface ChatRoutesOptions {
  readonly manager: LoadManager;
  /** Told when a request starts generating and when it ends (for the feed); never given message content. */
  readonly onChat?: ChatObserver;
  /**
   * A reply still running after this many milliseconds (waiting for the model included) is ended with
   * `GENERATION_TIMEOUT`; 0 never. Default {@link DEFAULT_GENERATION_TIMEOUT_MS}.
   */
  readonly generationTimeoutMs?: number;
  /**
   * Chat requests of one model generating or waiting for it at once; one more is refused with 429 `QUEUE_FULL`.
   * 0 never refuses. Default {@link DEFAULT_MAX_QUEUE}.
   */
  readonly maxQueue?: number;
  /** Told of each reply's timing and outcome, and of each 429 (`GET /metrics`). */
  readonly metrics?: Pick<ServerMetrics, 'chatEnded' | 'chatRejected'>;
}

/** 16: the default of `serve --max-queue`. */
export const DEFAULT_MAX_QUEUE = 16;

/** 120 s: the default of `serve --generation-timeout`. */
export const DEFAULT_GENERATION_TIMEOUT_MS = 120_000;

/** Receives `chat_start` and `chat_end` payloads. */
export type ChatObserver = {
  (event: 'chat_start', payload: ChatStartPayload): void;
  (event: 'chat_end', payload: ChatEndPayload): void;
};

function usageOf(result: GenerateResult): ChatCompletionUsage {
  return {
    prompt_tokens: result.promptTokens,
    completion_tokens: result.completionTokens,
    total_tokens: result.promptTokens + result.completionTokens,
  };
}

/** Aborted when the client goes away before its response has been written in full. */
function disconnectSignal(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.on('close', () => {
    if (!reply.raw.writableFinished) controller.abort();
  });
  return controller.signal;
}

/**
 * `POST /v1/chat/completions` (OpenAI's chat completions) and `POST /v1/completions` (its legacy text completions,
 * for base models without a chat template) over the models the manager holds, loading a model first when it is not
 * resident (the request waits; the server does not). Both share everything but the prompt and the bodies' shapes.
 */
export function registerChatRoutes(app: FastifyInstance, options: ChatRoutesOptions): void {
  const serve = createGenerationHandler(options);
  app.post('/v1/chat/completions', async (request, reply) => {
    const checked = validateChatCompletionRequest(request.body);
    if (!checked.ok) return reply.code(checked.status).send(checked.error);
    return serve(request, reply, checked.request, chatShape(checked.request.messages));
  });
  app.post('/v1/completions', async (request, reply) => {
    const checked = validateCompletionRequest(request.body);
    if (!checked.ok) return reply.code(checked.status).send(checked.error);
    return serve(request, reply, checked.request, textShape(checked.request.prompt));
  });
}

/** The settings both routes read. */
type GenerationRequest = Omit<NormalisedChatRequest, 'messages'>;

/** The first fields of every body of one response. */
interface ReplyMeta {
  readonly id: string;
  readonly created: number;
  readonly model: string;
}

/** What tells the two routes apart: the prompt, the id's prefix, and the bodies and chunks they answer with. */
interface ReplyShape {
  readonly prompt: Prompt;
  readonly idPrefix: string;
  whole(meta: ReplyMeta, text: string, result: GenerateResult): ChatCompletion | TextCompletion;
  /** The chunk sent before any text, if the shape has one (chat's `role`). */
  opening(meta: ReplyMeta): string | undefined;
  piece(meta: ReplyMeta, text: string): string;
  last(meta: ReplyMeta, result: GenerateResult): string;
}

function chatShape(messages: Prompt): ReplyShape {
  const chunk = (
    meta: ReplyMeta,
    delta: ChatCompletionChunk['choices'][number]['delta'],
    finishReason: ChatCompletionChunk['choices'][number]['finish_reason'] = null,
    usage?: ChatCompletionUsage,
  ): string => {
    const body: ChatCompletionChunk = {
      ...meta,
      object: 'chat.completion.chunk',
      system_fingerprint: null,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
      ...(usage ? { usage } : {}),
    };
    return JSON.stringify(body);
  };
  return {
    prompt: messages,
    idPrefix: 'chatcmpl',
    whole: (meta, text, result) => ({
      ...meta,
      object: 'chat.completion',
      system_fingerprint: null,
      choices: [
        { index: 0, message: { role: 'assistant', content: text }, logprobs: null, finish_reason: result.finishReason },
      ],
      usage: usageOf(result),
    }),
    opening: (meta) => chunk(meta, { role: 'assistant', content: '' }),
    piece: (meta, text) => chunk(meta, { content: text }),
    last: (meta, result) => chunk(meta, {}, result.finishReason, usageOf(result)),
  };
}

function textShape(prompt: string): ReplyShape {
  const body = (
    meta: ReplyMeta,
    text: string,
    finishReason: TextCompletion['choices'][number]['finish_reason'],
    usage?: ChatCompletionUsage,
  ): TextCompletion => ({
    ...meta,
    object: 'text_completion',
    system_fingerprint: null,
    choices: [{ index: 0, text, logprobs: null, finish_reason: finishReason }],
    ...(usage ? { usage } : {}),
  });
  return {
    prompt,
    idPrefix: 'cmpl',
    whole: (meta, text, result) => body(meta, text, result.finishReason, usageOf(result)),
    opening: () => undefined,
    piece: (meta, text) => JSON.stringify(body(meta, text, null)),
    last: (meta, result) => JSON.stringify(body(meta, '', result.finishReason, usageOf(result))),
  };
}

/**
 * The work both routes share, in order: the model (loaded first if it is not resident), a check of the prompt, the
 * time limit, a place in the model's line of chat requests, and the completion, whole or streamed.
 */
function createGenerationHandler(options: ChatRoutesOptions) {
  const { manager } = options;
  const line = createRequestLine(options.maxQueue ?? DEFAULT_MAX_QUEUE);
  const limitMs = options.generationTimeoutMs ?? DEFAULT_GENERATION_TIMEOUT_MS;

  return async function serve(
    request: FastifyRequest,
    reply: FastifyReply,
    chat: GenerationRequest,
    shape: ReplyShape,
  ): Promise<FastifyReply> {
    const keep = parseKeepAlive((request.body as { keep_alive?: unknown }).keep_alive);
    if (!keep.ok) return sendError(reply, 'INVALID_REQUEST', keep.problem, 'keep_alive');
    const gone = disconnectSignal(reply);
    let held: HeldModel | undefined;
    try {
      held = await holdModel(manager, chat.model, keep.ms);
    } catch (error) {
      return loadRefused(request, reply, error);
    }
    if (held === undefined) return takenAway(reply, chat.model.key);
    const { model, release } = held;
    try {
      if (gone.aborted) return reply;
      const refused = await promptRefused(reply, model, chat, shape);
      if (refused !== undefined) return refused;
      const { stop, timedOut } = timeLimit(gone, limitMs);
      const key = chat.model.key;
      const place = line.enter(key);
      if (!place.ok) {
        options.metrics?.chatRejected(key);
        return queueFull(reply, key, place.ahead);
      }
      const id = `${shape.idPrefix}-${randomBytes(12).toString('hex')}`;
      const meta: ReplyMeta = { id, created: Math.floor(Date.now() / 1000), model: chat.model.key };
      const observed = observe(model, { request: id, request_id: request.id }, options);
      try {
        const context: CompletionContext = { meta, shape, gone: stop, timedOut };
        return chat.stream
          ? await streamCompletion(reply, observed, chat, context)
          : await wholeCompletion(reply, observed, chat, context);
      } finally {
        place.leave();
      }
    } finally {
      release();
    }
  };
}

/** A resident model a request holds until it calls `release` (see {@link holdModel}). */
interface HeldModel {
  readonly model: LoadedModel;
  release(): void;
}

/** How often {@link holdModel} asks for a model that is taken away each time before it gives up. */
const HOLD_TRIES = 3;

/**
 * `ref`'s model (loaded first if it is not resident), held from the moment the request has it, before anything else
 * awaits: a held model is not unloaded for idleness, not evicted under `--max-models`, and `/unload_model` and
 * `/reset` wait for it (or, forced, cut it with MODEL_UNLOADED). `acquire` resolves a turn of the event loop after
 * the model became resident, so another request may have taken it away in between: then the hold is let go and the
 * model asked for again, which loads it anew or is refused (MODELS_BUSY). Undefined when it was taken away every time.
 */
async function holdModel(
  manager: LoadManager,
  ref: ModelRef,
  keepMs: number | undefined,
): Promise<HeldModel | undefined> {
  for (let tries = 0; tries < HOLD_TRIES; tries++) {
    const model = await manager.acquire(ref);
    const release = manager.hold(ref.key, keepMs);
    if (manager.resident(ref.key) === model) return { model, release };
    release();
  }
  return undefined;
}

function takenAway(reply: FastifyReply, key: string): FastifyReply {
  return sendError(
    reply,
    'MODEL_UNLOADED',
    `${key} was unloaded each time this request had it (${HOLD_TRIES} times: other clients are loading and ` +
      'unloading models): retry in a moment',
  );
}

/** The answer to a request whose model could not be loaded. */
function loadRefused(request: FastifyRequest, reply: FastifyReply, error: unknown): FastifyReply {
  // A load failure a user can act on keeps its load code (the one `/load_model` sends) and its message.
  if (error instanceof LoadError) return sendError(reply, error.code, error.message);
  request.log.error(error);
  return sendError(reply, 'INTERNAL_ERROR', 'the model could not be loaded (see the server log)');
}

/**
 * A prompt the model cannot take is refused before anything is generated (OpenAI's context_length_exceeded), and so
 * are chat messages to a model with no chat template, or that its template refuses: the answer sent, or undefined
 * when the prompt may go on.
 */
async function promptRefused(
  reply: FastifyReply,
  model: LoadedModel,
  chat: GenerationRequest,
  shape: ReplyShape,
): Promise<FastifyReply | undefined> {
  let size: PromptSize | undefined;
  try {
    size = await model.measure?.(shape.prompt);
  } catch (error) {
    if (noTemplate(error)) return sendError(reply, 'CHAT_TEMPLATE_MISSING', noTemplateMessage(model), 'messages');
    if (templateRefused(error)) return sendError(reply, 'INVALID_REQUEST', refusedMessage(model, error), 'messages');
    if (unloaded(error)) return sendError(reply, 'MODEL_UNLOADED', unloadedMessage(model));
    throw error;
  }
  if (size?.contextLength !== undefined && size.promptTokens + chat.maxTokens > size.contextLength) {
    return sendError(
      reply,
      'CONTEXT_LENGTH_EXCEEDED',
      `This model's maximum context length is ${size.contextLength} tokens. However, you requested ` +
        `${size.promptTokens + chat.maxTokens} tokens (${size.promptTokens} in the ${promptName(shape)}, ` +
        `${chat.maxTokens} in the completion). Please reduce the length of the ${promptName(shape)} or of ` +
        'max_tokens.',
      promptName(shape),
    );
  }
  return undefined;
}

/**
 * `--generation-timeout` from now: the signal that stops a generation (the client left, or the limit passed; none
 * when `limitMs` is 0), and the message for a reply the limit ended.
 */
function timeLimit(gone: AbortSignal, limitMs: number): { stop: AbortSignal; timedOut: () => string | undefined } {
  const limit = limitMs > 0 ? AbortSignal.timeout(limitMs) : undefined;
  return {
    stop: limit === undefined ? gone : AbortSignal.any([gone, limit]),
    timedOut: () =>
      limit?.aborted === true && !gone.aborted
        ? `the reply ran past the server's limit of ${limitMs / 1000} s (waiting for the model included) and was ` +
          'ended: ask for fewer max_tokens, or retry when the server is less busy (serve --generation-timeout)'
        : undefined,
  };
}

/** A place in a model's line of chat requests: one to leave once the request ends, or the number already in it. */
type Place = { readonly ok: true; leave(): void } | { readonly ok: false; readonly ahead: number };

/**
 * The chat requests of each model from the moment they hold it until they end: the one generating and those waiting.
 * One model generates one reply at a time, first come first served; the line is bounded (`max`; 0 never), so a burst
 * is told to come back (429) instead of waiting minutes, and --generation-timeout bounds how long any one reply holds
 * it.
 */
function createRequestLine(max: number): { enter(key: string): Place } {
  const queued = new Map<string, number>();
  return {
    enter(key) {
      const ahead = queued.get(key) ?? 0;
      if (max > 0 && ahead >= max) return { ok: false, ahead };
      queued.set(key, ahead + 1);
      return {
        ok: true,
        leave() {
          const left = (queued.get(key) ?? 1) - 1;
          if (left > 0) queued.set(key, left);
          else queued.delete(key);
        },
      };
    },
  };
}

function queueFull(reply: FastifyReply, key: string, ahead: number): FastifyReply {
  reply.header('retry-after', '1');
  return sendError(
    reply,
    'QUEUE_FULL',
    `${key} already has ${ahead} chat request${ahead === 1 ? '' : 's'} generating or waiting, the most it takes ` +
      '(serve --max-queue): retry in a moment',
  );
}

/** The request field the prompt came in. */
function promptName(shape: ReplyShape): 'prompt' | 'messages' {
  return typeof shape.prompt === 'string' ? 'prompt' : 'messages';
}

function noTemplate(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === NO_CHAT_TEMPLATE;
}

function unloaded(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === MODEL_UNLOADED;
}

function unloadedMessage(model: LoadedModel): string {
  return (
    `${model.ref.key} was unloaded while this request had it (a forced /unload_model or /reset, or the server ` +
    'stopping): retry, which loads it again'
  );
}

/** What a generation that failed answers: its code and message, the field at fault, and whether it is logged. */
interface Failure {
  readonly code: 'CHAT_TEMPLATE_MISSING' | 'MODEL_UNLOADED' | 'GENERATION_FAILED';
  readonly message: string;
  readonly param: string | null;
  /** Only a failure nobody asked for goes to the log (with its stack). */
  readonly log: boolean;
}

function failureOf(model: LoadedModel, error: unknown): Failure {
  if (noTemplate(error)) {
    return { code: 'CHAT_TEMPLATE_MISSING', message: noTemplateMessage(model), param: 'messages', log: false };
  }
  if (unloaded(error)) return { code: 'MODEL_UNLOADED', message: unloadedMessage(model), param: null, log: false };
  const reason = error instanceof Error ? error.message : String(error);
  return { code: 'GENERATION_FAILED', message: `generation failed: ${reason}`, param: null, log: true };
}

function templateRefused(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === TEMPLATE_REFUSED;
}

function refusedMessage(model: LoadedModel, error: unknown): string {
  const reason = error instanceof Error ? error.message : String(error);
  return `${model.ref.key}'s chat template could not format the messages: ${reason}`;
}

function noTemplateMessage(model: LoadedModel): string {
  return (
    `${model.ref.key} has no chat template (neither chat_template.jinja nor one in tokenizer_config.json): it is a ` +
    'base model; send it plain text on POST /v1/completions instead'
  );
}

/**
 * `model`, with each generation reported to `onChat` (its start, and its end with token counts and rate) and to the
 * metrics (time to first text, time per token after it, outcome).
 */
function observe(
  model: LoadedModel,
  ids: Pick<ChatStartPayload, 'request' | 'request_id'>,
  options: ChatRoutesOptions,
): LoadedModel {
  const { onChat, metrics } = options;
  if (onChat === undefined && metrics === undefined) return model;
  return {
    ref: model.ref,
    dispose: () => model.dispose(),
    async generate(messages, generateOptions, onText, signal) {
      const key = model.ref.key;
      onChat?.('chat_start', { model: key, ...ids });
      const started = performance.now();
      let firstAt: number | undefined;
      const end = (outcome: ChatEndPayload['outcome'], promptTokens: number, completionTokens: number): void => {
        const seconds = (performance.now() - started) / 1000;
        const rate = completionTokens > 0 && seconds > 0 ? completionTokens / seconds : 0;
        onChat?.('chat_end', {
          model: key,
          ...ids,
          outcome,
          prompt_tokens: promptTokens,
          completion_tokens: completionTokens,
          tokens_per_second: Math.round(rate * 10) / 10,
        });
        const firstTokenSeconds = firstAt === undefined ? undefined : (firstAt - started) / 1000;
        metrics?.chatEnded({ model: key, outcome, firstTokenSeconds, seconds, completionTokens });
      };
      const onPiece = (piece: string): void => {
        firstAt ??= performance.now();
        onText(piece);
      };
      try {
        const result = await model.generate(messages, generateOptions, onPiece, signal);
        end(result.finishReason, result.promptTokens, result.completionTokens);
        return result;
      } catch (error) {
        end('error', 0, 0);
        throw error;
      }
    },
  };
}

interface CompletionContext {
  readonly meta: ReplyMeta;
  readonly shape: ReplyShape;
  /** Aborted when the client left or the time limit passed: the generation stops at its next token. */
  readonly gone: AbortSignal;
  /** The message for a reply ended by the time limit, if it was. */
  readonly timedOut: () => string | undefined;
}

async function wholeCompletion(
  reply: FastifyReply,
  model: LoadedModel,
  chat: GenerationRequest,
  { meta, shape, gone, timedOut }: CompletionContext,
): Promise<FastifyReply> {
  let text = '';
  let result: GenerateResult;
  try {
    result = await model.generate(shape.prompt, generateOptions(chat), (piece) => (text += piece), gone);
  } catch (error) {
    const failure = failureOf(model, error);
    if (failure.log) reply.log.error(error);
    return sendError(reply, failure.code, failure.message, failure.param);
  }
  const late = timedOut();
  if (late !== undefined) return sendError(reply, 'GENERATION_TIMEOUT', late);
  return reply.send(shape.whole(meta, text, result));
}

async function streamCompletion(
  reply: FastifyReply,
  model: LoadedModel,
  chat: GenerationRequest,
  { meta, shape, gone, timedOut }: CompletionContext,
): Promise<FastifyReply> {
  // No heartbeats: tokens keep the stream busy, and some OpenAI clients choke on comment lines.
  const stream = openSseStream(reply, { heartbeatMs: 0 });
  // A client dropped for not reading (sse-stream.ts) is gone as surely as one that disconnected.
  const dropped = new AbortController();
  stream.onDisconnect(() => dropped.abort());
  const stop = AbortSignal.any([gone, dropped.signal]);
  try {
    const opening = shape.opening(meta);
    if (opening !== undefined) stream.send(opening);
    const result = await model.generate(
      shape.prompt,
      generateOptions(chat),
      // Text arrives already coalesced by the worker (at most 1 ms behind its token): one chunk per piece.
      (piece) => stream.send(shape.piece(meta, piece)),
      stop,
    );
    const late = timedOut();
    if (late !== undefined) {
      stream.send(JSON.stringify(wireError('GENERATION_TIMEOUT', late).body));
      return reply;
    }
    stream.send(shape.last(meta, result));
    stream.send('[DONE]');
  } catch (error) {
    const failure = failureOf(model, error);
    if (failure.log) reply.log.error(error);
    stream.send(JSON.stringify(wireError(failure.code, failure.message, failure.param).body));
  } finally {
    stream.end();
  }
  return reply;
}

function generateOptions(chat: GenerationRequest) {
  return {
    maxTokens: chat.maxTokens,
    stop: chat.stop,
    ...(chat.temperature !== undefined ? { temperature: chat.temperature } : {}),
    ...(chat.topP !== undefined ? { topP: chat.topP } : {}),
    ...(chat.seed !== undefined ? { seed: chat.seed } : {}),
  };
}
