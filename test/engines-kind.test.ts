// Naming a server's kind: `--kind` on the dashboard and `modeldeck load`, `"kind"` in a config session (written back
// by Ctrl-S), each refused with a message that says what to write; a model name per kind.
import { PassThrough } from 'node:stream';
import t from 'tap';
import { resolveDashboardArgs } from '../src/cli/dashboard.js';
import { runLoadCommand } from '../src/cli/load.js';
import { modelProblem, parseServerKind } from '../src/client/server-kind.js';
import { configFileText } from '../src/tui/config-writer.js';
import { parseDashboardConfig } from '../src/tui/config.js';

t.test('kinds by name', async (t) => {
  t.equal(parseServerKind('ollama'), 'ollama');
  t.equal(parseServerKind('VLLM'), 'openai', 'vllm is openai');
  t.equal(parseServerKind('llama.cpp'), 'llamacpp');
  t.equal(parseServerKind('transformers-serve'), 'transformers-serve');
  t.equal(parseServerKind('lmstudio'), undefined);
});

t.test('model names: Hub ids unless the kind names its own', async (t) => {
  t.match(modelProblem('qwen3:0.6b', undefined), /qwen3:0\.6b/, 'a tagged name needs a kind');
  t.equal(modelProblem('qwen3:0.6b', 'ollama'), undefined);
  t.equal(modelProblem('org/repo-GGUF:Q4_K_M', 'llamacpp'), undefined);
  t.match(modelProblem('a b', 'ollama'), /whitespace/);
  t.match(modelProblem('', 'openai'), /empty/);
});

t.test('a config session names its kind, and Ctrl-S writes it back', async (t) => {
  const text = JSON.stringify({
    sessions: [{ server: 'http://box:11434', model: 'qwen3:0.6b', kind: 'ollama' }],
  });
  const [spec] = parseDashboardConfig(text, {});
  t.same(spec, { server: 'http://box:11434', model: 'qwen3:0.6b', kind: 'ollama' });
  const written = configFileText([{ tag: 's1', spec: spec! }], {}).text;
  t.match(written, '"kind": "ollama"');
  t.same(parseDashboardConfig(written, {}), [spec], 'round trip');
  t.throws(
    () =>
      parseDashboardConfig(
        JSON.stringify({ sessions: [{ server: 'http://a:1', model: 'o/m', kind: 'lmstudio' }] }),
        {},
      ),
    /"kind": unknown server kind "lmstudio"; choose one of modeldeck, transformers-serve, ollama, llamacpp, openai/,
  );
  t.throws(
    () => parseDashboardConfig(JSON.stringify({ sessions: [{ server: 'http://a:1', model: 'qwen3:0.6b' }] }), {}),
    /"model":/,
    'a tagged name without a kind is refused',
  );
});

t.test('--kind on the dashboard and on modeldeck load', async (t) => {
  const config = await resolveDashboardArgs(
    ['--server', 'http://a:1', '--kind', 'ollama', '--model', 'qwen3:0.6b'],
    {},
  );
  t.same(config?.sessions, [{ server: 'http://a:1', model: 'qwen3:0.6b', kind: 'ollama' }]);
  await t.rejects(
    resolveDashboardArgs(['--server', 'http://a:1', '--kind', 'nope', '--model', 'o/m'], {}),
    /--kind: unknown server kind "nope"/,
  );
  await t.rejects(resolveDashboardArgs(['--kind', 'ollama'], {}), /--kind needs a --server/);
  await t.rejects(
    resolveDashboardArgs(['--server', 'http://a:1', '--model', 'qwen3:0.6b'], {}),
    /--model: .*qwen3:0\.6b/,
  );
  const stdout = new PassThrough();
  let help = '';
  stdout.on('data', (c: Buffer) => (help += c.toString()));
  t.equal(await runLoadCommand(['--help'], { stdout }), 0);
  t.match(help, '--kind KIND');
  await t.rejects(runLoadCommand(['--server', 'http://a:1', '--kind', 'x', 'o/m']), /--kind: unknown server kind "x"/);
});

t.test('modeldeck check gives a capabilities report for kinds without /load_model', async (t) => {
  const { startOllamaStandin } = await import('./helpers/ollama-standin.js');
  const { startVllmStandin } = await import('./helpers/vllm-standin.js');
  const { runCheckCommand } = await import('../src/cli/check.js');
  const ollama = await startOllamaStandin({ library: [{ name: 'qwen3:0.6b', layers: [1000] }] });
  t.teardown(() => ollama.close());
  const vllm = await startVllmStandin({ model: 'org/served' });
  t.teardown(() => vllm.close());
  const run = async (argv: string[]) => {
    const stdout = new PassThrough();
    let out = '';
    stdout.on('data', (c: Buffer) => (out += c.toString()));
    const code = await runCheckCommand(argv, { stdout, env: {} });
    return { code, out };
  };
  const o = await run([ollama.url, '--model', 'qwen3:0.6b']);
  t.equal(o.code, 0, o.out);
  t.match(o.out, /server kind: ollama \(GET \/api\/version answered version/);
  t.match(o.out, /unload\s+yes\s+POST \/api\/generate with keep_alive 0/);
  t.match(o.out, /GET \/api\/ps\s+200/);
  t.notOk(
    ollama.requests.some((r) => r.startsWith('POST')),
    'nothing loaded or pulled',
  );
  const v = await run([vllm.url, '--model', 'org/served']);
  t.equal(v.code, 0, v.out);
  t.match(v.out, /server kind: openai/);
  t.match(v.out, /unload\s+no\s+not supported by openai/);
  t.match(v.out, /GET \/metrics\s+200 vllm: metrics/);
  const missing = await run([vllm.url, '--model', 'org/other', '--json']);
  t.equal(missing.code, 1, 'a model the server does not serve: exit 1');
  t.match(JSON.parse(missing.out), { kind: 'openai', ok: false });
});
