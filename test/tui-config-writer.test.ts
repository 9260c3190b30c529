// Writing the open sessions as a config file: the format the dashboard reads, keys as references, written whole.
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parseDashboardConfig, type SessionSpec } from '../src/tui/config.js';
import { configFileText, sessionsSignature, writeConfigFile } from '../src/tui/config-writer.js';

const tagged = (specs: SessionSpec[]) => specs.map((spec, i) => ({ tag: spec.name ?? `s${i + 1}`, spec }));

t.test('every field the format has, in its order; keys by where they came from', async (t) => {
  const env = { MODELDECK_API_KEY: 'k-default', A_KEY: 'k-same', B_KEY: 'k-same', OTHER: 'k-other' };
  const { text, notes, plainKeys } = configFileText(
    tagged([
      {
        name: 'box',
        server: 'http://a:1',
        model: 'o/a@v2',
        apiKey: 'k-env',
        keyOrigin: { kind: 'env', name: 'BOX_KEY' },
        dtype: ['q4', 'q8'],
        chat: { system: 'Be brief.', temperature: 0.2 },
        readOnly: true,
      },
      { server: 'http://a:1', model: 'o/b', apiKey: 'k-file', keyOrigin: { kind: 'file' } },
      { server: 'http://a:1', model: 'o/c', apiKey: 'k-same', keyOrigin: { kind: 'typed' } },
      { server: 'http://a:1', model: 'o/d', apiKey: 'k-default', keyOrigin: { kind: 'flag' } },
      { server: 'http://a:1', model: 'o/e', apiKey: 'k-typed', keyOrigin: { kind: 'typed' } },
      { server: 'http://a:1', model: 'o/f', apiKey: 'k-flag', keyOrigin: { kind: 'flag' } },
      { server: 'http://a:1', model: 'o/g', chat: {} },
    ]),
    env,
  );
  t.equal(
    text,
    `${JSON.stringify(
      {
        sessions: [
          {
            name: 'box',
            server: 'http://a:1',
            model: 'o/a@v2',
            apiKeyEnv: 'BOX_KEY',
            dtype: 'q4,q8',
            chat: { system: 'Be brief.', temperature: 0.2 },
            readOnly: true,
          },
          { server: 'http://a:1', model: 'o/b', apiKey: 'k-file' },
          { server: 'http://a:1', model: 'o/c', apiKeyEnv: 'A_KEY' },
          { server: 'http://a:1', model: 'o/d', apiKeyEnv: 'MODELDECK_API_KEY' },
          { server: 'http://a:1', model: 'o/e' },
          { server: 'http://a:1', model: 'o/f' },
          { server: 'http://a:1', model: 'o/g' },
        ],
      },
      null,
      2,
    )}\n`,
  );
  t.notMatch(text, /k-(env|same|default|typed|flag)/, 'no key that did not come in the clear');
  t.same(notes, [
    's5: its key is not written (typed in the dashboard, and no environment variable holds it): put it in one and add "apiKeyEnv" by hand',
    's6: its key is not written (given with --api-key, and no environment variable holds it): put it in one and add "apiKeyEnv" by hand',
  ]);
  t.ok(plainKeys, 'a key from the file goes back in the clear');
  const read = parseDashboardConfig(text, { ...env, BOX_KEY: 'k-env' });
  t.equal(read.length, 7, 'what is written reads back');
  t.same(read[0], {
    name: 'box',
    server: 'http://a:1',
    model: 'o/a@v2',
    apiKey: 'k-env',
    keyOrigin: { kind: 'env', name: 'BOX_KEY' },
    chat: { system: 'Be brief.', temperature: 0.2 },
    dtype: ['q4', 'q8'],
    readOnly: true,
  });
});

t.test('the signature changes with what the file would hold, not with the key itself', async (t) => {
  const spec: SessionSpec = { server: 'http://a:1', model: 'o/a', apiKey: 'k1', keyOrigin: { kind: 'env', name: 'V' } };
  t.equal(sessionsSignature([spec]), sessionsSignature([{ ...spec, apiKey: 'k2' }]), 'same reference, same file');
  t.not(sessionsSignature([spec]), sessionsSignature([{ ...spec, model: 'o/b' }]));
  t.not(sessionsSignature([spec]), sessionsSignature([{ ...spec, chat: { seed: 1 } }]));
  t.not(sessionsSignature([spec]), sessionsSignature([spec, spec]));
  t.not(sessionsSignature([spec]), sessionsSignature([{ ...spec, keyOrigin: { kind: 'typed' } }]));
});

t.test('writing: never over a file unless asked; over one, its permissions kept; no temporary file left', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'modeldeck-writer-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const target = join(dir, 'm.json');
  t.same(await writeConfigFile(target, 'one\n', { overwrite: false, private: false }), { ok: true, replaced: false });
  t.equal(await readFile(target, 'utf8'), 'one\n');
  t.same(await writeConfigFile(target, 'two\n', { overwrite: false, private: false }), { ok: false, exists: true });
  t.equal(await readFile(target, 'utf8'), 'one\n', 'left as it was');
  await writeFile(target, 'one\n', { mode: 0o640 });
  await chmod(target, 0o640);
  t.same(await writeConfigFile(target, 'two\n', { overwrite: true, private: false }), { ok: true, replaced: true });
  t.equal(await readFile(target, 'utf8'), 'two\n');
  t.equal((await stat(target)).mode & 0o777, 0o640, 'its permissions kept');
  const secret = join(dir, 'secret.json');
  await writeConfigFile(secret, '{}\n', { overwrite: false, private: true });
  t.equal((await stat(secret)).mode & 0o777, 0o600, 'a file with a key in the clear: its owner only');
  t.same((await readdir(dir)).sort(), ['m.json', 'secret.json'], 'no temporary file left');
  const missing = await writeConfigFile(join(dir, 'no', 'such', 'dir.json'), '{}', { overwrite: true, private: false });
  t.match(missing, { ok: false, exists: false, message: 'ENOENT' }, 'a directory that is not there: said');
});
