import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply } from 'fastify';
import {
  validateChatCompletionRequest,
  type ChatCompletion,
  type ChatCompletionChunk,
  type ChatCompletionUsage,
  type NormalisedChatRequest,
} from '../protocol/chat.js';
import { wireError } from '../protocol/errors.js';
import type { ChatEndPayload, ChatStartPayload } from '../protocol/feed.js';
import { sendError } from './error-reply.js';
import { LoadError, type GenerateResult, type LoadedModel } from './loader-types.js';
import type { LoadManager } from './load-manager.js';
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
 * `POST /v1/chat/completions`: OpenAI's chat completions over the models the manager holds, loading a model first
 * when it is not resident (the request waits; the server does not).
 */
export function registerChatRoutes(app: FastifyInstance, options: ChatRoutesOptions): void {
  const { manager } = options;
  const maxQueue = options.maxQueue ?? DEFAULT_MAX_QUEUE;
  // Requests of each model from the moment they hold it until they end: the one generating and those waiting.
  const queued = new Map<string, number>();

  app.post('/v1/chat/completions', async (request, reply) => {
    const checked = validateChatCompletionRequest(request.body);
    if (!checked.ok) return reply.code(checked.status).send(checked.error);
    const chat = checked.request;
    const gone = disconnectSignal(reply);

    let model: LoadedModel;
    try {
      model = await manager.acquire(chat.model);
    } catch (error) {
      // A load failure a user can act on keeps its load code (the one `/load_model` sends) and its message.
      if (error instanceof LoadError) return sendError(reply, error.code, error.message);
      request.log.error(error);
      return sendError(reply, 'INTERNAL_ERROR', 'the model could not be loaded (see the server log)');
    }
    if (gone.aborted) return reply;

    // A prompt the model cannot take is refused before anything is generated (OpenAI's context_length_exceeded).
    const size = await model.measure?.(chat.messages);
    if (size?.contextLength !== undefined && size.promptTokens + chat.maxTokens > size.contextLength) {
      return sendError(
        reply,
        'CONTEXT_LENGTH_EXCEEDED',
        `This model's maximum context length is ${size.contextLength} tokens. However, you requested ` +
          `${size.promptTokens + chat.maxTokens} tokens (${size.promptTokens} in the messages, ${chat.maxTokens} in ` +
          'the completion). Please reduce the length of the messages or of max_tokens.',
        'messages',
      );
    }
    const limitMs = options.generationTimeoutMs ?? DEFAULT_GENERATION_TIMEOUT_MS;
    const limit = limitMs > 0 ? AbortSignal.timeout(limitMs) : undefined;
    const stop = limit === undefined ? gone : AbortSignal.any([gone, limit]);
    const timedOut = (): string | undefined =>
      limit?.aborted === true && !gone.aborted
        ? `the reply ran past the server's limit of ${limitMs / 1000} s (waiting for the model included) and was ` +
          'ended: ask for fewer max_tokens, or retry when the server is less busy (serve --generation-timeout)'
        : undefined;

    // One model generates one reply at a time, first come first served; the line is bounded, so a burst is told to
    // come back (429) instead of waiting minutes, and --generation-timeout bounds how long any one reply holds it.
    const key = chat.model.key;
    const ahead = queued.get(key) ?? 0;
    if (maxQueue > 0 && ahead >= maxQueue) {
      reply.header('retry-after', '1');
      return sendError(
        reply,
        'QUEUE_FULL',
        `${key} already has ${ahead} chat request${ahead === 1 ? '' : 's'} generating or waiting, the most it takes ` +
          '(serve --max-queue): retry in a moment',
      );
    }
    queued.set(key, ahead + 1);
    const id = `chatcmpl-${randomBytes(12).toString('hex')}`;
    const created = Math.floor(Date.now() / 1000);
    // Held, the model cannot be unloaded for idleness mid-generation; releasing it restarts its idle timer.
    const hold = manager.hold(key);
    const release = (): void => {
      hold();
      const left = (queued.get(key) ?? 1) - 1;
      if (left > 0) queued.set(key, left);
      else queued.delete(key);
    };
    const observed = options.onChat ? observe(model, id, options.onChat) : model;
    try {
      return chat.stream
        ? await streamCompletion(reply, observed, chat, { id, created, gone: stop, timedOut })
        : await wholeCompletion(reply, observed, chat, { id, created, gone: stop, timedOut });
    } finally {
      release();
    }
  });
}

/** `model`, with each generation reported to `onChat`: its start, and its end with token counts and rate. */
function observe(model: LoadedModel, request: string, onChat: ChatObserver): LoadedModel {
  return {
    ref: model.ref,
    dispose: () => model.dispose(),
    async generate(messages, generateOptions, onText, signal) {
      const key = model.ref.key;
      onChat('chat_start', { model: key, request });
      const started = performance.now();
      const end = (outcome: ChatEndPayload['outcome'], promptTokens: number, completionTokens: number): void => {
        const seconds = (performance.now() - started) / 1000;
        const rate = completionTokens > 0 && seconds > 0 ? completionTokens / seconds : 0;
        onChat('chat_end', {
          model: key,
          request,
          outcome,
          prompt_tokens: promptTokens,
          completion_tokens: completionTokens,
          tokens_per_second: Math.round(rate * 10) / 10,
        });
      };
      try {
        const result = await model.generate(messages, generateOptions, onText, signal);
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
  readonly id: string;
  readonly created: number;
  /** Aborted when the client left or the time limit passed: the generation stops at its next token. */
  readonly gone: AbortSignal;
  /** The message for a reply ended by the time limit, if it was. */
  readonly timedOut: () => string | undefined;
}

async function wholeCompletion(
  reply: FastifyReply,
  model: LoadedModel,
  chat: NormalisedChatRequest,
  { id, created, gone, timedOut }: CompletionContext,
): Promise<FastifyReply> {
  let text = '';
  const result = await model.generate(chat.messages, generateOptions(chat), (piece) => (text += piece), gone);
  const late = timedOut();
  if (late !== undefined) return sendError(reply, 'GENERATION_TIMEOUT', late);
  const body: ChatCompletion = {
    id,
    object: 'chat.completion',
    created,
    model: chat.model.key,
    system_fingerprint: null,
    choices: [
      { index: 0, message: { role: 'assistant', content: text }, logprobs: null, finish_reason: result.finishReason },
    ],
    usage: usageOf(result),
  };
  return reply.send(body);
}

async function streamCompletion(
  reply: FastifyReply,
  model: LoadedModel,
  chat: NormalisedChatRequest,
  { id, created, gone, timedOut }: CompletionContext,
): Promise<FastifyReply> {
  // No heartbeats: tokens keep the stream busy, and some OpenAI clients choke on comment lines.
  const stream = openSseStream(reply, { heartbeatMs: 0 });
  const chunk = (
    delta: ChatCompletionChunk['choices'][number]['delta'],
    finishReason: ChatCompletionChunk['choices'][number]['finish_reason'] = null,
    usage?: ChatCompletionUsage,
  ): string => {
    const body: ChatCompletionChunk = {
      id,
      object: 'chat.completion.chunk',
      created,
      model: chat.model.key,
      system_fingerprint: null,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
      ...(usage ? { usage } : {}),
    };
    return JSON.stringify(body);
  };
  try {
    stream.send(chunk({ role: 'assistant', content: '' }));
    const result = await model.generate(
      chat.messages,
      generateOptions(chat),
      // Text arrives already coalesced by the worker (at most 1 ms behind its token): one chunk per piece.
      (piece) => stream.send(chunk({ content: piece })),
      gone,
    );
    const late = timedOut();
    if (late !== undefined) {
      stream.send(JSON.stringify(wireError('GENERATION_TIMEOUT', late).body));
      return reply;
    }
    stream.send(chunk({}, result.finishReason, usageOf(result)));
    stream.send('[DONE]');
  } catch (error) {
    reply.log.error(error);
    const message = error instanceof Error ? error.message : String(error);
    stream.send(JSON.stringify(wireError('GENERATION_FAILED', `generation failed: ${message}`).body));
  } finally {
    stream.end();
  }
  return reply;
}

function generateOptions(chat: NormalisedChatRequest) {
  return {
    maxTokens: chat.maxTokens,
    stop: chat.stop,
    ...(chat.temperature !== undefined ? { temperature: chat.temperature } : {}),
    ...(chat.topP !== undefined ? { topP: chat.topP } : {}),
    ...(chat.seed !== undefined ? { seed: chat.seed } : {}),
  };
}
