// Clients that stop reading (issue 27, item 2): every event stream has a write budget. A `GET /events` watcher or a
// `/load_model` subscriber whose client stops reading is dropped once more than 1 MiB waits for it in the server (on
// top of the kernel's buffers), with a last comment saying why, instead of being buffered without bound; a client that
// reads, even in bursts, is kept; a dropped feed watcher that reconnects with Last-Event-ID is given what it missed.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import t from 'tap';
import { parseFeedId } from '../src/protocol/feed.js';
import type { SseEvent } from '../src/protocol/sse.js';
import { LoadError, type LoadedModel, type ModelLoader, type ModelRef } from '../src/server/loader-types.js';
import { SSE_WRITE_BUDGET_BYTES } from '../src/server/sse-stream.js';
import { startServer, type RunningServer } from '../src/server/start.js';
import { streamClient, type StreamClient } from './helpers/stream-client.js';
import { until } from './helpers/until.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** What this process holds in JavaScript objects and buffers after a full garbage collection, in bytes. */
function heldBytes(): number {
  gc();
  const { heapUsed, external } = process.memoryUsage();
  return heapUsed + external;
}

const MB = 1_000_000;
const DROPPED = /^dropped: client not reading \(over 1 MiB buffered\)$/;
/** A load error's message this long makes a feed event of about 16 KB. */
const FILLER = 'x'.repeat(16_000);
/** A model whose load reports many stages; its long id makes each event about 290 bytes. */
const STAGES_MODEL = `org/stages-${'s'.repeat(200)}`;

/** What the scripted loader does. */
interface Script {
  /** Stage events `STAGES_MODEL`'s load reports after its first, alternating stages (each goes out at once). */
  readonly stages?: number;
  /** Awaited after the first stage event, before the others. */
  readonly gate?: Promise<void>;
}

/**
 * A scripted loader, so that what is measured is the server itself (its routes, feed and sockets). `org/fail-*`
 * fails at once with a 16 KB message (large feed events, which fill the kernel's buffers of a watcher, about 4 MB on
 * loopback, in a few hundred events); `STAGES_MODEL` reports its stages; any other model loads at once and answers
 * every chat with "ok" at once.
 */
function scriptedLoader(script: Script = {}): ModelLoader {
  const model = (ref: ModelRef): LoadedModel => ({
    ref,
    async generate(_prompt, _options, onText) {
      onText('ok');
      return { finishReason: 'stop', promptTokens: 3, completionTokens: 1 };
    },
    dispose: async () => undefined,
  });
  return {
    async load(ref, onEvent) {
      if (ref.id.startsWith('org/fail-')) throw new LoadError('LOAD_FAILED', `${ref.key} cannot load: ${FILLER}`);
      if (ref.id === STAGES_MODEL) {
        onEvent({ type: 'stage', stage: 'processor' });
        await script.gate;
        for (let i = 1; i <= (script.stages ?? 0); i++) {
          onEvent({ type: 'stage', stage: i % 2 === 0 ? 'processor' : 'config' });
          // A breath between batches, so that sockets are written to as they would be during a real load.
          if (i % 500 === 0) await new Promise((resolve) => setImmediate(resolve));
        }
      }
      return model(ref);
    },
    listCached: async () => [],
  };
}

function post(server: RunningServer, path: string, body: unknown): Promise<Response> {
  return fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

/** `count` chats on `model`, 8 at a time; resolves with the statuses that were not 200. */
async function chats(server: RunningServer, model: string, count: number): Promise<number[]> {
  const failed: number[] = [];
  let sent = 0;
  const client = async (): Promise<void> => {
    while (sent < count) {
      sent += 1;
      const res = await post(server, '/v1/chat/completions', {
        model,
        max_tokens: 1,
        messages: [{ role: 'user', content: 'hi' }],
      });
      await res.arrayBuffer();
      if (res.status !== 200) failed.push(res.status);
    }
  };
  await Promise.all(Array.from({ length: 8 }, client));
  return failed;
}

/** `count` loads of models that fail with a 16 KB message: as many large `load` events on the feed. */
async function fillerEvents(server: RunningServer, count: number): Promise<void> {
  for (let i = 0; i < count; i += 8) {
    const batch = Array.from({ length: Math.min(8, count - i) }, (_, j) =>
      post(server, '/load_model', { model: `org/fail-${i + j}` }).then((res) => res.text()),
    );
    await Promise.all(batch);
  }
}

function feedRequest(lastEventId?: string): string {
  const resume = lastEventId === undefined ? '' : `Last-Event-ID: ${lastEventId}\r\n`;
  return `GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n${resume}\r\n`;
}

/** A feed watcher that stops reading once it has its snapshot. */
function stalledWatcher(server: RunningServer): StreamClient {
  return streamClient(server.port, feedRequest(), (text) => text.includes('event: snapshot'));
}

/** Connections open on the server (the chats' keep-alive connections among them). */
function connections(server: RunningServer): Promise<number> {
  return new Promise((resolve, reject) =>
    server.app.server.getConnections((error, count) => (error ? reject(error) : resolve(count))),
  );
}

function sequence(id: string | undefined): number {
  const parsed = parseFeedId(id ?? '');
  if (parsed === undefined) throw new Error(`not a feed id: ${id}`);
  return parsed.sequence;
}

/** The ids of `events` follow each other with no gap. */
function contiguous(events: readonly SseEvent[]): boolean {
  return events.every((event, i) => i === 0 || sequence(event.id) === sequence(events[i - 1]?.id) + 1);
}

t.test(
  '100 feed watchers that stop reading, during a burst of events and chats, are dropped: memory stays flat',
  async (t) => {
    const server = await startServer({ loader: scriptedLoader(), logger: false, maxQueue: 0, heartbeatMs: 0 });
    t.teardown(() => server.close());
    t.strictSame(await chats(server, 'org/chat', 1), [], 'the chat model is resident');
    const watchers = Array.from({ length: 100 }, () => stalledWatcher(server));
    await Promise.all(watchers.map((w) => w.stalled));
    const before = heldBytes();

    // About 4.8 MB of large events, then 3,000 chats (a chat_start and a chat_end each, 1.1 MB in all): past the
    // kernel's buffers of a socket that is not read, and past the write budget.
    await fillerEvents(server, 300);
    // A watcher that reads the chats in bursts: 100 ms reading, 100 ms not, keeping up on average.
    const slow = streamClient(server.port, feedRequest());
    await until('the bursty watcher’s snapshot', () => slow.read().events[0]);
    const toggle = setInterval(() => (slow.socket.isPaused() ? slow.socket.resume() : slow.socket.pause()), 100);
    t.teardown(() => clearInterval(toggle));
    t.strictSame(await chats(server, 'org/chat', 3000), [], 'every chat answered 200');
    const after = heldBytes();
    t.ok(
      after - before < 50 * MB,
      `the server holds ${((after - before) / MB).toFixed(1)} MB more than before the burst (at most 50)`,
    );

    clearInterval(toggle);
    slow.socket.resume();
    await until('the bursty watcher to have every event', () => slow.read().events.length >= 1 + 6000);
    slow.socket.destroy();
    const read = slow.read();
    t.notOk(
      read.comments.some((c) => DROPPED.test(c)),
      'a watcher that reads in bursts, keeping up, is not dropped',
    );
    t.ok(contiguous(read.events), `it got every event, in order (${read.events.length})`);
    // Each stalled one was dropped: the server closes its connection once it gives up on its reading to the end.
    await until('the stalled watchers’ connections closed by the server', async () => (await connections(server)) < 20);
  },
);

t.test('a dropped feed watcher that reconnects with Last-Event-ID gets every event it missed', async (t) => {
  const server = await startServer({ loader: scriptedLoader(), logger: false, heartbeatMs: 0 });
  t.teardown(() => server.close());
  await chats(server, 'org/chat', 1);
  const watcher = stalledWatcher(server);
  await watcher.stalled;
  // About 6.4 MB: past what the kernel holds for the socket (about 4 MB) and the write budget (1 MiB).
  await fillerEvents(server, 400);
  await chats(server, 'org/chat', 20);
  const read = await watcher.readAll();
  t.ok(read.complete, 'the stream ended');
  t.match(read.comments.at(-1), DROPPED, 'dropped, and told why');
  const seen = read.events.filter((e) => e.event === 'chat_end').length;

  const again = streamClient(server.port, feedRequest(read.lastId));
  const missed = await until('the missed events up to the last chat', () => {
    const { events } = again.read();
    return events.filter((e) => e.event === 'chat_end').length + seen === 20 ? events : undefined;
  });
  again.socket.destroy();
  t.not(missed[0]?.event, 'snapshot', 'no snapshot: the history holds what it missed');
  t.equal(sequence(missed[0]?.id), sequence(read.lastId) + 1, 'resumed right after the last event it had');
  t.ok(contiguous(missed), 'with no gap');
});

t.test('a /load_model subscriber that stops reading is dropped; the load and the other subscriber go on', async (t) => {
  // About 11.6 MB of events: several times what the kernel holds for a socket, and the write budget.
  const STAGES = 40_000;
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const server = await startServer({ loader: scriptedLoader({ stages: STAGES, gate }), logger: false, heartbeatMs: 0 });
  t.teardown(() => server.close());
  const body = JSON.stringify({ model: STAGES_MODEL });
  const request =
    'POST /load_model HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n' +
    `Content-Length: ${body.length}\r\n\r\n${body}`;
  const reading = streamClient(server.port, request);
  await until('the first subscriber’s first event', () => reading.read().events[0]);
  const stalled = streamClient(server.port, request, (text) => text.includes('"stage": "processor"'));
  await stalled.stalled;
  open();
  const whole = await reading.readAll();
  t.equal(whole.events.length, STAGES + 2, 'the reading subscriber got every event and the end');
  t.match(JSON.parse(whole.events.at(-1)?.data ?? '{}'), { status: 'ready', model: `${STAGES_MODEL}@main` });
  const dropped = await stalled.readAll();
  t.match(dropped.comments.at(-1), DROPPED, 'the stalled one was dropped, and told why');
  t.ok(dropped.events.length < STAGES, `before the end (${dropped.events.length} events)`);
  const models = (await (await fetch(`${server.url}/v1/models`)).json()) as { data: { id: string; status: string }[] };
  t.match(models.data, [{ id: `${STAGES_MODEL}@main`, status: 'loaded' }], 'the model loaded');
  t.equal(server.manager.subscriberCount(), 0, 'no subscriber left behind');
  t.equal(SSE_WRITE_BUDGET_BYTES, 1024 * 1024, 'the budget is the documented 1 MiB');
});
