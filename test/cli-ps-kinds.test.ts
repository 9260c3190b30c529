// `modeldeck ps` against the other kinds of server (issue 24, review): each listed from its own routes, detected by
// the documented probes, instead of every model taken for "cached" from an OpenAI list: Ollama's /api/ps and
// /api/tags, llama.cpp's router /models, vLLM's /v1/models. Real stand-ins on loopback, the real command.
import { Writable } from 'node:stream';
import t from 'tap';
import { runPsCommand } from '../src/cli/ps.js';
import { startLlamacppStandin } from './helpers/llamacpp-standin.js';
import { startOllamaStandin } from './helpers/ollama-standin.js';
import { startVllmStandin } from './helpers/vllm-standin.js';

async function ps(server: string): Promise<{ status: number; json: unknown }> {
  let out = '';
  const stdout = new Writable({
    write(chunk: Buffer, _encoding, done) {
      out += chunk.toString();
      done();
    },
  });
  const stderr = new Writable({ write: (_chunk, _encoding, done) => done() });
  const status = await runPsCommand(['--server', server, '--json'], { stdout, stderr, env: {} });
  return { status, json: status === 0 ? JSON.parse(out) : out };
}

t.test('Ollama: resident from /api/ps with size and expiry, installed from /api/tags on disk', async (t) => {
  const ollama = await startOllamaStandin({
    library: [
      { name: 'qwen3:0.6b', layers: [500, 20] },
      { name: 'tiny', layers: [7] },
    ],
  });
  t.teardown(() => ollama.close());
  ollama.install('qwen3:0.6b');
  ollama.install('tiny');
  const generate = await fetch(`${ollama.url}/api/generate`, {
    method: 'POST',
    body: JSON.stringify({ model: 'qwen3:0.6b' }),
  });
  t.equal(generate.status, 200);
  await generate.text();
  const answer = await ps(ollama.url);
  t.equal(answer.status, 0);
  t.match(answer.json, {
    servers: [
      {
        kind: 'ollama',
        models: [
          { model: 'qwen3:0.6b', state: 'resident', size_bytes: 520, expires_at: String },
          { model: 'tiny:latest', state: 'cached', size_bytes: 7 },
        ],
        cache_bytes: null,
      },
    ],
  });
});

t.test('llama.cpp router: each model by its status; vLLM: the model it serves, resident', async (t) => {
  const router = await startLlamacppStandin({ models: [{ id: 'a-model' }, { id: 'b-model' }] });
  t.teardown(() => router.close());
  const load = await fetch(`${router.url}/models/load`, { method: 'POST', body: JSON.stringify({ model: 'a-model' }) });
  await load.text();
  await until(async () => ((await ps(router.url)).json as Json).servers?.[0]?.models?.[0]?.state === 'resident');
  t.match((await ps(router.url)).json, {
    servers: [
      {
        kind: 'llamacpp',
        models: [
          { model: 'a-model', state: 'resident' },
          { model: 'b-model', state: 'cached' },
        ],
      },
    ],
  });
  const vllm = await startVllmStandin({ model: 'Qwen/Qwen3-0.6B' });
  t.teardown(() => vllm.close());
  t.match((await ps(vllm.url)).json, {
    servers: [{ kind: 'openai', models: [{ model: 'Qwen/Qwen3-0.6B', state: 'resident', size_bytes: null }] }],
  });
});

interface Json {
  servers?: { models?: { state?: string }[] }[];
}

async function until(check: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + 30_000;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('timed out waiting for the router to load');
    await new Promise((r) => setTimeout(r, 40));
  }
}
