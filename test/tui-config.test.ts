// The --config file: the documented format, keys from the file or the environment, clear errors.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { loadDashboardConfig, parseDashboardConfig } from '../src/tui/config.js';
import { resolveDashboardArgs } from '../src/cli/dashboard.js';

t.test('the documented format', async (t) => {
  const sessions = parseDashboardConfig(
    JSON.stringify({
      sessions: [
        { server: 'http://127.0.0.1:8000/', model: 'org/a' },
        { server: 'https://h/v1', model: 'org/b@v2', apiKeyEnv: 'H_KEY' },
        { server: 'http://c:1', model: 'org/c', apiKey: 'k3' },
      ],
    }),
    { H_KEY: 'k2' },
  );
  // Where each key came from is kept, so that writing the sessions back writes the reference, not the key.
  t.same(sessions, [
    { server: 'http://127.0.0.1:8000', model: 'org/a' },
    { server: 'https://h/v1', model: 'org/b@v2', apiKey: 'k2', keyOrigin: { kind: 'env', name: 'H_KEY' } },
    { server: 'http://c:1', model: 'org/c', apiKey: 'k3', keyOrigin: { kind: 'file' } },
  ]);
  t.same(
    parseDashboardConfig('{"sessions": [{"server": "http://a", "model": "o/a", "readOnly": true}]}', {}),
    [{ server: 'http://a', model: 'o/a', readOnly: true }],
    'readOnly',
  );
});

t.test('errors say where and what', async (t) => {
  const bad = (text: string, re: RegExp, env: NodeJS.ProcessEnv = {}) =>
    t.throws(() => parseDashboardConfig(text, env, 'my.json'), { name: 'ConfigError', message: re }, re.source);
  bad('{', /my\.json is not valid JSON/);
  bad('[]', /expected \{"sessions"/);
  bad('{"session": []}', /unknown field "session"/);
  bad('{"sessions": {}}', /"sessions" must be an array/);
  bad('{"sessions": [{"server": "x", "model": "org/a"}]}', /sessions\[0\]: "server": not a URL/);
  bad('{"sessions": [{"server": "http://a", "model": "../x"}]}', /sessions\[0\]: "model"/);
  bad('{"sessions": [{"server": "http://a", "model": "o/a", "apikey": "k"}]}', /unknown field "apikey"/);
  bad('{"sessions": [{"server": "http://a", "model": "o/a", "apiKey": "k", "apiKeyEnv": "V"}]}', /not both/);
  bad('{"sessions": [{"server": "http://a", "model": "o/a", "apiKeyEnv": "MISSING"}]}', /MISSING .* is not set/);
  bad('{"sessions": [{"server": "http://a", "model": "o/a", "apiKey": "has space"}]}', /printable ASCII/);
  bad('{"sessions": [{"server": "http://a", "model": "o/a", "readOnly": "yes"}]}', /"readOnly" must be true or false/);
});

t.test('flags: pairs, one server for many models, config added; usage errors', async (t) => {
  const dir = t.testdir({
    'c.json': JSON.stringify({ sessions: [{ server: 'http://c:3', model: 'org/c', apiKeyEnv: 'CK' }] }),
  });
  const config = await resolveDashboardArgs(
    [
      '--server',
      'http://a:1',
      '--model',
      'org/a',
      '--model',
      'org/b',
      '--config',
      join(dir, 'c.json'),
      '--log-lines',
      '100',
    ],
    { MODELDECK_API_KEY: 'env-key', CK: 'ck' },
  );
  const fromEnv = { kind: 'env', name: 'MODELDECK_API_KEY' };
  t.same(config?.sessions, [
    { server: 'http://a:1', model: 'org/a', apiKey: 'env-key', keyOrigin: fromEnv },
    { server: 'http://a:1', model: 'org/b', apiKey: 'env-key', keyOrigin: fromEnv },
    { server: 'http://c:3', model: 'org/c', apiKey: 'ck', keyOrigin: { kind: 'env', name: 'CK' } },
  ]);
  t.same(
    config?.config,
    {
      path: join(dir, 'c.json'),
      sessions: [{ server: 'http://c:3', model: 'org/c', apiKey: 'ck', keyOrigin: { kind: 'env', name: 'CK' } }],
    },
    'the config file and what it holds, for writing back',
  );
  t.same([config?.apiKeyOrigin, config?.readOnly], [fromEnv, false]);
  t.equal(config?.logLines, 100);
  const watching = await resolveDashboardArgs(['--read-only', '--server', 'http://a:1', '--model', 'o/a'], {});
  t.equal(watching?.readOnly, true, '--read-only');
  const pairs = await resolveDashboardArgs(
    ['--server', 'http://a:1', '--model', 'o/a', '--server', 'http://b:2', '--model', 'o/b', '--api-key', 'flag'],
    {},
  );
  t.same(
    pairs?.sessions.map((s) => [s.server, s.model, s.apiKey]),
    [
      ['http://a:1', 'o/a', 'flag'],
      ['http://b:2', 'o/b', 'flag'],
    ],
  );
  t.same(pairs?.apiKeyOrigin, { kind: 'flag' }, 'a key given with --api-key');
  const embedded = await resolveDashboardArgs(['--throttle', '500k', '--cache-dir', '/tmp/x'], {});
  t.same(
    [embedded?.sessions, embedded?.throttle, embedded?.cacheDir, embedded?.logLines],
    [[], 500_000, '/tmp/x', 5000],
  );
  t.equal(await resolveDashboardArgs(['--help'], {}), null);
  const usage = async (argv: string[], re: RegExp) =>
    t.rejects(resolveDashboardArgs(argv, {}), { name: 'UsageError', message: re }, re.source);
  await usage(['--model', 'o/a'], /--model needs a --server/);
  await usage(['--server', 'http://a'], /at least one --model/);
  await usage(
    ['--server', 'http://a', '--server', 'http://b', '--model', 'o/a', '--model', 'o/b', '--model', 'o/c'],
    /2 --server and 3 --model/,
  );
  await usage(['--server', 'nope', '--model', 'o/a'], /--server must be an http/);
  await usage(['--server', 'http://a', '--model', 'bad id'], /--model: /);
  await usage(['--log-lines', '0'], /--log-lines/);
  await usage(['--config', join(dir, 'missing.json')], /cannot read --config/);
  await usage(['stray'], /unexpected argument 'stray'/);
  await usage(['--bogus'], /bogus/);
  const file = join(dir, 'bad.json');
  await writeFile(file, '{"sessions": [1]}');
  await t.rejects(loadDashboardConfig(file, {}), /sessions\[0\] must be an object/);
  const names = join(dir, 'names.json');
  await writeFile(
    names,
    JSON.stringify({
      sessions: [
        { name: 'box', server: 'http://a', model: 'o/a' },
        { name: 'box', server: 'http://b', model: 'o/b' },
      ],
    }),
  );
  await usage(['--config', names], /names\.json: sessions\[1\]: "name" "box" is already the name of sessions\[0\]/);
});

t.test('a session’s chat settings, checked field by field', async (t) => {
  const chat = { system: 'Be brief.', temperature: 0.5, maxTokens: 32, seed: 3 };
  const [spec] = parseDashboardConfig(JSON.stringify({ sessions: [{ server: 'http://a', model: 'o/a', chat }] }), {});
  t.same(spec, { server: 'http://a', model: 'o/a', chat });
  const bad = (settings: unknown, re: RegExp) =>
    t.throws(
      () =>
        parseDashboardConfig(JSON.stringify({ sessions: [{ server: 'http://a', model: 'o/a', chat: settings }] }), {}),
      { name: 'ConfigError', message: re },
      re.source,
    );
  bad([], /sessions\[0\]: "chat" must be an object/);
  bad({ temp: 1 }, /unknown field "temp" \(allowed: system, temperature, maxTokens, seed\)/);
  bad({ temperature: 3 }, /"temperature" must be a number from 0 to 2/);
  bad({ maxTokens: 0 }, /"maxTokens" must be an integer from 1 to 4096/);
  bad({ maxTokens: 1.5 }, /"maxTokens" must be an integer/);
  bad({ seed: 'x' }, /"seed" must be an integer/);
  bad({ system: 4 }, /"system" must be a string/);
});

t.test('a session’s dtype: a string or a list, checked as the server checks it; --dtype for the rest', async (t) => {
  const parse = (dtype: unknown) =>
    parseDashboardConfig(JSON.stringify({ sessions: [{ server: 'http://a', model: 'o/a', dtype }] }), {})[0];
  t.same(parse('q4, q8'), { server: 'http://a', model: 'o/a', dtype: ['q4', 'q8'] }, 'a comma-separated string');
  t.same(parse(['fp32', 'auto'])?.dtype, ['fp32', 'auto'], 'a list');
  t.throws(() => parse('q5'), {
    name: 'ConfigError',
    message: /sessions\[0\]: "dtype": unknown dtype "q5" \(valid values: fp32, .*auto\)/,
  });
  t.throws(() => parse(7), { name: 'ConfigError', message: /"dtype": dtype must be a string or a list of strings/ });

  const file = join(
    t.testdir({
      'sessions.json': JSON.stringify({
        sessions: [
          { server: 'http://c:1', model: 'org/own', dtype: 'fp32' },
          { server: 'http://c:1', model: 'org/plain' },
        ],
      }),
    }),
    'sessions.json',
  );
  const config = await resolveDashboardArgs(
    ['--server', 'http://a:1', '--model', 'org/a', '--config', file, '--dtype', 'q4,q8'],
    {},
  );
  t.same(
    config?.sessions.map((s) => [s.model, s.dtype]),
    [
      ['org/a', ['q4', 'q8']],
      ['org/own', ['fp32']],
      ['org/plain', ['q4', 'q8']],
    ],
    "--dtype for the flag sessions and the config's without one; a session's own wins",
  );
  await t.rejects(resolveDashboardArgs(['--server', 'http://a:1', '--model', 'org/a', '--dtype', 'q5'], {}), {
    name: 'UsageError',
    message: /--dtype: unknown dtype "q5"/,
  });
  await t.rejects(resolveDashboardArgs(['--dtype', 'q4'], {}), {
    name: 'UsageError',
    message: /--dtype needs --server or --config sessions/,
  });
});

t.test(
  'a session name: kept, and refused when empty, too long, odd, like s1, or used twice, naming the entry',
  async (t) => {
    const named = parseDashboardConfig(
      JSON.stringify({
        sessions: [
          { name: 'gpu-box', server: 'http://a:1', model: 'org/a' },
          { server: 'http://a:1', model: 'org/b' },
        ],
      }),
      {},
    );
    t.same(named, [
      { name: 'gpu-box', server: 'http://a:1', model: 'org/a' },
      { server: 'http://a:1', model: 'org/b' },
    ]);
    const bad = (name: unknown, re: RegExp) =>
      t.throws(
        () =>
          parseDashboardConfig(
            JSON.stringify({
              sessions: [
                { server: 'http://a', model: 'o/a' },
                { name, server: 'http://a', model: 'o/b' },
              ],
            }),
            {},
            'my.json',
          ),
        { name: 'ConfigError', code: 'MD_CONFIG_SHAPE', message: re },
        re.source,
      );
    bad('', /my\.json: sessions\[1\]: "name" must be a non-empty string/);
    bad(7, /sessions\[1\]: "name" must be a non-empty string/);
    bad('thirteen-char', /sessions\[1\]: "name" "thirteen-char" is 13 characters; at most 12/);
    bad('two words', /sessions\[1\]: "name" "two words" must be 1–12 letters, digits/);
    bad('s1', /sessions\[1\]: "name" "s1" looks like the tag of an unnamed session/);
    t.throws(
      () =>
        parseDashboardConfig(
          JSON.stringify({
            sessions: [
              { name: 'box', server: 'http://a', model: 'o/a' },
              { name: 'box', server: 'http://b', model: 'o/b' },
            ],
          }),
          {},
          'my.json',
        ),
      { message: /my\.json: sessions\[1\]: "name" "box" is already the name of sessions\[0\]; names must be unique/ },
    );
  },
);
