/** One streamed chat completion: POST `/v1/chat/completions`, hand each piece of the reply on, say how it ended. */

import { parseChatStreamData, type ChatCompletionRequest } from '../protocol/chat.js';
import type { Failure } from './failures.js';
import { ABORTED_FAILURE, isAbort, networkFailure, postForEventStream, type RequestOptions } from './http.js';
import { readSse, type SseReaderCallbacks } from './sse-reader.js';
import { llamaTimings, type ServerTimings } from './server-timings.js';

/** One turn of the conversation as the OpenAI schema carries it. */
export interface ChatTurn {
  readonly role: 'system' | 'user' | 'assistant';
  readonly content: string;
}

/** How a reply is sampled; absent fields are the server's defaults. */
export interface ChatSampling {
  /** Upper bound of new tokens. */
  readonly maxTokens?: number;
  /** 0 to 2. */
  readonly temperature?: number;
  /** An integer: the same seed and conversation give the same reply. */
  readonly seed?: number;
}

/** Options of {@link streamChat}. */
export interface StreamChatOptions extends RequestOptions, ChatSampling {
  readonly model: string;
  /** The conversation so far, the new user message last. */
  readonly messages: readonly ChatTurn[];
  /** Each piece of the reply's text, as it arrives. */
  readonly onDelta?: (text: string) => void;
  /** Each piece of the model's reasoning (`reasoning_content` deltas: transformers serve, vLLM, llama.cpp). */
  readonly onReasoning?: (text: string) => void;
  /** Each piece of a tool call (`tool_calls` deltas): its name when it starts, then its arguments as they stream. */
  readonly onToolCall?: (text: string) => void;
  /** The token counts, when the server sends a `usage` chunk (modeldeck and OpenAI do; some servers never do). */
  readonly onUsage?: (usage: ChatTokenCounts) => void;
  /** The server's own figures of the reply's speed, when it sends them (llama.cpp's `timings`, Ollama's durations). */
  readonly onTimings?: (timings: ServerTimings) => void;
}

/** A reply's token counts as the server counted them. */
export interface ChatTokenCounts {
  readonly prompt: number;
  readonly completion: number;
}

/** The reasoning and tool-call pieces of one delta, handed to their callbacks. */
function sideChannels(delta: Record<string, unknown> | undefined, options: StreamChatOptions): void {
  const reasoning = delta?.['reasoning_content'];
  if (typeof reasoning === 'string' && reasoning !== '') options.onReasoning?.(reasoning);
  const calls = delta?.['tool_calls'];
  if (!Array.isArray(calls)) return;
  for (const call of calls as Record<string, unknown>[]) {
    const fn = (call?.['function'] ?? {}) as Record<string, unknown>;
    const name = typeof fn['name'] === 'string' && fn['name'] !== '' ? `${fn['name']} ` : '';
    const args = typeof fn['arguments'] === 'string' ? fn['arguments'] : '';
    if (name + args !== '') options.onToolCall?.(name + args);
  }
}

/** How a chat request ended. */
export type ChatOutcome = { readonly ok: true } | { readonly ok: false; readonly failure: Failure };

const REPLY_ENDED_EARLY = 'the reply ended before it finished';

/**
 * POSTs a streamed chat completion and hands each content delta to `onDelta`. `data: [DONE]` ends it (OpenAI,
 * modeldeck); so does the end of the stream after a `finish_reason` (upstream sends no `[DONE]`). An end with
 * neither is an `ended-early` failure; an `{"error": …}` frame is a `server` failure. Never throws.
 */
export async function streamChat(options: StreamChatOptions): Promise<ChatOutcome> {
  const answer = await postForEventStream(
    '/v1/chat/completions',
    {
      model: options.model,
      messages: options.messages,
      stream: true,
      // OpenAI sends usage only when asked; modeldeck always sends it on the last chunk.
      stream_options: { include_usage: true },
      ...(options.maxTokens !== undefined ? { max_tokens: options.maxTokens } : {}),
      ...(options.temperature !== undefined ? { temperature: options.temperature } : {}),
      ...(options.seed !== undefined ? { seed: options.seed } : {}),
    } satisfies ChatCompletionRequest,
    options,
  );
  if (!answer.ok) return answer;
  const { response } = answer;

  let outcome: ChatOutcome | undefined;
  let finished = false;
  const reader: SseReaderCallbacks = {
    onEvent: ({ data }) => {
      options.onFrame?.({ kind: 'data', raw: data });
      if (outcome) return;
      const frame = parseChatStreamData(data);
      switch (frame.kind) {
        case 'done':
          outcome = { ok: true };
          return;
        case 'error':
          outcome = {
            ok: false,
            failure: {
              kind: 'server',
              message: frame.error.message,
              ...(frame.error.code ? { code: frame.error.code } : {}),
            },
          };
          return;
        case 'invalid':
          // Upstream builds its mid-stream error by string interpolation: with a quote in the message it is not JSON.
          // It is still the server's error: shown as the raw text it sent.
          if (/^\s*\{\s*"error"\s*:/.test(data)) {
            outcome = {
              ok: false,
              failure: { kind: 'server', message: `the server's error (not valid JSON): ${data}` },
            };
            return;
          }
          options.onFrame?.({ kind: 'other', raw: `skipped a frame: ${frame.message}` });
          return;
        case 'chunk': {
          const usage = frame.chunk.usage;
          if (usage && typeof usage.prompt_tokens === 'number' && typeof usage.completion_tokens === 'number')
            options.onUsage?.({ prompt: usage.prompt_tokens, completion: usage.completion_tokens });
          const timings = llamaTimings((frame.chunk as { timings?: unknown }).timings);
          if (timings) options.onTimings?.(timings);
          for (const choice of frame.chunk.choices) {
            if (choice.index !== 0 && choice.index !== undefined) continue;
            const text = choice.delta?.content;
            if (typeof text === 'string' && text !== '') options.onDelta?.(text);
            sideChannels(choice.delta as Record<string, unknown> | undefined, options);
            if (choice.finish_reason) finished = true;
          }
          return;
        }
        default: {
          const never: never = frame;
          throw new TypeError(`unknown chat frame ${JSON.stringify(never)}`);
        }
      }
    },
    onComment: (text) => options.onFrame?.({ kind: 'comment', raw: text }),
  };
  const body = response.body;
  if (body === null) return { ok: false, failure: { kind: 'ended-early', message: REPLY_ENDED_EARLY } };
  try {
    await readSse(body, reader, () => outcome !== undefined);
  } catch (error) {
    if (outcome) return outcome;
    if (isAbort(error, options.signal)) return { ok: false, failure: ABORTED_FAILURE };
    return { ok: false, failure: networkFailure(error, 'connection lost mid-reply') };
  }
  if (outcome) return outcome;
  return finished ? { ok: true } : { ok: false, failure: { kind: 'ended-early', message: REPLY_ENDED_EARLY } };
}
