/**
 * The dashboard's session I/O: one controller per open session, keyed by the session's id. It holds connections,
 * not state: what the controllers report goes to `onUpdate` and `onFrame`, for the model's reducer and the event log.
 */

import type { ChatSampling, ChatTurn } from '../client/chat-stream.js';
import type { EngineAdapter } from '../client/engine-adapter.js';
import type { RawFrame } from '../client/frames.js';
import { serviceRoot } from '../client/server-url.js';
import type { BackoffOptions } from '../client/reconnect.js';
import { createSessionController, type SessionController } from '../client/session-controller.js';
import type { SessionUpdate } from '../client/session-update.js';
import type { Clock } from '../common/clock.js';
import type { SessionSpec } from './config.js';

/** Options of {@link createSessionPool}. */
export interface SessionPoolOptions {
  readonly clock: Clock;
  readonly fetch?: typeof fetch | undefined;
  /** A session's own `fetch` (the wire tap's); wins over {@link SessionPoolOptions.fetch}. */
  readonly fetchFor?: ((id: string) => typeof fetch) | undefined;
  readonly backoff?: BackoffOptions | undefined;
  readonly maxTokens?: number | undefined;
  readonly onUpdate: (id: string, update: SessionUpdate) => void;
  readonly onFrame: (id: string, frame: RawFrame) => void;
}

/** The open sessions' controllers. */
export interface SessionPool {
  /** Creates the session's controller and starts its load. */
  start(id: string, spec: SessionSpec): void;
  /** Aborts the session's streams and forgets it. */
  close(id: string): void;
  retry(id: string): void;
  /** False when the session has a reply in flight (or is unknown). */
  sendChat(id: string, messages: readonly ChatTurn[], sampling?: ChatSampling): boolean;
  /** Stops the session's reply in flight; false when none streams. */
  stopChat(id: string): boolean;
  /** The adapter of the first session on service root `root` whose kind is known; undefined when none is. */
  adapterForServer(root: string): EngineAdapter | undefined;
  /** The session's adapter once its kind is known; undefined before (or for an unknown session). */
  adapterOf(id: string): EngineAdapter | undefined;
  /** True when a session is open on service root `root`. */
  serves(root: string): boolean;
  /** Closes every session. */
  closeAll(): void;
}

/** Creates an empty pool. */
export function createSessionPool(options: SessionPoolOptions): SessionPool {
  const controllers = new Map<string, SessionController>();
  const servers = new Map<string, string>();
  return {
    start(id, spec) {
      // A session reopened under the same id (`e`) must not hear its old controller: only the current one reports.
      const current = (): boolean => controllers.get(id) === controller;
      const controller: SessionController = createSessionController({
        server: spec.server,
        model: spec.model,
        apiKey: spec.apiKey,
        dtype: spec.dtype,
        kind: spec.kind,
        attachOnly: spec.readOnly === true,
        clock: options.clock,
        ...(options.fetchFor ? { fetch: options.fetchFor(id) } : options.fetch ? { fetch: options.fetch } : {}),
        ...(options.backoff ? { backoff: options.backoff } : {}),
        ...(options.maxTokens !== undefined ? { maxTokens: options.maxTokens } : {}),
        dispatch: (update) => {
          if (current()) options.onUpdate(id, update);
        },
        onFrame: (frame) => {
          if (current()) options.onFrame(id, frame);
        },
      });
      controllers.set(id, controller);
      servers.set(id, spec.server);
      controller.start();
    },
    close(id) {
      controllers.get(id)?.close();
      controllers.delete(id);
      servers.delete(id);
    },
    retry(id) {
      controllers.get(id)?.retry();
    },
    sendChat(id, messages, sampling) {
      return controllers.get(id)?.sendChat(messages, sampling) ?? false;
    },
    stopChat(id) {
      return controllers.get(id)?.stopChat() ?? false;
    },
    adapterForServer(root) {
      for (const [id, server] of servers) {
        const adapter = serviceRoot(server) === root ? controllers.get(id)?.adapter() : undefined;
        if (adapter !== undefined) return adapter;
      }
      return undefined;
    },
    adapterOf(id) {
      return controllers.get(id)?.adapter();
    },
    serves(root) {
      return [...servers.values()].some((server) => serviceRoot(server) === root);
    },
    closeAll() {
      for (const controller of controllers.values()) controller.close();
      controllers.clear();
      servers.clear();
    },
  };
}
