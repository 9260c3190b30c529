// A feed event for more watchers than one turn writes (issue 26): the server writes it in slices, yielding between
// batches so that other requests run, and a second event that arrives while the first is still being sliced queues
// behind it on every socket. Every watcher and every /load_model subscriber must get every frame, whole and in order.
import t from 'tap';
import { parseFeedId } from '../src/protocol/feed.js';
import type { SseEvent } from '../src/protocol/sse.js';
import type { LoadedModel, ModelLoader } from '../src/server/loader-types.js';
import { SSE_WRITES_PER_TURN } from '../src/server/sse-stream.js';
import { startServer } from '../src/server/start.js';
import { streamClient, type StreamClient } from './helpers/stream-client.js';
import { gatedLoader } from './helpers/gated-loader.js';
import { until } from './helpers/until.js';

/** More clients than one turn writes to: the first event's last frames wait for the next turn when the second comes. */
const WATCHERS = SSE_WRITES_PER_TURN + 88;
const SUBSCRIBERS = 20;
const MODEL = 'org/sliced';
/** The stages the load reports after `processor`, each its own frame (download and weights would be coalesced). */
const STAGES = ['config', 'processor', 'config', 'processor', 'config', 'processor'] as const;

/**
 * A loader whose one load reports `processor`, waits for `gate`, then reports the first two stages in one go (the
 * first goes to the first batch of sockets at once, its last frames wait for the next turn, and the second queues
 * behind them), and one turn later the others.
 */
function slicedLoader(gate: Promise<void>): ModelLoader {
  return {
    async load(ref, onEvent) {
      onEvent({ type: 'stage', stage: 'processor' });
      await gate;
      onEvent({ type: 'stage', stage: STAGES[0] });
      onEvent({ type: 'stage', stage: STAGES[1] });
      await new Promise((resolve) => setImmediate(resolve));
      for (const stage of STAGES.slice(2)) onEvent({ type: 'stage', stage });
      const model: LoadedModel = {
        ref,
        generate: () => Promise.reject(new Error('not a chat model')),
        dispose: async () => undefined,
      };
      return model;
    },
    listCached: async () => [],
  };
}

const feedRequest = 'GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n';
const loadBody = JSON.stringify({ model: MODEL });
const loadRequest =
  'POST /load_model HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n' +
  `Content-Length: ${loadBody.length}\r\n\r\n${loadBody}`;

/** Opens `n` clients, 100 at a time, each batch once every client of it has its first event. */
async function open(n: number, make: () => StreamClient): Promise<StreamClient[]> {
  const all: StreamClient[] = [];
  for (let i = 0; i < n; i += 100) {
    const batch = Array.from({ length: Math.min(100, n - i) }, make);
    await until('the clients’ first events', () => batch.every((c) => c.read().events.length > 0));
    all.push(...batch);
  }
  return all;
}

const stageOf = (event: SseEvent): string => {
  const data = JSON.parse(event.data) as { status: string; stage?: string };
  return data.status === 'loading' ? (data.stage ?? '') : data.status;
};

t.test(
  'a feed event sliced across turns reaches every watcher whole and in order, a second one arriving mid-slice',
  async (t) => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const server = await startServer({ loader: slicedLoader(gate), logger: false, heartbeatMs: 0 });
    const clients: StreamClient[] = [];
    t.teardown(async () => {
      for (const c of clients) c.socket.destroy();
      await server.close();
    });
    const watchers = await open(WATCHERS, () => streamClient(server.port, feedRequest));
    clients.push(...watchers);
    const subscribers = await open(SUBSCRIBERS, () => streamClient(server.port, loadRequest));
    clients.push(...subscribers);
    release();

    const expected = ['processor', ...STAGES, 'ready'];
    await until('every subscriber’s whole load', () => subscribers.every((s) => s.read().complete), 120_000);
    await until(
      'every watcher’s ready',
      () => watchers.every((w) => w.read().events.some((e) => e.event === 'load' && stageOf(e) === 'ready')),
      120_000,
    );

    const reference = watchers[0]?.read().events.filter((e) => e.event === 'load') ?? [];
    t.strictSame(reference.map(stageOf), expected, 'the first watcher got every stage of the load, in order');
    const ids = reference.map((e) => parseFeedId(e.id ?? '')?.sequence ?? Number.NaN);
    t.ok(
      ids.every((id, i) => i === 0 || id > (ids[i - 1] ?? Number.NaN)),
      `with increasing ids (${ids.join(', ')})`,
    );
    let same = 0;
    for (const w of watchers) {
      const { events } = w.read();
      const loads = events.filter((e) => e.event === 'load');
      if (events[0]?.event === 'snapshot' && JSON.stringify(loads) === JSON.stringify(reference)) same += 1;
    }
    t.equal(same, WATCHERS, 'every watcher got its snapshot, then the same frames, byte for byte, in the same order');
    let whole = 0;
    for (const s of subscribers) {
      const { events, complete } = s.read();
      if (complete && JSON.stringify(events.map(stageOf)) === JSON.stringify(expected)) whole += 1;
    }
    t.equal(whole, SUBSCRIBERS, 'every subscriber got every stage in order, then the end');
  },
);

t.test(
  'a server closing with more load streams than one turn writes: every stream gets ABORTED, then its end',
  async (t) => {
    const gated = gatedLoader();
    const server = await startServer({ loader: gated.loader, logger: false, heartbeatMs: 0 });
    const slowBody = JSON.stringify({ model: 'org/slow' });
    const slowRequest =
      'POST /load_model HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n' +
      `Content-Length: ${slowBody.length}\r\n\r\n${slowBody}`;
    const clients: StreamClient[] = [];
    t.teardown(() => {
      for (const c of clients) c.socket.destroy();
    });
    // The first client starts the load; `processor` is not sent before the loader reports it, so wait for the start.
    clients.push(streamClient(server.port, slowRequest));
    await gated.loadStarted('org/slow@main');
    for (let i = 1; i < WATCHERS; i += 1) clients.push(streamClient(server.port, slowRequest));
    await until('every subscriber attached', () => server.manager.subscriberCount() === WATCHERS, 60_000);
    await server.close();
    const reads = await Promise.all(clients.map((c) => c.readAll(60_000)));
    const whole = reads.filter(
      (r) => r.complete && (JSON.parse(r.events.at(-1)?.data ?? '{}') as { code?: string }).code === 'ABORTED',
    ).length;
    t.equal(whole, WATCHERS, 'every stream ends with ABORTED and its last chunk, none cut by the close');
  },
);
