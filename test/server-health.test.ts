import t from 'tap';
import { isTerminal, type LoadEvent } from '../src/protocol/events.js';
import { demoModelsDir } from './helpers/demo.js';
import { loadModel, stagesOf, type LoadTranscript } from './helpers/sse-client.js';
import { startTestMirror, startTestServer } from './helpers/stack.js';

const MODEL = 'modeldeck/chat-100m';
const OTHER = 'modeldeck/tiny-chat';

const isWeights = (e: LoadEvent): boolean => e.status === 'loading' && e.stage === 'weights';

t.test('GET /health answers while the 100 MB model loads its weights', async (t) => {
  const root = await demoModelsDir([MODEL]);
  const mirror = await startTestMirror(root);
  t.teardown(() => mirror.close());
  const server = await startTestServer({ hubUrl: mirror.url, heartbeatMs: 50 });
  t.teardown(() => server.close());

  // Once the weights stage begins, poll /health back to back and note which answers arrive before `ready`.
  let weightsBegan = false;
  let ready = false;
  let answeredDuringWeights = 0;
  let polling: Promise<void> | undefined;
  const poll = async (): Promise<void> => {
    while (!ready) {
      const res = await fetch(`${server.url}/health`);
      const body = (await res.json()) as unknown;
      t.same(body, { status: 'ok' });
      if (!ready) answeredDuringWeights += 1;
    }
  };
  const transcript = await loadModel(server.url, MODEL, {
    onEvent: (e) => {
      if (e.status === 'loading' && e.stage === 'weights' && !weightsBegan) {
        weightsBegan = true;
        polling = poll();
      }
      if (e.status !== 'loading') ready = true;
    },
  });
  await polling;
  t.match(transcript.events.at(-1), { status: 'ready', model: `${MODEL}@main`, cached: false });
  t.ok(weightsBegan, 'the weights stage was reported');
  t.ok(answeredDuringWeights > 0, `/health answered ${answeredDuringWeights} times before ready`);
  const weights = transcript.events.filter((e) => e.status === 'loading' && e.stage === 'weights');
  t.ok(weights.length >= 2, `weights progress was reported as it went (${weights.length} events)`);
});

type Frame = { kind: 'event'; event: LoadEvent } | { kind: 'comment'; text: string };

/** A transcript's frames in arrival order, each event resolved. */
function timeline(transcript: LoadTranscript): Frame[] {
  return transcript.frames.map((frame) =>
    frame.kind === 'comment' ? frame : { kind: 'event', event: transcript.events[frame.index] as LoadEvent },
  );
}

t.test('heartbeats keep flowing while the 100 MB model reads its weights and builds its session', async (t) => {
  const root = await demoModelsDir([MODEL]);
  const mirror = await startTestMirror(root);
  t.teardown(() => mirror.close());
  // 5 ms: far shorter than the weights stage, whose last item (the session build) reports nothing for tens of ms.
  // A heartbeat is a timer on the main thread, armed again by every frame: it fires only in a silence, and only when
  // the main thread is free. Were the weights read or the session built on it, no heartbeat could be written (nor read
  // by this client, in the same process) until the build ended, and `ready` would follow the completion at once.
  const server = await startTestServer({ hubUrl: mirror.url, heartbeatMs: 5 });
  t.teardown(() => server.close());

  const transcript = await loadModel(server.url, MODEL);
  t.match(transcript.events.at(-1), { status: 'ready', model: `${MODEL}@main`, cached: false });
  t.equal(transcript.events.filter(isTerminal).length, 1, 'exactly one terminal event');
  t.same(
    transcript.comments.filter((c) => c !== 'keep-alive'),
    [],
    'every comment is a heartbeat',
  );
  t.equal(
    transcript.frames.length,
    transcript.events.length + transcript.comments.length,
    'every event and comment is in the timeline',
  );

  const frames = timeline(transcript);
  const firstWeights = frames.findIndex((f) => f.kind === 'event' && isWeights(f.event));
  const ready = frames.findIndex((f) => f.kind === 'event' && isTerminal(f.event));
  // The weights events, by position in the timeline: the last is the session build's completion.
  const weights = frames.flatMap((f, i) => (f.kind === 'event' && isWeights(f.event) ? [{ i, e: f.event }] : []));
  const done = weights.at(-1);
  const before = weights.at(-2);
  t.ok(firstWeights >= 0 && ready > firstWeights, 'the weights stage came before ready');
  t.ok(done && before, `at least two weights events (${weights.length})`);
  if (!done || !before || firstWeights < 0 || ready < 0) return;
  const progressOf = (e: LoadEvent) => (e.status === 'loading' ? e.progress : undefined);
  const total = progressOf(done.e)?.total;
  t.equal(progressOf(done.e)?.current, total, 'the last weights event is the completed session (current == total)');
  t.equal(ready, done.i + 1, 'ready directly follows the completed session');

  const heartbeats = (from: number, to: number): number =>
    frames.slice(from + 1, to).filter((f) => f.kind === 'comment').length;
  const duringWeights = heartbeats(firstWeights, ready);
  // The session build is the last item: it starts once the last block is read (current == total - 1) and ends with
  // the completion. Progress is coalesced (about 10 events a second), so the all-blocks-read event may go out late,
  // even in the middle of the build, and the silence right before the completion can be arbitrarily short. The last
  // event with current < total - 1 went out before the last block was read: the window from it to the completion
  // holds the whole build (and at most that one other event).
  const blocks = (total ?? 0) - 1;
  const opener = weights.findLast((w) => (progressOf(w.e)?.current ?? 0) < blocks) ?? before;
  const aroundBuild = heartbeats(opener.i, done.i);
  const lastSilence = heartbeats(before.i, done.i);
  t.comment(
    `heartbeats: ${transcript.comments.length} in all, ${duringWeights} between the first weights event and ready ` +
      `(${weights.length} weights events); ${aroundBuild} from ${JSON.stringify(progressOf(opener.e))} ` +
      `to the completion, ${lastSilence} in the silence right before it`,
  );
  // More than one: when a blocked main thread is released, the overdue heartbeat timer may fire once before the
  // frames that queued up meanwhile; a second heartbeat needs the loop free for another 5 ms with nothing to send.
  t.ok(duringWeights >= 2, `heartbeats kept arriving between the first weights event and ready (${duringWeights})`);
  t.ok(aroundBuild > 0, `heartbeats arrived in the window holding the session build (${aroundBuild})`);
});

t.test('another model streams its load while the 100 MB model loads its weights', async (t) => {
  const root = await demoModelsDir([MODEL, OTHER]);
  const mirror = await startTestMirror(root);
  t.teardown(() => mirror.close());
  const server = await startTestServer({ hubUrl: mirror.url, heartbeatMs: 50 });
  t.teardown(() => server.close());

  // One sequence number per event across both streams, in the order this process read them.
  let seq = 0;
  let bigWeightsAt: number | undefined;
  let bigReadyAt: number | undefined;
  const otherAt: number[] = [];
  let second: Promise<LoadTranscript> | undefined;
  const big = await loadModel(server.url, MODEL, {
    onEvent: (e) => {
      seq += 1;
      if (isWeights(e) && second === undefined) {
        bigWeightsAt = seq;
        // Started only once this client has seen the big model enter its weights stage, however slow the machine.
        second = loadModel(server.url, OTHER, { onEvent: () => void otherAt.push(++seq) });
        // Awaited below, after the big stream ends; this keeps an early failure from being an unhandled rejection.
        second.catch(() => undefined);
      }
      if (isTerminal(e)) bigReadyAt = seq;
    },
  });
  t.match(big.events.at(-1), { status: 'ready', model: `${MODEL}@main`, cached: false });
  t.equal(big.events.filter(isTerminal).length, 1, 'the big stream has exactly one terminal event');
  const weightsAt = bigWeightsAt;
  const readyAt = bigReadyAt;
  if (!second || weightsAt === undefined || readyAt === undefined) {
    t.fail('the big model reported no weights stage, or no terminal event');
    return;
  }
  const small = await second;
  t.equal(small.status, 200);
  t.same(stagesOf(small.events), ['processor', 'config', 'download', 'weights', 'ready'], 'a full load of the other');
  t.match(small.events.at(-1), { status: 'ready', model: `${OTHER}@main`, cached: false });
  t.equal(small.events.filter(isTerminal).length, 1, 'the second stream has exactly one terminal event');

  const firstOther = otherAt[0];
  const duringBig = otherAt.filter((n) => n < readyAt).length;
  t.comment(
    `big stream: first weights event #${weightsAt}, ready #${readyAt}; second stream: events ${otherAt.join(', ')} ` +
      `(${duringBig} before the big model's ready)`,
  );
  // The second stream's first frame (its `processor` stage) is written by the request handler itself, a few turns
  // of the main thread after the request arrives; the big model's `ready` needs its worker to read 100 MB and build
  // a session first. Were that done on the main thread, this client (same process) would read the first weights
  // event only after the build, together with `ready`, and send the second request after both; a slow machine slows
  // both sides alike. Only the first frame is ordered: the rest of the second load is not, since its processor stage
  // starts a worker (the better part of a second here) and may well outlast the big model's whole weights stage.
  t.ok(
    firstOther !== undefined && firstOther > weightsAt && firstOther < readyAt,
    `the second stream's first event (#${firstOther}) arrived during the big model's weights stage ` +
      `(#${weightsAt} to #${readyAt})`,
  );
});
