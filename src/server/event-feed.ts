/**
 * The feed behind `GET /events`: numbers every event of the server, keeps a bounded history of them for watchers
 * that reconnect with `Last-Event-ID`, and hands each new frame to every watcher. Frames are encoded once and shared
 * by all watchers; writing them to sockets is `sse-stream.ts`'s job.
 */

import { randomBytes } from 'node:crypto';
import { feedId, parseFeedId, type FeedEventName, type FeedModel } from '../protocol/feed.js';
import { encodeSseEvent } from '../protocol/sse.js';

/** Options of {@link createEventFeed}. */
export interface EventFeedOptions {
  /** Events kept for watchers that reconnect; an older `Last-Event-ID` gets a fresh snapshot. */
  readonly historySize: number;
  /** Names this run of the server in every id (random by default). */
  readonly boot?: string;
}

/** Receives encoded frames, in order: an event stream (`sse-stream.ts`), whose methods are shared, not bound. */
export interface FeedWatcher {
  /** Sends one frame (encoded once, shared by every watcher). */
  sendFrame(frame: string): void;
}

/** The feed of one server. */
export interface EventFeed {
  /** Numbers, encodes, records and sends one event (`data` is its JSON payload). */
  publish(event: Exclude<FeedEventName, 'snapshot'>, data: string): void;
  /**
   * The frames a watcher that last saw `lastEventId` missed, oldest first (possibly none); `undefined` when they are
   * no longer all in the history, or the id is not one of this run's: the watcher needs a snapshot.
   */
  since(lastEventId: string): string[] | undefined;
  /**
   * A `snapshot` frame of `models` (and `extra` fields, such as the server's memory), with the id of the latest event
   * (the snapshot reflects it and all before).
   */
  snapshot(models: readonly FeedModel[], extra?: Readonly<Record<string, unknown>>): string;
  /** Adds a watcher of every frame published from now on; returns the function that removes it. */
  watch(watcher: FeedWatcher): () => void;
  /** Watchers attached. */
  readonly watchers: number;
}

interface Recorded {
  readonly sequence: number;
  readonly frame: string;
}

/** Creates an empty feed. */
export function createEventFeed(options: EventFeedOptions): EventFeed {
  const boot = options.boot ?? randomBytes(4).toString('hex');
  const historySize = Math.max(1, options.historySize);
  const history: Recorded[] = [];
  const watchers = new Set<FeedWatcher>();
  let sequence = 0;

  return {
    publish(event, data) {
      sequence += 1;
      const frame = encodeSseEvent({ event, id: feedId(boot, sequence), data });
      history.push({ sequence, frame });
      if (history.length > historySize) history.splice(0, history.length - historySize);
      // A watcher whose socket throws is dropped, never the others (the route also removes it on disconnect).
      for (const watcher of [...watchers]) {
        try {
          watcher.sendFrame(frame);
        } catch {
          watchers.delete(watcher);
        }
      }
    },
    since(lastEventId) {
      const parsed = parseFeedId(lastEventId);
      if (parsed === undefined || parsed.boot !== boot || parsed.sequence > sequence) return undefined;
      const oldest = history[0]?.sequence ?? sequence + 1;
      if (parsed.sequence < oldest - 1) return undefined;
      return history.filter((entry) => entry.sequence > parsed.sequence).map((entry) => entry.frame);
    },
    snapshot(models, extra = {}) {
      const data = JSON.stringify({ models, ...extra });
      return encodeSseEvent({ event: 'snapshot', id: feedId(boot, sequence), data });
    },
    watch(watcher) {
      watchers.add(watcher);
      return () => {
        watchers.delete(watcher);
      };
    },
    get watchers() {
      return watchers.size;
    },
  };
}
