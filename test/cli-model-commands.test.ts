// modeldeck pull, ps, unload and rm (issue 24), run as the CLI runs them against a real server: pull leaves a model
// on disk only, ps lists it (and what is resident, with its expiry), rm removes it from the cache, unload from
// memory; each exits as load does (0 done, 1 refused or unreachable, 2 usage).
import { Writable } from 'node:stream';
import t from 'tap';
import { UsageError } from '../src/cli/args.js';
import { runRmCommand, runUnloadCommand } from '../src/cli/model-commands.js';
import { runPsCommand } from '../src/cli/ps.js';
import { runPullCommand } from '../src/cli/pull.js';
import type { LoadCommandIo } from '../src/cli/load.js';
import type { ServerStatus } from '../src/client/server-status.js';
import { closedPort } from './helpers/closed-port.js';
import { demoModelsDir } from './helpers/demo.js';
import { loadModel } from './helpers/sse-client.js';
import { startTestMirror, startTestServer } from './helpers/stack.js';

const MODEL = 'modeldeck/tiny-chat';
const KEY = `${MODEL}@main`;
const mirror = await startTestMirror(await demoModelsDir());
const server = await startTestServer({ hubUrl: mirror.url, idleTimeoutMs: 300_000 });
t.teardown(async () => {
  await server.close();
  await mirror.close();
});

type Command = (argv: readonly string[], io?: LoadCommandIo) => Promise<number>;

async function run(command: Command, argv: string[]): Promise<{ status: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const sink = (add: (text: string) => void) =>
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        add(chunk.toString());
        done();
      },
    });
  const status = await command(argv, {
    stdout: sink((text) => (out += text)),
    stderr: sink((text) => (err += text)),
    env: {},
  });
  return { status, out, err };
}

async function ps(...servers: string[]): Promise<{ status: number; list: ServerStatus[]; err: string }> {
  const answer = await run(runPsCommand, [...servers.flatMap((s) => ['--server', s]), '--json']);
  return {
    status: answer.status,
    list: (JSON.parse(answer.out) as { servers: ServerStatus[] }).servers,
    err: answer.err,
  };
}

t.test('pull, ps, unload, rm: a model from nothing to the disk, to memory, and away', async (t) => {
  const pulled = await run(runPullCommand, ['--server', server.url, MODEL]);
  t.equal(pulled.status, 0, pulled.err);
  t.match(pulled.out, /^pulling modeldeck\/tiny-chat on http:\/\/127\.0\.0\.1:\d+\n/);
  t.match(pulled.out, /\ndownload .*\(100%\)\n/, 'the download’s progress');
  t.match(pulled.out, /\non disk: modeldeck\/tiny-chat@main \(in /, 'and where it ended');

  const onDisk = await ps(server.url);
  t.equal(onDisk.status, 0);
  t.match(onDisk.list, [{ server: server.url, models: [{ model: KEY, state: 'cached', size_bytes: Number }] }]);
  t.ok((onDisk.list[0]?.cache_bytes ?? 0) > 1_000_000, 'the cache’s bytes');

  await loadModel(server.url, MODEL);
  const words = await run(runPsCommand, ['--server', server.url]);
  t.equal(words.status, 0);
  t.match(words.out, new RegExp(`^${server.url} \\(disk cache: .+\\)\\n  MODEL +STATE +SIZE +UNLOADS\\n`));
  t.match(words.out, /\n {2}modeldeck\/tiny-chat@main +resident +\S+ \S+ +in [45]m\n/, 'resident, going in 5 minutes');

  const inUse = await run(runRmCommand, ['--server', server.url, MODEL]);
  t.equal(inUse.status, 1, 'rm of a resident model: refused');
  t.match(inUse.err, /^modeldeck: rm modeldeck\/tiny-chat failed: .*is in memory/);

  const unloaded = await run(runUnloadCommand, ['--server', server.url, MODEL]);
  t.equal(unloaded.status, 0, unloaded.err);
  t.match(unloaded.out, /^unloaded modeldeck\/tiny-chat on /);
  const again = await run(runUnloadCommand, ['--server', server.url, MODEL]);
  t.equal(again.status, 1, 'unloading what is not loaded: 1');
  t.match(again.err, /is not loaded/);

  const removed = await run(runRmCommand, ['--server', server.url, '--json', MODEL]);
  t.equal(removed.status, 0, removed.err);
  t.match(JSON.parse(removed.out), { status: 'deleted', model: KEY, repo_removed: true, freed_bytes: Number });
  t.same((await ps(server.url)).list[0]?.models, [], 'ps lists nothing now');
  const gone = await run(runRmCommand, ['--server', server.url, MODEL]);
  t.equal(gone.status, 1, 'rm of what is not there: 1');
  t.match(gone.err, /MODEL_NOT_CACHED|no snapshot/);
});

t.test('ps over two servers, one unreachable: the other listed, exit 1', async (t) => {
  const dead = `http://127.0.0.1:${await closedPort()}`;
  const both = await ps(server.url, dead);
  t.equal(both.status, 1);
  t.equal(both.list.length, 1, 'the one that answered');
  t.match(both.err, new RegExp(`^modeldeck: ps ${dead.replace(/[.]/g, '\\.')}: `));
});

t.test('usage: a missing or bad MODEL, and --help', async (t) => {
  await t.rejects(run(runRmCommand, ['--server', server.url]), UsageError);
  await t.rejects(run(runUnloadCommand, ['../x']), UsageError);
  await t.rejects(run(runPsCommand, ['extra']), UsageError);
  for (const command of [runPullCommand, runRmCommand, runUnloadCommand, runPsCommand]) {
    const help = await run(command, ['--help']);
    t.equal(help.status, 0);
    t.match(help.out, /^Usage: modeldeck (pull|rm|unload|ps) /);
    for (const flag of ['--server URL', '--api-key KEY', '--json', 'Exit status']) t.match(help.out, flag);
  }
});
