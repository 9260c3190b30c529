/** A session's chat: one streamed reply at a time, each piece reported as it arrives. */

import type { Clock } from '../common/clock.js';
import {
  streamChat,
  type ChatOutcome,
  type ChatSampling,
  type ChatTokenCounts,
  type ChatTurn,
  type StreamChatOptions,
} from './chat-stream.js';
import type { KindResolver } from './engine-adapter.js';
import type { Failure } from './failures.js';
import type { RawFrame } from './frames.js';
import type { SessionUpdate } from './session-update.js';
import type { ServerTimings } from './server-timings.js';

/** Options of {@link createChatRunner}. */
export interface ChatRunnerOptions {
  readonly server: string;
  readonly model: string;
  readonly apiKey?: string | undefined;
  readonly fetch?: typeof fetch;
  readonly clock: Clock;
  /** Upper bound of new tokens per reply. */
  readonly maxTokens?: number;
  readonly dispatch: (update: SessionUpdate) => void;
  readonly onFrame: (frame: RawFrame) => void;
  /** The session's kind of server and its adapter; absent, OpenAI chat. */
  readonly resolver?: KindResolver | undefined;
  /** A reply lost its connection (after `chat-failed` was dispatched). */
  readonly onConnectionLost: (failure: Failure) => void;
}

/** The chat's controls. */
export interface ChatRunner {
  /** Sends the conversation (sampling over the runner's `maxTokens`); ignored (false) while a reply is streaming. */
  send(messages: readonly ChatTurn[], sampling?: ChatSampling): boolean;
  /** Aborts the reply in flight, keeping what arrived (`chat-stopped`); false when none streams. */
  stop(): boolean;
  /** Aborts the reply in flight, for good. */
  close(): void;
}

/** Creates a chat runner with no reply in flight. */
export function createChatRunner(options: ChatRunnerOptions): ChatRunner {
  const { clock } = options;
  let inFlight: AbortController | undefined;
  let closed = false;
  return {
    send(messages, sampling = {}) {
      if (closed || inFlight !== undefined) return false;
      const abort = new AbortController();
      inFlight = abort;
      const last = messages[messages.length - 1];
      let usage: ChatTokenCounts | undefined;
      let timings: ServerTimings | undefined;
      options.dispatch({ type: 'chat-sent', at: clock.now(), text: last?.content ?? '' });
      const chatWith = async (request: StreamChatOptions): Promise<ChatOutcome> => {
        const resolved = options.resolver ? await options.resolver.resolve(abort.signal) : undefined;
        if (resolved !== undefined && !resolved.ok) return resolved;
        return (resolved?.adapter.chat ?? streamChat)(request);
      };
      void chatWith({
        server: options.server,
        model: options.model,
        apiKey: options.apiKey,
        ...(options.fetch ? { fetch: options.fetch } : {}),
        messages,
        signal: abort.signal,
        onFrame: options.onFrame,
        onDelta: (text) => {
          if (inFlight === abort) options.dispatch({ type: 'chat-delta', at: clock.now(), text });
        },
        onReasoning: (text) => {
          if (inFlight === abort) options.dispatch({ type: 'chat-delta', at: clock.now(), text, channel: 'reasoning' });
        },
        onToolCall: (text) => {
          if (inFlight === abort) options.dispatch({ type: 'chat-delta', at: clock.now(), text, channel: 'tool-call' });
        },
        onUsage: (counts) => {
          usage = counts;
        },
        onTimings: (figures) => {
          timings = figures;
        },
        ...(options.maxTokens !== undefined ? { maxTokens: options.maxTokens } : {}),
        ...sampling,
      }).then((outcome) => {
        if (inFlight !== abort) return;
        inFlight = undefined;
        if (outcome.ok) {
          options.dispatch({
            type: 'chat-done',
            at: clock.now(),
            ...(usage ? { usage } : {}),
            ...(timings ? { timings } : {}),
          });
          return;
        }
        if (outcome.failure.kind === 'aborted') return;
        options.dispatch({ type: 'chat-failed', at: clock.now(), failure: outcome.failure });
        if (outcome.failure.kind === 'network') options.onConnectionLost(outcome.failure);
      });
      return true;
    },
    stop() {
      if (inFlight === undefined) return false;
      inFlight.abort();
      inFlight = undefined;
      options.dispatch({ type: 'chat-stopped', at: clock.now() });
      return true;
    },
    close() {
      closed = true;
      inFlight?.abort();
      inFlight = undefined;
    },
  };
}
