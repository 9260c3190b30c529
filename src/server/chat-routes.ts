import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply } from 'fastify';
import {
  openAIError,
  validateChatCompletionRequest,
  type ChatCompletion,
  type ChatCompletionChunk,
  type ChatCompletionUsage,
  type NormalisedChatRequest,
} from '../protocol/chat.js';
import { LoadError, type GenerateResult, type LoadedModel } from './loader-types.js';
import type { LoadManager } from './load-manager.js';
import { openSseStream } from './sse-stream.js';

/** Options of {@link registerChatRoutes}. */
export interface ChatRoutesOptions {
  readonly manager: LoadManager;
}

/** The HTTP status and OpenAI error code for a model that could not be loaded for a chat. */
function loadFailure(error: unknown): { status: number; code: string; message: string } {
  if (!(error instanceof LoadError)) {
    return { status: 500, code: 'load_failed', message: 'the model could not be loaded (see the server log)' };
  }
  switch (error.code) {
    case 'MODEL_NOT_FOUND':
    case 'REVISION_NOT_FOUND':
      return { status: 404, code: 'model_not_found', message: error.message };
    case 'UNAUTHORIZED':
    case 'FORBIDDEN':
      return { status: 403, code: 'model_access_denied', message: error.message };
    case 'NO_ONNX_WEIGHTS':
      return { status: 400, code: 'model_not_supported', message: error.message };
    case 'OFFLINE_NOT_CACHED':
    case 'HUB_UNREACHABLE':
    case 'HUB_ERROR':
    case 'DOWNLOAD_FAILED':
    case 'CACHE_NOT_WRITABLE':
    case 'LOAD_FAILED':
      return { status: 503, code: 'model_load_failed', message: error.message };
    case 'ABORTED':
      return { status: 503, code: 'shutting_down', message: error.message };
    default: {
      const never: never = error.code;
      return { status: 500, code: 'load_failed', message: String(never) };
    }
  }
}

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

  app.post('/v1/chat/completions', async (request, reply) => {
    const checked = validateChatCompletionRequest(request.body);
    if (!checked.ok) return reply.code(checked.status).send(checked.error);
    const chat = checked.request;
    const gone = disconnectSignal(reply);

    let model: LoadedModel;
    try {
      model = await manager.acquire(chat.model);
    } catch (error) {
      const failure = loadFailure(error);
      if (failure.status >= 500 && !(error instanceof LoadError)) request.log.error(error);
      return reply.code(failure.status).send(openAIError(failure.status, failure.message, { code: failure.code }));
    }
    if (gone.aborted) return reply;

    const id = `chatcmpl-${randomBytes(12).toString('hex')}`;
    const created = Math.floor(Date.now() / 1000);
    // Held, the model cannot be unloaded for idleness mid-generation; releasing it restarts its idle timer.
    const release = manager.hold(chat.model.key);
    try {
      return chat.stream
        ? await streamCompletion(reply, model, chat, { id, created, gone })
        : await wholeCompletion(reply, model, chat, { id, created, gone });
    } finally {
      release();
    }
  });
}

interface CompletionContext {
  readonly id: string;
  readonly created: number;
  readonly gone: AbortSignal;
}

async function wholeCompletion(
  reply: FastifyReply,
  model: LoadedModel,
  chat: NormalisedChatRequest,
  { id, created, gone }: CompletionContext,
): Promise<FastifyReply> {
  let text = '';
  const result = await model.generate(chat.messages, generateOptions(chat), (piece) => (text += piece), gone);
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
  { id, created, gone }: CompletionContext,
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
    stream.send(chunk({}, result.finishReason, usageOf(result)));
    stream.send('[DONE]');
  } catch (error) {
    reply.log.error(error);
    const message = error instanceof Error ? error.message : String(error);
    stream.send(JSON.stringify(openAIError(500, `generation failed: ${message}`, { code: 'generation_failed' })));
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
