import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { UsageError, listenUsageError } from '../src/cli/args.js';
import { main } from '../src/cli/main.js';
import { ListenError } from '../src/common/listen.js';
import {
  EXIT_STATUS,
  LOCAL_ERRORS,
  LocalError,
  exitStatusOf,
  type LocalErrorCode,
} from '../src/common/local-errors.js';
import { DemoModelError } from '../src/demo/demo-models.js';
import { FaultSpecError, parseFaultSpec } from '../src/mirror/faults.js';
import { MirrorError } from '../src/mirror/mirror.js';
import { WIRE_ERRORS } from '../src/protocol/errors.js';
import { ConfigError } from '../src/tui/config.js';
import { repoPath } from './helpers/repo.js';

// As protocol-errors.test.ts does for the wire: assertions over the whole table.
const codes = Object.keys(LOCAL_ERRORS) as LocalErrorCode[];
const CATALOGUE = 'src/common/local-errors.ts';

/** Every source file but the catalogue, by its path from the repository root. */
async function sources(): Promise<Map<string, string>> {
  const root = repoPath();
  const files = new Map<string, string>();
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(join(root, dir), { withFileTypes: true })) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory()) await walk(path);
      else if (path.endsWith('.ts') && path !== CATALOGUE) files.set(path, await readFile(join(root, path), 'utf8'));
    }
  };
  await walk('src');
  return files;
}

t.test('one spelling: MD_<AREA>_<WHAT>, unique also ignoring case and underscores, none a wire code', async (t) => {
  t.ok(codes.length >= 10, `${codes.length} codes`);
  for (const code of codes) t.match(code, /^MD_[A-Z]+(_[A-Z0-9]+)*$/, code);
  const folded = new Set(codes.map((code) => code.toLowerCase().replaceAll('_', '')));
  t.equal(folded.size, codes.length, 'no two codes differ only in spelling');
  for (const code of codes) t.notOk(Object.hasOwn(WIRE_ERRORS, code), `${code} is not also a wire code`);
});

t.test('every row has a message and a CLI exit status for an error (1 a failure, 2 a usage error)', async (t) => {
  t.same(EXIT_STATUS, { ok: 0, failure: 1, usage: 2 }, 'the statuses the README names');
  for (const code of codes) {
    const { message, exit } = LOCAL_ERRORS[code];
    t.ok(exit === EXIT_STATUS.failure || exit === EXIT_STATUS.usage, `${code}: exit ${exit}`);
    t.ok(message.length > 0, `${code} has a message`);
    t.notMatch(message, /%[^s]/, `${code}: %s is the only placeholder`);
  }
});

t.test('every row is used by some source file, and no source file spells a code the catalogue lacks', async (t) => {
  const files = await sources();
  const all = [...files.values()].join('\n');
  for (const code of codes) t.ok(all.includes(`'${code}'`), `${code} is used`);
  const strays = [...files].flatMap(([path, text]) =>
    [...text.matchAll(/['"`](MD_[A-Z0-9_]+)['"`]/g)]
      .map((m) => m[1] as string)
      .filter((code) => !Object.hasOwn(LOCAL_ERRORS, code))
      .map((code) => `${path}: ${code}`),
  );
  t.same(strays, [], 'every MD_ code in src is a row');
});

t.test('an error is built from its row: the message filled in order, the code, the exit status', async (t) => {
  const config = new ConfigError('MD_CONFIG_JSON', 'my.json', 'Unexpected token');
  t.match(config, { name: 'ConfigError', code: 'MD_CONFIG_JSON', exitStatus: 2 });
  t.equal(config.message, 'my.json is not valid JSON: Unexpected token');
  t.ok(config instanceof LocalError && config instanceof Error);
  t.equal(new ConfigError('MD_CONFIG_SHAPE', 'a %s stays as written').message, 'a %s stays as written');

  const listen = new ListenError('MD_LISTEN_PORT_IN_USE', '127.0.0.1', 8000, { cause: 'EADDRINUSE' });
  t.match(listen, { name: 'ListenError', code: 'MD_LISTEN_PORT_IN_USE', host: '127.0.0.1', port: 8000 });
  t.equal(listen.message, 'cannot listen on 127.0.0.1:8000: port-in-use', 'the message it always had');
  t.equal(listen.cause, 'EADDRINUSE');
  t.notOk(Object.keys(listen).includes('cause'), 'the cause is not enumerable, as Error makes it');

  t.equal(new DemoModelError('MD_DEMO_BIG_ENDIAN').exitStatus, 1, 'the host cannot: a failure');
  t.equal(new MirrorError('MD_MIRROR_ROOT', '"/x"').message, 'mirror root "/x" is not a directory');
  t.equal(new MirrorError('MD_MIRROR_OPTIONS', 'bad').exitStatus, 1, "a program's bad option: a failure");
  t.throws(() => parseFaultSpec('nope'), {
    name: 'FaultSpecError',
    code: 'MD_MIRROR_FAULT_SPEC',
    message: 'bad --fault "nope": expected at least KIND:N:PATTERN (syntax KIND:N:[REPO:]PATTERN[:xTIMES])',
  });
  t.ok(new FaultSpecError('MD_MIRROR_FAULT', 'x') instanceof LocalError);
  t.match(new UsageError('--port must be…'), { name: 'UsageError', code: 'MD_USAGE', message: '--port must be…' });
});

t.test('the exit status of an error comes from its row; anything else is a failure', async (t) => {
  t.equal(exitStatusOf(new UsageError('x')), 2);
  t.equal(exitStatusOf(listenUsageError('MD_LISTEN_NOT_PERMITTED', 'h', 80)), 2);
  t.equal(exitStatusOf(new MirrorError('MD_MIRROR_OPTIONS', 'x')), 1);
  t.equal(exitStatusOf(new Error('x')), 1);
  t.equal(exitStatusOf('a string'), 1);
  const stderr: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string) => stderr.push(chunk) > 0) as typeof process.stderr.write;
  try {
    t.equal(await main(['no-such-command']), 2, 'main exits with the usage row’s status');
  } finally {
    process.stderr.write = write;
  }
  t.match(stderr.join(''), /^modeldeck: unknown command 'no-such-command'; commands: /);
});
