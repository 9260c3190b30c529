import t from 'tap';
import { demoModelsDir } from './helpers/demo.js';
import { loadModel } from './helpers/sse-client.js';
import { startTestMirror, startTestServer } from './helpers/stack.js';

const MODEL = 'modeldeck/chat-100m';

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
  t.same(transcript.events.at(-1), { status: 'ready', model: `${MODEL}@main`, cached: false });
  t.ok(weightsBegan, 'the weights stage was reported');
  t.ok(answeredDuringWeights > 0, `/health answered ${answeredDuringWeights} times before ready`);
  const weights = transcript.events.filter((e) => e.status === 'loading' && e.stage === 'weights');
  t.ok(weights.length >= 2, `weights progress was reported as it went (${weights.length} events)`);
});
