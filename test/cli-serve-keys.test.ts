import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { demoModelsDir } from './helpers/demo.js';
import { listeningUrl, startTestMirror } from './helpers/stack.js';
import { modeldeckBin } from './helpers/repo.js';
import { untracked } from './helpers/untracked.js';

// `modeldeck serve`'s keys as a user gives them: the compiled bin in a child process, flags and environment.
const bin = modeldeckBin;
const MODEL = 'modeldeck/tiny-chat';
// No key of the machine running the tests may leak into a run.
const CLEAN = { MODELDECK_API_KEY: '', MODELDECK_WATCH_KEYS: '', HF_TOKEN: '' };

const mirror = await startTestMirror(await demoModelsDir());
const cache = await mkdtemp(join(tmpdir(), 'modeldeck-keys-'));
t.teardown(async () => {
  await mirror.close();
  await rm(cache, { recursive: true, force: true });
});

interface Serve {
  readonly url: string;
  /** Stops the server (SIGTERM); resolves with its exit status and everything it wrote. */
  stop(): Promise<{ code: number | null; stdout: string; stderr: string }>;
}

async function serve(args: string[], env: NodeJS.ProcessEnv): Promise<Serve> {
  const [command, argv] = untracked(process.execPath, [
    bin,
    'serve',
    '--port',
    '0',
    '--hub-url',
    mirror.url,
    '--cache-dir',
    cache,
    '--log-level',
    'trace',
    ...args,
  ]);
  const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...CLEAN, ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
  const url = await listeningUrl(child);
  return {
    url,
    async stop() {
      child.kill('SIGTERM');
      return { code: await closed, stdout, stderr };
    },
  };
}

function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const [command, argv] = untracked(process.execPath, [bin, ...args]);
    const child = spawn(command, argv, { env: { ...process.env, ...CLEAN, ...env }, stdio: 'pipe' });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

async function status(url: string, method: string, path: string, key?: string): Promise<number> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: {
      'content-type': 'application/json',
      ...(key === undefined ? {} : { authorization: `Bearer ${key}` }),
    },
    ...(method === 'POST' ? { body: JSON.stringify({ model: MODEL }) } : {}),
  });
  await res.arrayBuffer();
  return res.status;
}

t.test('--watch-key (repeated) beside MODELDECK_API_KEY: reads only; no key in the output', async (t) => {
  const FULL = 'sk-cli-full-39d1';
  const W1 = 'wk-cli-one-8c2f';
  const W2 = 'wk-cli-two-71aa';
  const server = await serve(['--watch-key', W1, '--watch-key', W2], { MODELDECK_API_KEY: FULL });
  for (const key of [W1, W2]) {
    t.equal(await status(server.url, 'GET', '/v1/models', key), 200, 'a watch key lists the models');
    t.equal(await status(server.url, 'POST', '/load_model', key), 403, 'and may not load');
    t.equal(await status(server.url, 'POST', '/unload_model', key), 403, 'or unload');
  }
  t.equal(await status(server.url, 'GET', '/v1/models'), 401, 'no key: 401');
  t.equal(await status(server.url, 'GET', '/v1/models', FULL), 200, 'the full key from the variable');
  t.equal(await status(server.url, 'POST', '/unload_model', FULL), 404, 'may unload (nothing is loaded: 404)');
  const { code, stdout, stderr } = await server.stop();
  t.equal(code, 0, 'stops cleanly');
  t.match(stderr, /"statusCode":403/, 'the log (trace level) has the refusals');
  for (const key of [FULL, W1, W2]) {
    t.notOk(stdout.includes(key) || stderr.includes(key), 'no key in what the server wrote');
  }
});

t.test('MODELDECK_WATCH_KEYS: comma-separated, and replaced by --watch-key flags', async (t) => {
  const FULL = 'sk-cli-full-env';
  const fromEnv = await serve([], { MODELDECK_API_KEY: FULL, MODELDECK_WATCH_KEYS: 'wk-env-a, wk-env-b' });
  t.equal(await status(fromEnv.url, 'GET', '/v1/models', 'wk-env-a'), 200, 'the first key of the variable');
  t.equal(await status(fromEnv.url, 'GET', '/v1/models', 'wk-env-b'), 200, 'the second (spaces around it ignored)');
  t.equal(await status(fromEnv.url, 'POST', '/reset', 'wk-env-b'), 403, 'reads only');
  t.equal((await fromEnv.stop()).code, 0);

  const flagsWin = await serve(['--watch-key', 'wk-flag', '--api-key', FULL], { MODELDECK_WATCH_KEYS: 'wk-env-a' });
  t.equal(await status(flagsWin.url, 'GET', '/v1/models', 'wk-flag'), 200, 'the flag');
  t.equal(await status(flagsWin.url, 'GET', '/v1/models', 'wk-env-a'), 401, 'the variable is not used beside flags');
  t.equal((await flagsWin.stop()).code, 0);
});

t.test('keys that cannot be used stop serve at start: exit 2, saying why, never showing the key', async (t) => {
  const full = { MODELDECK_API_KEY: 'sk-cli-full-x' };
  const cases: [string, string[], NodeJS.ProcessEnv, RegExp, string][] = [
    ['an empty --watch-key', ['--watch-key', ''], full, /^modeldeck: --watch-key is empty/, ''],
    [
      'a space',
      ['--watch-key', 'wk-has space'],
      full,
      /^modeldeck: --watch-key has a space.*\(character 7 of 12\).*printable ASCII without spaces/,
      'wk-has space',
    ],
    [
      'a control character, in the second flag',
      ['--watch-key', 'wk-fine', '--watch-key', 'wk-\u0007bell'],
      full,
      /^modeldeck: --watch-key #2 has .*a control character/,
      'wk-\u0007bell',
    ],
    [
      'the same key as both kinds',
      ['--watch-key', 'sk-both-kinds', '--api-key', 'sk-both-kinds'],
      {},
      /^modeldeck: --watch-key is also the full key \(--api-key\)/,
      'sk-both-kinds',
    ],
    [
      'the variable and the full key the same',
      [],
      { MODELDECK_API_KEY: 'sk-same-env', MODELDECK_WATCH_KEYS: 'wk-a,sk-same-env' },
      /^modeldeck: MODELDECK_WATCH_KEYS entry 2 of 2 is also the full key \(MODELDECK_API_KEY\)/,
      'sk-same-env',
    ],
    [
      'watch keys without a full key',
      ['--watch-key', 'wk-alone'],
      {},
      /^modeldeck: --watch-key given without a full key: a server with only watch keys could never load a model/,
      'wk-alone',
    ],
    [
      'an empty entry of the variable',
      [],
      { ...full, MODELDECK_WATCH_KEYS: 'wk-a,,wk-b' },
      /^modeldeck: MODELDECK_WATCH_KEYS entry 2 of 3 is empty/,
      'wk-a',
    ],
    ['an empty --api-key', ['--api-key', ''], {}, /^modeldeck: --api-key is empty/, ''],
  ];
  for (const [name, args, env, says, secret] of cases) {
    const r = await run(['serve', '--port', '0', '--log-level', 'silent', ...args], env);
    t.equal(r.code, 2, `${name}: exit 2`);
    t.match(r.stderr, says, `${name}: says why`);
    t.notMatch(r.stderr, /\n\s+at /, `${name}: no stack trace`);
    if (secret !== '') t.notOk(r.stderr.includes(secret), `${name}: the key is not shown`);
  }
});

t.test('serve --help tells the key flags', async (t) => {
  const child = spawn(...untracked(process.execPath, [bin, 'serve', '--help']), { stdio: 'pipe' });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  t.equal(code, 0);
  t.match(out, /--watch-key KEY +a key that may only read/);
  t.match(out, /MODELDECK_WATCH_KEYS/);
});
