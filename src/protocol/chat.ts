/**
 * The OpenAI-compatible schemas modeldeck speaks on `POST /v1/chat/completions` and `POST /v1/completions` (OpenAI's
 * legacy text completions, for base models without a chat template): request validation, the response and
 * stream-chunk shapes, OpenAI-style error bodies, and a reader for one frame of a chat stream.
 */

import { wireError, type OpenAIErrorBody, type WireErrorCode } from './errors.js';
import { parseModelId, type ModelRef } from './model-id.js';

/** Roles modeldeck generates for. */
export type ChatRole = 'system' | 'user' | 'assistant';

/** One text part of a multi-part message content. */
export interface ChatTextPart {
  readonly type: 'text';
  readonly text: string;
}

/** A message as a client sends it. */
export interface ChatRequestMessage {
  /** `developer` (newer OpenAI clients' name for `system`) is accepted and read as `system`. */
  readonly role: ChatRole | 'developer';
  /** A string or text parts; `null` is accepted for an `assistant` message and read as `''`. */
  readonly content: string | readonly ChatTextPart[] | null;
  readonly name?: string;
}

/** Options of a streamed request. */
export interface ChatStreamOptions {
  /** Asks for token usage in the stream. */
  readonly include_usage?: boolean;
}

/** The request body of `POST /v1/chat/completions`, as OpenAI documents it (the subset modeldeck reads). */
export interface ChatCompletionRequest {
  /** `org/name` or `org/name@revision`. */
  readonly model: string;
  /** At least one message. */
  readonly messages: readonly ChatRequestMessage[];
  readonly stream?: boolean | null;
  /** Upper bound of new tokens (deprecated by OpenAI in favour of `max_completion_tokens`). */
  readonly max_tokens?: number | null;
  /** Upper bound of new tokens. Wins over `max_tokens` when both are given. */
  readonly max_completion_tokens?: number | null;
  /** Sampling temperature, 0 to 2. */
  readonly temperature?: number | null;
  /** Nucleus sampling mass, above 0 and at most 1. */
  readonly top_p?: number | null;
  /** Sampling seed, an integer. */
  readonly seed?: number | null;
  /** Up to {@link MAX_STOP_SEQUENCES} non-empty strings that end the generation. */
  readonly stop?: string | readonly string[] | null;
  readonly stream_options?: ChatStreamOptions | null;
  /** Number of choices; only 1 is supported. */
  readonly n?: number | null;
}

/** A message after validation: content flattened to a string. */
export interface NormalisedChatMessage {
  readonly role: ChatRole;
  readonly content: string;
}

/** A validated request, in the shape the server hands to a model. Absent optional fields mean "model default". */
export interface NormalisedChatRequest {
  readonly model: ModelRef;
  readonly messages: readonly NormalisedChatMessage[];
  readonly stream: boolean;
  /** Upper bound of new tokens, 1 to {@link MAX_TOKENS_LIMIT}; {@link DEFAULT_MAX_TOKENS} when the request set none. */
  readonly maxTokens: number;
  /** 0 to 2. */
  readonly temperature?: number;
  /** Above 0, at most 1. */
  readonly topP?: number;
  readonly seed?: number;
  /** Stop sequences, possibly none. */
  readonly stop: readonly string[];
  /** `stream_options.include_usage`; `false` when absent. */
  readonly includeUsage: boolean;
}

/** A validated `POST /v1/completions` request: the chat request's settings, with a plain-text prompt. */
export type NormalisedCompletionRequest = Omit<NormalisedChatRequest, 'messages'> & {
  /** The prompt, given to the model as it is (no template). */
  readonly prompt: string;
};

/** Why a choice stopped. modeldeck produces `stop` and `length`; the others come from other servers. */
export type ChatFinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter' | 'function_call';

/** Token counts of one completion. */
export interface ChatCompletionUsage {
  /** Tokens in the formatted prompt. */
  readonly prompt_tokens: number;
  /** Tokens generated. */
  readonly completion_tokens: number;
  /** The sum of the two. */
  readonly total_tokens: number;
}

/** The body of a non-streamed response. */
export interface ChatCompletion {
  readonly id: string;
  readonly object: 'chat.completion';
  /** Unix time, in seconds. */
  readonly created: number;
  /** The model, as `id@revision`. */
  readonly model: string;
  readonly system_fingerprint?: string | null;
  readonly choices: readonly {
    readonly index: number;
    readonly message: { readonly role: 'assistant'; readonly content: string | null };
    readonly logprobs: null;
    readonly finish_reason: ChatFinishReason;
  }[];
  readonly usage: ChatCompletionUsage;
}

/** One `data:` frame of a streamed response. */
export interface ChatCompletionChunk {
  readonly id: string;
  readonly object: 'chat.completion.chunk';
  /** Unix time, in seconds; the same in every chunk of one response. */
  readonly created: number;
  /** The model, as `id@revision`. */
  readonly model: string;
  readonly system_fingerprint?: string | null;
  readonly choices: readonly {
    readonly index: number;
    /** The first chunk carries `role`; the others carry new `content`. */
    readonly delta: { readonly role?: 'assistant'; readonly content?: string | null };
    readonly logprobs?: null;
    /** `null` until the last chunk of the choice. */
    readonly finish_reason: ChatFinishReason | null;
  }[];
  /** Present on the last chunk (modeldeck) or on an extra final chunk with no choices (OpenAI, when asked). */
  readonly usage?: ChatCompletionUsage | null;
}

/** The body of a non-streamed `POST /v1/completions` response. */
export interface TextCompletion {
  readonly id: string;
  readonly object: 'text_completion';
  /** Unix time, in seconds. */
  readonly created: number;
  /** The model, as `id@revision`. */
  readonly model: string;
  readonly system_fingerprint?: string | null;
  readonly choices: readonly {
    readonly index: number;
    readonly text: string;
    readonly logprobs: null;
    /** `null` in a streamed chunk until the last one. */
    readonly finish_reason: ChatFinishReason | null;
  }[];
  /** On the whole response, and on the last chunk of a streamed one. */
  readonly usage?: ChatCompletionUsage;
}

/** Largest accepted `max_tokens`/`max_completion_tokens`. */
export const MAX_TOKENS_LIMIT = 4096;
/** New-token bound when the request sets none. */
export const DEFAULT_MAX_TOKENS = 256;
/** Most stop sequences a request may give (as OpenAI). */
export const MAX_STOP_SEQUENCES = 4;

/** What a validator returns. The validators themselves only answer 400, as OpenAI does. */
export type Validated<T> = { ok: true; request: T } | { ok: false; status: 400 | 404 | 422; error: OpenAIErrorBody };

/** What {@link validateChatCompletionRequest} returns. */
export type ValidateChatResult = Validated<NormalisedChatRequest>;

/** A request that breaks the schema; only ever caught inside this module. */
class InvalidRequest extends Error {
  override readonly name = 'InvalidRequest';
  constructor(
    message: string,
    readonly param: string | null,
    readonly code: WireErrorCode = 'INVALID_REQUEST',
  ) {
    super(message);
  }
}

/**
 * Validates a parsed JSON body of `POST /v1/chat/completions` and normalises it.
 *
 * Rules: `model` a valid model id (code `INVALID_MODEL` otherwise); `messages` a non-empty array of
 * `{role, content}` with role `system`/`user`/`assistant` (or `developer`, read as `system`) and content a string or
 * an array of `{type: 'text', text}` parts (joined with LF); `max_completion_tokens` or else `max_tokens` an integer
 * from 1 to {@link MAX_TOKENS_LIMIT} (default {@link DEFAULT_MAX_TOKENS}); `temperature` 0 to 2; `top_p` above 0 and
 * at most 1; `seed` an integer, 0 or more; `stop` a non-empty string or up to {@link MAX_STOP_SEQUENCES} of them; `stream` a
 * boolean; `stream_options` an object; `n` only 1. A field set to `null` counts as absent; unknown fields are
 * ignored. Every failure is a 400 `invalid_request_error` whose `param` names the field, with code `INVALID_REQUEST`
 * (`INVALID_BODY` for a body that is not an object, `INVALID_MODEL` for a bad model id).
 */
export function validateChatCompletionRequest(body: unknown): ValidateChatResult {
  return validated(() => {
    const { body: fields, ...settings } = readSettings(body);
    return { ...settings, messages: readMessages(fields['messages']) };
  });
}

/**
 * Validates a parsed JSON body of `POST /v1/completions` and normalises it: the chat request's rules for every
 * setting, and `prompt` a string or an array of exactly one string (several prompts in one request, token arrays,
 * `echo`, `suffix`, `logprobs` and `best_of` above 1 are refused with a 400 naming the field).
 */
export function validateCompletionRequest(body: unknown): Validated<NormalisedCompletionRequest> {
  return validated(() => {
    const { body: fields, ...settings } = readSettings(body);
    const unsupported = (param: string, what: string): InvalidRequest =>
      new InvalidRequest(`Invalid '${param}': ${what} is not supported by this server.`, param);
    if (optional(fields, 'echo') === true) throw unsupported('echo', 'echoing the prompt');
    const suffix = optional(fields, 'suffix');
    if (suffix !== undefined && suffix !== '') throw unsupported('suffix', 'a suffix (insertion)');
    if (optional(fields, 'logprobs') !== undefined) throw unsupported('logprobs', 'returning log probabilities');
    const bestOf = optional(fields, 'best_of');
    if (bestOf !== undefined && bestOf !== 1) throw unsupported('best_of', 'more than one candidate');
    return { ...settings, prompt: readPrompt(fields['prompt']) };
  });
}

function readPrompt(value: unknown): string {
  if (value === undefined || value === null) throw new InvalidRequest("'prompt' is a required property.", 'prompt');
  if (typeof value === 'string') return value;
  if (Array.isArray(value) && value.length === 1 && typeof value[0] === 'string') return value[0];
  if (Array.isArray(value) && value.length > 1 && value.every((item) => typeof item === 'string')) {
    throw new InvalidRequest(
      `Invalid 'prompt': one prompt per request is supported, but got ${value.length}; send them one by one.`,
      'prompt',
    );
  }
  throw wrongType('prompt', 'a string (token arrays are not supported)', value);
}

function validated<T>(read: () => T): Validated<T> {
  try {
    return { ok: true, request: read() };
  } catch (error) {
    // Anything else is a bug (or a caller's throwing getter), not a bad request: let it surface.
    if (!(error instanceof InvalidRequest)) throw error;
    return {
      ok: false,
      status: 400,
      error: wireError(error.code, error.message, error.param).body,
    };
  }
}

/** Every field but the prompt, and the body as an object for the caller to read its prompt from. */
function readSettings(
  body: unknown,
): Omit<NormalisedChatRequest, 'messages'> & { readonly body: Readonly<Record<string, unknown>> } {
  if (!isPlainObject(body)) {
    throw new InvalidRequest(
      `The request body must be a JSON object, but got ${describe(body)}.`,
      null,
      'INVALID_BODY',
    );
  }

  const model = body['model'];
  if (model === undefined || model === null) throw new InvalidRequest('You must provide a model parameter.', 'model');
  if (typeof model !== 'string') throw wrongType('model', 'a string', model);
  const parsedModel = parseModelId(model);
  if (!parsedModel.ok) throw new InvalidRequest(`Invalid 'model': ${parsedModel.message}.`, 'model', 'INVALID_MODEL');

  const stream = optional(body, 'stream');
  if (stream !== undefined && typeof stream !== 'boolean') throw wrongType('stream', 'a boolean', stream);

  const n = optional(body, 'n');
  if (n !== undefined && n !== 1) {
    throw new InvalidRequest(`Invalid 'n': only 1 choice is supported, but got ${describe(n)}.`, 'n');
  }

  const maxCompletionTokens = readMaxTokens(body, 'max_completion_tokens');
  const maxTokens = readMaxTokens(body, 'max_tokens');

  const temperature = readNumber(body, 'temperature');
  if (temperature !== undefined && (temperature < 0 || temperature > 2)) {
    throw outOfRange('temperature', 'a value from 0 to 2', temperature);
  }
  const topP = readNumber(body, 'top_p');
  if (topP !== undefined && (topP <= 0 || topP > 1)) {
    throw outOfRange('top_p', 'a value above 0 and at most 1', topP);
  }
  const seed = readNumber(body, 'seed');
  if (seed !== undefined && !Number.isSafeInteger(seed)) throw wrongType('seed', 'an integer', seed);
  if (seed !== undefined && seed < 0) throw outOfRange('seed', `an integer from 0 to ${Number.MAX_SAFE_INTEGER}`, seed);

  const streamOptions = optional(body, 'stream_options');
  if (streamOptions !== undefined && !isPlainObject(streamOptions)) {
    throw wrongType('stream_options', 'an object', streamOptions);
  }
  const includeUsage = streamOptions === undefined ? undefined : optional(streamOptions, 'include_usage');
  if (includeUsage !== undefined && typeof includeUsage !== 'boolean') {
    throw wrongType('stream_options.include_usage', 'a boolean', includeUsage);
  }

  return {
    body,
    model: parsedModel.ref,
    stream: stream ?? false,
    maxTokens: maxCompletionTokens ?? maxTokens ?? DEFAULT_MAX_TOKENS,
    ...(temperature === undefined ? {} : { temperature }),
    ...(topP === undefined ? {} : { topP }),
    ...(seed === undefined ? {} : { seed }),
    stop: readStop(optional(body, 'stop')),
    includeUsage: includeUsage ?? false,
  };
}

function readMessages(value: unknown): NormalisedChatMessage[] {
  if (value === undefined || value === null) throw new InvalidRequest("'messages' is a required property.", 'messages');
  if (!Array.isArray(value)) throw wrongType('messages', 'an array', value);
  if (value.length === 0) {
    throw new InvalidRequest("Invalid 'messages': empty array. Expected at least one message.", 'messages');
  }
  return value.map((message: unknown, index) => readMessage(message, `messages[${index}]`));
}

function readMessage(message: unknown, param: string): NormalisedChatMessage {
  if (!isPlainObject(message)) throw wrongType(param, 'an object', message);
  const role = message['role'];
  if (role === undefined) throw new InvalidRequest(`Missing required parameter: '${param}.role'.`, `${param}.role`);
  if (role !== 'system' && role !== 'user' && role !== 'assistant' && role !== 'developer') {
    throw new InvalidRequest(
      `Invalid value for '${param}.role': expected 'system', 'user' or 'assistant', but got ${describe(role)}.`,
      `${param}.role`,
    );
  }
  const content = readContent(message['content'], role, `${param}.content`);
  return { role: role === 'developer' ? 'system' : role, content };
}

function readContent(content: unknown, role: string, param: string): string {
  if (typeof content === 'string') return content;
  // An assistant turn that only called tools has null content; there is no text to give the model.
  if (content === null && role === 'assistant') return '';
  if (content === undefined) throw new InvalidRequest(`Missing required parameter: '${param}'.`, param);
  if (!Array.isArray(content)) throw wrongType(param, 'a string or an array of text parts', content);
  return content
    .map((part: unknown, index) => {
      const partParam = `${param}[${index}]`;
      if (!isPlainObject(part)) throw wrongType(partParam, 'an object', part);
      if (part['type'] !== 'text') {
        throw new InvalidRequest(
          `Invalid '${partParam}.type': only 'text' content parts are supported, but got ${describe(part['type'])}.`,
          `${partParam}.type`,
        );
      }
      const text = part['text'];
      if (typeof text !== 'string') throw wrongType(`${partParam}.text`, 'a string', text);
      return text;
    })
    .join('\n');
}

function readMaxTokens(body: Record<string, unknown>, param: string): number | undefined {
  const value = readNumber(body, param);
  if (value === undefined) return undefined;
  if (!Number.isInteger(value)) throw wrongType(param, 'an integer', value);
  if (value < 1 || value > MAX_TOKENS_LIMIT) throw outOfRange(param, `an integer from 1 to ${MAX_TOKENS_LIMIT}`, value);
  return value;
}

function readNumber(body: Record<string, unknown>, param: string): number | undefined {
  const value = optional(body, param);
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) throw wrongType(param, 'a number', value);
  return value;
}

function readStop(value: unknown): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) && typeof value !== 'string') {
    throw wrongType('stop', 'a string or an array of strings', value);
  }
  const list: unknown[] = Array.isArray(value) ? value : [value];
  if (list.length > MAX_STOP_SEQUENCES) {
    throw new InvalidRequest(
      `Invalid 'stop': at most ${MAX_STOP_SEQUENCES} stop sequences are allowed, but got ${list.length}.`,
      'stop',
    );
  }
  return list.map((item, index) => {
    const param = Array.isArray(value) ? `stop[${index}]` : 'stop';
    if (typeof item !== 'string') throw wrongType(param, 'a string', item);
    // An empty stop sequence would end every generation before its first token.
    if (item === '') throw new InvalidRequest(`Invalid '${param}': stop sequences must not be empty.`, param);
    return item;
  });
}

// Clients built on other SDKs send `null` for options they leave unset; null means "not given".
function optional(body: Record<string, unknown>, key: string): unknown {
  const value = body[key];
  return value === null ? undefined : value;
}

function wrongType(param: string, expected: string, got: unknown): InvalidRequest {
  return new InvalidRequest(`Invalid type for '${param}': expected ${expected}, but got ${describe(got)}.`, param);
}

function outOfRange(param: string, expected: string, got: number): InvalidRequest {
  return new InvalidRequest(`Invalid '${param}': expected ${expected}, but got ${got}.`, param);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  switch (typeof value) {
    case 'string':
      return `a string (${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)})`;
    case 'number':
      return `a number (${value})`;
    case 'boolean':
      return `a boolean (${value})`;
    case 'object':
      return 'an object';
    default:
      return typeof value;
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** What one `data:` frame of a chat stream holds. */
export type ChatStreamData =
  | { kind: 'chunk'; chunk: ChatCompletionChunk }
  | { kind: 'done' }
  | { kind: 'error'; error: OpenAIErrorBody['error'] }
  | { kind: 'invalid'; message: string };

/**
 * Reads the `data` of one frame of a streamed chat response: a chunk, the `[DONE]` sentinel (OpenAI and modeldeck
 * send it; upstream does not, so the end of the stream also means done), an `{"error": …}` frame sent after the
 * stream started, or something unreadable. Checks only what a client needs: `choices` is an array.
 */
export function parseChatStreamData(data: string): ChatStreamData {
  if (data.trim() === '[DONE]') return { kind: 'done' };
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch (error) {
    return { kind: 'invalid', message: `chat stream frame is not JSON: ${(error as Error).message}` };
  }
  if (!isPlainObject(value)) return { kind: 'invalid', message: 'chat stream frame is not a JSON object' };
  const error = value['error'];
  if (error !== undefined && error !== null) {
    const fields = isPlainObject(error) ? error : { message: error };
    const message = fields['message'];
    return {
      kind: 'error',
      error: {
        message: typeof message === 'string' && message !== '' ? message : 'the server reported an error',
        type: typeof fields['type'] === 'string' ? fields['type'] : 'server_error',
        param: typeof fields['param'] === 'string' ? fields['param'] : null,
        code: typeof fields['code'] === 'string' ? fields['code'] : null,
      },
    };
  }
  if (!Array.isArray(value['choices'])) return { kind: 'invalid', message: 'chat stream frame has no "choices" array' };
  return { kind: 'chunk', chunk: value as unknown as ChatCompletionChunk };
}
