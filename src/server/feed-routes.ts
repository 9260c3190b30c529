import type { FastifyInstance } from 'fastify';
import { serializeLoadEvent } from '../protocol/events.js';
import type { ExpiryPayload, UnloadPayload } from '../protocol/feed.js';
import type { EventFeed } from './event-feed.js';
import { withCachedModels } from './feed-view.js';
import type { LoadManager } from './load-manager.js';
import { memoryOf } from './model-routes.js';
import { openSseStream } from './sse-stream.js';

/** Options of {@link registerFeedRoutes}. */
export interface FeedRoutesOptions {
  readonly manager: LoadManager;
  readonly feed: EventFeed;
  /** Milliseconds without a frame before a `: keep-alive` comment; 0 disables. */
  readonly heartbeatMs: number;
  /** The `retry:` the feed announces, in milliseconds. */
  readonly retryMs: number;
}

/**
 * `GET /events`: the server's feed. Every load event, pull event, unload and move of an expiry of the manager is published to it;
 * a watcher gets a snapshot (or, reconnecting with `Last-Event-ID`, what it missed), then every event live. Watching
 * reads the manager's tables and never touches a model: it resets no idle timer.
 */
export function registerFeedRoutes(app: FastifyInstance, options: FeedRoutesOptions): void {
  const { manager, feed } = options;
  // The process's memory after each change of what it holds (a load or a pull ended, a model unloaded and its worker
  // gone: measured before the worker exits, the RSS would still count it), with its RSS then.
  const memory = (): void => feed.publish('memory', JSON.stringify(memoryOf(manager)));
  const stopWatching = manager.watch((event) => {
    switch (event.type) {
      case 'load':
      case 'pull':
        feed.publish(event.type, serializeLoadEvent(event.event));
        return event.event.status === 'loading' ? undefined : memory();
      case 'unload': {
        const payload: UnloadPayload = { model: event.ref.key, reason: event.reason };
        return feed.publish('unload', JSON.stringify(payload));
      }
      case 'freed':
        return memory();
      case 'expiry': {
        const payload: ExpiryPayload = { model: event.ref.key, ...event.expiry };
        return feed.publish('expiry', JSON.stringify(payload));
      }
      default: {
        const never: never = event;
        throw new Error(`unknown manager event ${JSON.stringify(never)}`);
      }
    }
  });
  app.addHook('onClose', async () => stopWatching());

  app.get('/events', async (request, reply) => {
    const lastEventId = request.headers['last-event-id'];
    const stream = openSseStream(reply, { heartbeatMs: options.heartbeatMs, retryMs: options.retryMs });
    const missed = typeof lastEventId === 'string' ? feed.since(lastEventId.trim()) : undefined;
    if (missed === undefined) {
      // The disk listing is the only asynchronous part; everything after it runs in one go, so the snapshot shows
      // the state after every event up to its id, and the watcher is attached before the next one.
      const cached = await manager.cachedRefs().catch(() => []);
      if (stream.closed) return reply;
      const extra = { pulls: manager.pulls(), memory: memoryOf(manager) };
      stream.sendFrame(feed.snapshot(withCachedModels(manager.models(), cached), extra));
    } else {
      for (const frame of missed) stream.sendFrame(frame);
      // Says the replay is whole, even when nothing was missed: a client holds its view as current from here on.
      stream.comment(`resumed: ${missed.length} missed ${missed.length === 1 ? 'event' : 'events'}`);
    }
    const unwatch = feed.watch(stream);
    stream.onDisconnect(unwatch);
    if (stream.closed) unwatch();
    return reply;
  });
}
