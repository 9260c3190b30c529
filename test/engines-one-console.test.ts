// The finish line: one dashboard, one session per kind of server, each on its stand-in on loopback (a real
// modeldeck server for its own kind): Ollama's pull as a download gauge then ready, llama.cpp's staged load from
// /models/sse, vLLM starting then ready, transformers serve and modeldeck as before, and a streamed reply in each.
import t from 'tap';
import { demoModelsDir } from './helpers/demo.js';
import { cellText, openDashboard, startKillableServer } from './helpers/dashboard.js';
import { startLlamacppStandin } from './helpers/llamacpp-standin.js';
import { startOllamaStandin } from './helpers/ollama-standin.js';
import { startTestMirror } from './helpers/stack.js';
import { until } from './helpers/until.js';
import { startUpstreamStandin } from './helpers/upstream-standin.js';
import { startVllmStandin } from './helpers/vllm-standin.js';

t.test('one session per kind: each loads its own way, then answers', async (t) => {
  const mirror = await startTestMirror(await demoModelsDir(['modeldeck/tiny-chat']));
  t.teardown(() => mirror.close());
  const modeldeck = await startKillableServer(mirror.url);
  t.teardown(() => modeldeck.close());
  const upstream = await startUpstreamStandin({ models: ['org/chat'], today: { reasoning: ['Hm.'] } });
  t.teardown(() => upstream.close());
  const ollama = await startOllamaStandin({ library: [{ name: 'qwen3:0.6b', layers: [300_000, 1_000] }], lineMs: 60 });
  t.teardown(() => ollama.close());
  const router = await startLlamacppStandin({ models: [{ id: 'org/gguf', download: [400_000] }], frameMs: 60 });
  t.teardown(() => router.close());
  const vllm = await startVllmStandin({ model: 'org/served', starting: true });
  t.teardown(() => vllm.close());

  const sessions = [
    { server: modeldeck.url, model: 'modeldeck/tiny-chat' },
    { server: upstream.url, model: 'org/chat' },
    { server: ollama.url, model: 'qwen3:0.6b', kind: 'ollama' as const },
    { server: router.url, model: 'org/gguf' },
    { server: vllm.url, model: 'org/served' },
  ];
  const { dash, input } = openDashboard(t, { sessions, maxTokens: 6 });
  const state = (i: number) => dash.sessions()[i];
  await until(
    'Ollama’s pull as a download gauge',
    () => state(2)?.stage === 'download' && (state(2)?.download?.current ?? 0) > 0,
  );
  await until('vLLM starting', () => state(4)?.stage === 'starting');
  vllm.becomeReady();
  await until(
    'every session ready',
    () => dash.sessions().every((s) => s.phase === 'ready' || s.phase === 'cached'),
    120_000,
  );
  t.same(
    state(3)?.stages.map((s) => s.name),
    ['download', 'load', 'model'],
    'llama.cpp’s staged load from /models/sse',
  );
  const kinds = dash
    .logEntries()
    .map((e) => /server kind: ([a-z-]+)/.exec(e.raw)?.[1])
    .filter((k) => k !== undefined);
  t.same(new Set(kinds), new Set(['modeldeck', 'transformers-serve', 'ollama', 'llamacpp', 'openai']), 'every kind');

  for (let i = 0; i < sessions.length; i++) {
    await until(`focus on session ${i + 1}`, () => dash.ui().focus === i || (input.write('\t'), false));
    input.write('\rhello\r');
    await until(`the reply of session ${i + 1}`, () => {
      const last = state(i)?.transcript.at(-1);
      return last?.role === 'assistant' && !last.streaming && last.content !== '' ? last : undefined;
    });
    input.write('\x1b');
    await until('out of the input line', () => !dash.ui().composing);
  }
  t.match(cellText(dash, 1, 5), 'thinking: Hm.', 'transformers serve’s reasoning apart');

  // The servers' own figures of a reply's speed, beside the one measured over the wire: Ollama's durations (3 tokens
  // in 0.6 ms, 7 prompt tokens in 0.4 ms), llama.cpp's timings (100 tok/s, 5 prompt tokens in 12.5 ms).
  const rounded = (i: number) => {
    const timings = state(i)?.transcript.at(-1)?.metrics?.serverTimings;
    return [timings?.tokensPerSecond, timings?.promptTokensPerSecond].map((v) => (v === undefined ? v : Math.round(v)));
  };
  t.strictSame(rounded(2), [5000, 17500], 'Ollama: from eval_count / eval_duration');
  t.strictSame(rounded(3), [100, 400], 'llama.cpp: from its timings');
  t.strictSame(rounded(0), [undefined, undefined], 'modeldeck sends none: none shown');
  t.match(cellText(dash, 3, 5), 'server 100.0 tok/s', 'under the reply');
});
