/**
 * The wire protocol shared by the server and the dashboard: model ids, `/load_model` events, SSE framing and the
 * OpenAI-compatible chat schema. Pure: no sockets, timers, files or libraries.
 */

export {
  DEFAULT_REVISION,
  MAX_MODEL_ID_LENGTH,
  modelKey,
  parseModelId,
  type ModelRef,
  type ParseModelIdResult,
} from './model-id.js';
export {
  DEFAULT_ERROR_MESSAGE,
  KNOWN_STAGES,
  isKnownStage,
  isTerminal,
  parseLoadEvent,
  serializeLoadEvent,
  type ErrorEvent,
  type KnownStage,
  type LoadEvent,
  type LoadStatus,
  type LoadingEvent,
  type ParseLoadEventResult,
  type Progress,
  type ReadyEvent,
} from './events.js';
export {
  createSseParser,
  encodeSseComment,
  encodeSseEvent,
  type SseEvent,
  type SseEventInit,
  type SseParseError,
  type SseParseErrorType,
  type SseParser,
  type SseParserCallbacks,
} from './sse.js';
export {
  DEFAULT_MAX_TOKENS,
  MAX_STOP_SEQUENCES,
  MAX_TOKENS_LIMIT,
  openAIError,
  parseChatStreamData,
  validateChatCompletionRequest,
  type ChatCompletion,
  type ChatCompletionChunk,
  type ChatCompletionRequest,
  type ChatCompletionUsage,
  type ChatFinishReason,
  type ChatRequestMessage,
  type ChatRole,
  type ChatStreamData,
  type ChatStreamOptions,
  type ChatTextPart,
  type NormalisedChatMessage,
  type NormalisedChatRequest,
  type OpenAIErrorBody,
  type OpenAIErrorType,
  type ValidateChatResult,
} from './chat.js';
export {
  validateLoadModelRequest,
  type LoadRequestErrorCode,
  type ValidateLoadModelResult,
} from './load-request.js';
