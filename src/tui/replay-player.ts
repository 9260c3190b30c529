/**
 * The replay player (`modeldeck replay`): plays a saved log's records on a {@link ReplaySource} as what a live
 * dashboard would have produced, through the dashboard's own paths: an `open` adds the session, an `update` is that
 * session's update, a `server` record is what that server's feed reported, a `wire` record and a frame are recorded
 * under the session's new tag. Every record keeps its recorded time, and the dashboard reads the time from
 * {@link ReplayPlayer.now} (the recording's clock), so that durations, speeds and log times are the recording's at any
 * speed. It says where the replay stands in the status bar after each pause, step and at the end.
 */

import type { SessionUpdate } from '../client/session-update.js';
import type { Clock } from '../common/clock.js';
import type { SessionSpec } from './config.js';
import { wireRecord } from './recorder.js';
import { createReplaySource, type ReplayRecord, type ReplaySource } from './replay-log.js';
import type { ServerAction } from './server-state.js';

/** What the player drives: the dashboard's own paths. */
export interface ReplayTarget {
  /** Opens a session as `a` would; returns its id. */
  addSession(spec: SessionSpec): string;
  /** What a session's client reported. */
  sessionUpdate(id: string, update: SessionUpdate): void;
  /** What a server's feed or poll reported. */
  server(root: string, action: ServerAction): void;
  /** Keeps a frame or a wire record (the recorder's entry). */
  record(record: ReplayRecord): void;
  /** A session's tag, by id. */
  tagOf(id: string): string;
  /** Shows a message in the status bar. */
  notice(text: string): void;
}

/** Options of {@link createReplayPlayer}. */
export interface ReplayPlayerOptions {
  readonly records: readonly ReplayRecord[];
  /** Gaps between records are divided by this (default 1). */
  readonly speed?: number | undefined;
  readonly clock: Clock;
  readonly target: ReplayTarget;
}

/** A replay being played. */
export interface ReplayPlayer {
  /** Where it stands (played, paused, total). */
  readonly source: ReplaySource;
  /** Plays the first record at once and the rest at their gaps. */
  start(): void;
  /** Pauses or resumes, and says so. */
  toggle(): void;
  /** Plays the next record now (pausing first), and says where it stands. */
  step(): void;
  /** Where the recording stands (ms since the epoch, on the recording's clock): the time the dashboard shows. */
  now(): number;
  /** Nothing more is played. */
  dispose(): void;
}

/** Where a replay stands, for its banner: position and length from its first record, speed, paused. */
export interface ReplayPosition {
  /** Milliseconds since the first record. */
  readonly at: number;
  /** Milliseconds from the first record to the last. */
  readonly length: number;
  readonly speed: number;
  readonly paused: boolean;
  readonly finished: boolean;
}

/** Where `source` stands now. */
export function replayPosition(source: ReplaySource): ReplayPosition {
  return {
    at: source.position() - source.span.start,
    length: source.span.end - source.span.start,
    speed: source.speed,
    paused: source.paused(),
    finished: source.played() === source.total,
  };
}

/** A player of `records`; nothing plays before {@link ReplayPlayer.start}. */
export function createReplayPlayer(options: ReplayPlayerOptions): ReplayPlayer {
  const { target } = options;
  // Saved tags to the replayed sessions' ids.
  const ids = new Map<string, string>();

  function play(record: ReplayRecord): void {
    switch (record.kind) {
      case 'open': {
        // A named session's tag is its name: it comes back under that name (an `s1` is renumbered in opening order).
        const name = /^s[0-9]+$/.test(record.session) ? {} : { name: record.session };
        ids.set(record.session, target.addSession({ server: record.server, model: record.model, ...name }));
        return;
      }
      case 'update': {
        const id = ids.get(record.session);
        if (id !== undefined) target.sessionUpdate(id, record.update);
        return;
      }
      case 'server':
        target.server(record.root, record.action);
        return;
      case 'wire': {
        // At its original time: the debug view's gaps and stall marks are the ones the live dashboard saw.
        const id = ids.get(record.session);
        const { stream } = record.record;
        const renamed =
          id !== undefined && stream.startsWith(`${record.session} `)
            ? `${target.tagOf(id)}${stream.slice(record.session.length)}`
            : stream;
        target.record(wireRecord({ ...record.record, stream: renamed }));
        return;
      }
      default:
        target.record({
          time: record.time,
          session: target.tagOf(ids.get(record.session) ?? record.session),
          kind: record.kind,
          raw: record.raw,
        });
    }
  }

  const source = createReplaySource({
    records: options.records,
    clock: options.clock,
    ...(options.speed !== undefined ? { speed: options.speed } : {}),
    onRecord: play,
    onEnd: notice,
  });

  function notice(): void {
    const where = `${source.played()}/${source.total}`;
    const text =
      source.played() === source.total
        ? `replay: finished (${where})`
        : source.paused()
          ? `replay: paused at ${where} · space plays · . steps`
          : `replay: playing (${where}) · space pauses`;
    target.notice(text);
  }

  return {
    source,
    start: () => source.start(),
    toggle() {
      source.toggle();
      notice();
    },
    step() {
      source.step();
      notice();
    },
    now: () => source.position(),
    dispose: () => source.dispose(),
  };
}
