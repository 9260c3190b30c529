/**
 * Drives one session's I/O: a {@link createLoadConnection} (the `/load_model` subscription and its reconnects) and a
 * {@link createChatRunner} (one reply at a time), joined where they meet: a chat that loses its connection puts the
 * load into reconnection, since the server may have restarted without the model. Everything a person sees is
 * reported as a {@link SessionUpdate} for the caller's reducer.
 */

import { systemClock, type Clock } from '../common/clock.js';
import type { ChatSampling, ChatTurn } from './chat-stream.js';
import { createChatRunner } from './chat-runner.js';
import { createKindResolver, type EngineAdapter } from './engine-adapter.js';
import type { RawFrame } from './frames.js';
import { createLoadConnection } from './load-connection.js';
import type { BackoffOptions } from './reconnect.js';
import type { ServerKind } from './server-kind.js';
import type { SessionUpdate } from './session-update.js';

/** What a session controller needs. */
export interface SessionControllerOptions {
  readonly server: string;
  readonly model: string;
  readonly apiKey?: string | undefined;
  /** The load request's `dtype`: weights variants in order of preference; absent, the server chooses. */
  readonly dtype?: readonly string[] | undefined;
  /** The kind of server, as the user named it; absent, detected by `server-kind.ts`'s probes. */
  readonly kind?: ServerKind | undefined;
  /** Read-only: the load connection never starts a load (`load-connection.ts`). */
  readonly attachOnly?: boolean | undefined;
  readonly fetch?: typeof fetch;
  readonly clock?: Clock;
  readonly backoff?: BackoffOptions;
  /** Upper bound of new tokens per reply. */
  readonly maxTokens?: number;
  /** Receives every change, for the caller's reducer. */
  readonly dispatch: (update: SessionUpdate) => void;
  /** Receives every raw frame, for the event log. */
  readonly onFrame: (frame: RawFrame) => void;
}

/** Drives one session: load, reconnect, chat. */
export interface SessionController {
  /** Subscribes to `/load_model` (once; later calls are ignored until a failure). */
  start(): void;
  /** Cancels any wait or stream in flight and subscribes again at once, backoff reset. */
  retry(): void;
  /** Sends the conversation; ignored (returns false) while a reply is streaming. */
  sendChat(messages: readonly ChatTurn[], sampling?: ChatSampling): boolean;
  /** Stops the reply in flight, keeping what arrived; false when none streams. */
  stopChat(): boolean;
  /** The session's adapter once its kind is known (named or detected); undefined before. */
  adapter(): EngineAdapter | undefined;
  /** Aborts everything and cancels timers. The controller stays closed. */
  close(): void;
}

/**
 * Creates a session controller. A retryable failure (lost or refused connection, stream cut short, 502/503/504/429)
 * dispatches `failed` with the time of the next attempt and reconnects after the policy's delay; any other failure
 * dispatches `failed` without one and waits for {@link SessionController.retry}. A chat whose connection is lost
 * also puts the session into reconnection, since the server may have restarted without the model.
 */
export function createSessionController(options: SessionControllerOptions): SessionController {
  const clock = options.clock ?? systemClock;
  const request = {
    server: options.server,
    model: options.model,
    apiKey: options.apiKey,
    clock,
    dispatch: options.dispatch,
    onFrame: options.onFrame,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  };
  const resolver = createKindResolver({
    server: options.server,
    apiKey: options.apiKey,
    kind: options.kind,
    onFrame: options.onFrame,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  const load = createLoadConnection({
    ...request,
    resolver,
    dtype: options.dtype,
    attachOnly: options.attachOnly,
    ...(options.backoff ? { backoff: options.backoff } : {}),
  });
  const chat = createChatRunner({
    ...request,
    resolver,
    ...(options.maxTokens !== undefined ? { maxTokens: options.maxTokens } : {}),
    onConnectionLost: (failure) => load.reconnectIfIdle(failure),
  });
  return {
    start: () => load.start(),
    retry: () => load.retry(),
    sendChat: (messages, sampling) => chat.send(messages, sampling),
    stopChat: () => chat.stop(),
    adapter: () => resolver.known(),
    close() {
      load.close();
      chat.close();
    },
  };
}
