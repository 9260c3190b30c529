/**
 * The effect runner: does what the dashboard's update asks of the world (an {@link Effect}, `dashboard-model.ts`),
 * one handler per kind, through the session and feed pools and one-shot requests; whatever comes back (a refused
 * chat, a server's model list, how an unload went, where a save went) returns as an action through `dispatch`. It
 * holds no state but the model prompt's requests in flight. A replay runs its own table: it opens no connection and
 * asks no server, and keeps only each session's opening for Ctrl-S.
 */

import { resolve } from 'node:path';
import { adapterFor, notSupported } from '../client/engine-adapter.js';
import type { Failure } from '../client/failures.js';
import { subscribeLoad } from '../client/load-subscription.js';
import { deleteCachedModel, listModels, unloadModel } from '../client/model-admin.js';
import type { Clock, TimerHandle } from '../common/clock.js';
import { configFileText, sessionsSignature, writeConfigFile, type TaggedSpec } from './config-writer.js';
import type { DashboardAction, Effect } from './dashboard-model.js';
import type { ServerActionEffect } from './server-row-actions.js';
import { feedTag } from './log-tags.js';
import type { FeedPool } from './feed-pool.js';
import { LIST_TIMEOUT_MS } from './model-list.js';
import type { ReplayRecord } from './replay-log.js';
import type { SessionPool } from './session-pool.js';
import type { Notice } from './view-model.js';

/** The effect Ctrl-S asks for. */
export type SaveLogEffect = Extract<Effect, { type: 'save-log' }>;

/** Options of {@link createEffectRunner}. */
export interface EffectRunnerOptions {
  readonly clock: Clock;
  /** Where results go, as actions. */
  readonly dispatch: (action: DashboardAction) => void;
  readonly sessions: SessionPool;
  readonly feeds: FeedPool;
  /** The `fetch` for one-shot requests (unload, the model prompt's `/v1/models`) under a log tag: the wire tap's. */
  readonly fetchFor: (tag: string) => typeof fetch;
  /** Keeps a record for Ctrl-S and replay (here: a session's opening). */
  readonly record: (record: ReplayRecord) => void;
  /** A session's tag, by id. */
  readonly tagOf: (id: string) => string;
  /** Saves the log as Ctrl-S asked; resolves with the notice that says how it went. */
  readonly saveLog: (effect: SaveLogEffect) => Promise<Notice>;
  /** The replay being played, whose pause and step the keys drive; absent in a live dashboard. */
  readonly replay?: { toggle(): void; step(): void } | undefined;
  /** Stops the runtime's I/O, once the model has closed. */
  readonly quit: () => void;
  /** Where a relative path to write the sessions to goes. */
  readonly cwd: string;
  /** Where a typed key's variable is looked for, when the sessions are written (`config-writer.ts`). */
  readonly env: NodeJS.ProcessEnv;
}

/** A runner. */
export interface EffectRunner {
  run(effect: Effect): void;
  /** Aborts the requests in flight and clears their timers (quitting). */
  dispose(): void;
  /** What the quit dialog's saves said, one line each, for the terminal once it is restored. */
  readonly farewell: readonly string[];
}

/** What the handlers read: the options, and where the quit dialog's saves say what they saved. */
interface RunnerContext extends EffectRunnerOptions {
  readonly farewell: (lines: readonly string[]) => void;
}

/** One handler per effect kind. */
type Handlers = { readonly [K in Effect['type']]: (effect: Extract<Effect, { readonly type: K }>) => void };

/** Creates a runner: a replay's when `options.replay` is given, else a live dashboard's. */
export function createEffectRunner(options: EffectRunnerOptions): EffectRunner {
  const asks = createModelAsks(options);
  const farewell: string[] = [];
  const files = { ...options, farewell: (lines: readonly string[]) => void farewell.push(...lines) };
  // The server view's loads in flight: quitting stops following them (the loads go on on their servers).
  const loads = new Set<AbortController>();
  const handlers = options.replay === undefined ? liveHandlers(files, asks, loads) : replayHandlers(files);
  return {
    // Each handler takes its own kind; the table's type keeps it whole, which a `switch` could not prove here.
    run: (effect) => (handlers[effect.type] as (effect: Effect) => void)(effect),
    dispose: () => {
      asks.dispose();
      for (const load of loads) load.abort();
    },
    farewell,
  };
}

/** A live dashboard's: every effect reaches the network. */
function liveHandlers(options: RunnerContext, asks: ModelAsks, loads: Set<AbortController>): Handlers {
  const { sessions, feeds, dispatch } = options;
  return {
    'start-session': (effect) => {
      recordOpen(options, effect);
      sessions.start(effect.id, effect.spec);
    },
    'close-session': (effect) => sessions.close(effect.id),
    retry: (effect) => sessions.retry(effect.id),
    'send-chat': (effect) => {
      if (!sessions.sendChat(effect.id, effect.messages, effect.sampling))
        dispatch({ type: 'chat-refused', id: effect.id });
    },
    'stop-chat': (effect) => void sessions.stopChat(effect.id),
    'save-log': (effect) => save(options, effect),
    'open-feed': (effect) => feeds.open(effect.root, effect.apiKey),
    'close-feed': (effect) => feeds.close(effect.root),
    'poll-models': (effect) => feeds.poll(effect.root, effect.apiKey),
    'list-models': (effect) => asks.ask(effect.root, effect.apiKey),
    unload: (effect) => {
      // The session's kind decides the route; before it is known, modeldeck's `/unload_model` as always.
      const adapter = sessions.adapterOf(effect.id);
      const request = {
        server: effect.server,
        model: effect.model,
        apiKey: effect.apiKey,
        what: effect.kind,
        fetch: options.fetchFor(options.tagOf(effect.id)),
      };
      const asked =
        adapter === undefined
          ? unloadModel(request)
          : adapter.unload
            ? adapter.unload(request)
            : Promise.resolve({ ok: false as const, failure: notSupported(effect.kind, adapter.kind) });
      void asked.then((outcome) =>
        dispatch({
          type: 'unload-done',
          id: effect.id,
          kind: effect.kind,
          model: effect.model,
          failure: outcome.ok ? null : outcome.failure,
          at: options.clock.now(),
        }),
      );
    },
    'server-action': (effect) => serverAction(options, effect, loads),
    quit: () => options.quit(),
    replay: () => {},
    ...fileHandlers(options),
  };
}

/**
 * The server view's `L`, `U`, `C` or `D` on a row: through the adapter of the server's kind when a session there knows it
 * (else modeldeck's routes), tagged in the wire log as the server's feed; how it ended comes back as an action. A
 * load is followed to its end (the feed shows its progress meanwhile).
 */
function serverAction(options: RunnerContext, effect: ServerActionEffect, loads: Set<AbortController>): void {
  // The session's adapter; else the kind the server's polls found (a session still detecting, or none on its model).
  const adapter =
    (effect.via === undefined ? undefined : options.sessions.adapterOf(effect.via)) ??
    (effect.kind === undefined ? undefined : adapterFor(effect.kind));
  const request = {
    server: effect.root,
    model: effect.model,
    apiKey: effect.apiKey,
    fetch: options.fetchFor(feedTag(effect.root)),
  };
  let asked: Promise<{ ok: true } | { ok: false; failure: Failure }>;
  if (effect.action === 'load') {
    const controller = new AbortController();
    loads.add(controller);
    const load = adapter?.load ?? subscribeLoad;
    asked = load({ ...request, signal: controller.signal }).finally(() => loads.delete(controller));
  } else if (effect.action === 'delete') {
    // No adapter known yet: modeldeck's `/delete_model`, as its unload goes to `/unload_model`.
    asked =
      adapter === undefined
        ? deleteCachedModel(request)
        : adapter.deleteModel
          ? adapter.deleteModel(request)
          : Promise.resolve({ ok: false as const, failure: notSupported('delete', adapter.kind) });
  } else {
    const unload = { ...request, what: effect.action };
    asked =
      adapter === undefined
        ? unloadModel(unload)
        : adapter.unload
          ? adapter.unload(unload)
          : Promise.resolve({ ok: false as const, failure: notSupported(unload.what, adapter.kind) });
  }
  void asked.then((outcome) =>
    options.dispatch({
      type: 'server-action-done',
      action: effect.action,
      root: effect.root,
      model: effect.model,
      failure: outcome.ok ? null : outcome.failure,
      at: options.clock.now(),
    }),
  );
}

/** A replay's: nothing reaches the network; the sessions' openings are still kept, for a Ctrl-S of the replay. */
function replayHandlers(options: RunnerContext): Handlers {
  const none = (): void => {};
  return {
    'start-session': (effect) => recordOpen(options, effect),
    'close-session': none,
    retry: none,
    'send-chat': none,
    'stop-chat': none,
    'save-log': (effect) => save(options, effect),
    'open-feed': none,
    'close-feed': none,
    'poll-models': none,
    'list-models': (effect) =>
      options.dispatch({
        type: 'models-listed',
        root: effect.root,
        outcome: { ok: false, message: 'a replay asks no server' },
      }),
    unload: none,
    'server-action': none,
    ...fileHandlers(options),
    quit: () => options.quit(),
    replay: (effect) => {
      if (effect.action === 'toggle') options.replay?.toggle();
      else options.replay?.step();
    },
  };
}

/** What a live dashboard and a replay both do: write the sessions, save and quit. */
function fileHandlers(options: RunnerContext): Pick<Handlers, 'write-sessions' | 'save-and-quit'> {
  return {
    'write-sessions': (effect) =>
      void writeSessions(options, effect.path, effect.overwrite, effect.sessions).then(options.dispatch),
    'save-and-quit': (effect) => void saveAndQuit(options, effect),
  };
}

/** Writes the sessions as a config file; resolves with the action that says how it went. */
async function writeSessions(
  options: EffectRunnerOptions,
  path: string,
  overwrite: boolean,
  sessions: readonly TaggedSpec[],
): Promise<DashboardAction> {
  const target = resolve(options.cwd, path);
  const { text, notes, plainKeys } = configFileText(sessions, options.env);
  const outcome = await writeConfigFile(target, text, { overwrite, private: plainKeys });
  if (outcome.ok) {
    const count = `${sessions.length} session${sessions.length === 1 ? '' : 's'}`;
    return {
      type: 'sessions-written',
      path,
      signature: sessionsSignature(sessions.map((s) => s.spec)),
      text: [`wrote ${count} to ${target}${outcome.replaced ? ' (replacing it)' : ''}`, ...notes].join(' · '),
    };
  }
  if (outcome.exists) return { type: 'sessions-exist', path };
  return { type: 'notice', text: `sessions not written: ${target}: ${outcome.message}`, tone: 'error' };
}

/** The quit dialog's Save & quit: each save in turn; the first that fails keeps the dashboard open, saying why. */
async function saveAndQuit(options: RunnerContext, effect: Extract<Effect, { type: 'save-and-quit' }>) {
  const said: string[] = [];
  const stay = (why: string): void => options.dispatch({ type: 'notice', text: `not quitting: ${why}`, tone: 'error' });
  if (effect.log !== undefined) {
    const saved = await options.saveLog({
      type: 'save-log',
      path: effect.log,
      filter: { session: null, text: '' },
      whole: true,
    });
    if (saved.tone === 'error') return stay(saved.text);
    said.push(saved.text);
  }
  if (effect.sessions !== undefined) {
    const written = await writeSessions(options, effect.sessions.path, true, effect.sessions.sessions);
    if (written.type !== 'sessions-written') return stay(written.type === 'notice' ? written.text : 'not written');
    options.dispatch(written);
    said.push(written.text);
  }
  options.farewell(said);
  options.dispatch({ type: 'shutdown' });
}

function recordOpen(options: EffectRunnerOptions, effect: Extract<Effect, { type: 'start-session' }>): void {
  options.record({
    time: options.clock.now(),
    session: options.tagOf(effect.id),
    kind: 'open',
    server: effect.spec.server,
    model: effect.spec.model,
  });
}

function save(options: EffectRunnerOptions, effect: SaveLogEffect): void {
  void options.saveLog(effect).then((notice) => options.dispatch({ type: 'notice', ...notice }));
}

/** The model prompt's `GET /v1/models` requests in flight. */
interface ModelAsks {
  /** Asks `root` for its models, given up after {@link LIST_TIMEOUT_MS}; the answer comes back as `models-listed`. */
  ask(root: string, apiKey: string | undefined): void;
  /** Aborts every request in flight. */
  dispose(): void;
}

function createModelAsks(options: EffectRunnerOptions): ModelAsks {
  const { clock } = options;
  const asks = new Set<{ abort: AbortController; timer: TimerHandle }>();
  return {
    ask(root, apiKey) {
      const abort = new AbortController();
      let timedOut = false;
      const timer = clock.setTimeout(() => {
        timedOut = true;
        abort.abort();
      }, LIST_TIMEOUT_MS);
      const ask = { abort, timer };
      asks.add(ask);
      void listModels({
        server: root,
        apiKey,
        signal: abort.signal,
        fetch: options.fetchFor(feedTag(root)),
      }).then((outcome) => {
        clock.clearTimeout(timer);
        asks.delete(ask);
        options.dispatch({
          type: 'models-listed',
          root,
          outcome: outcome.ok
            ? { ok: true, ids: outcome.value.map((m) => m.id) }
            : { ok: false, message: timedOut ? `no answer in ${LIST_TIMEOUT_MS / 1000} s` : outcome.failure.message },
        });
      });
    },
    dispose() {
      for (const ask of asks) {
        clock.clearTimeout(ask.timer);
        ask.abort.abort();
      }
      asks.clear();
    },
  };
}
