import { spawn, spawnSync } from 'node:child_process';
import { chmod, cp, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { MirrorFault } from '../src/mirror/mirror.js';
import { demoModelsDir } from './helpers/demo.js';
import { loadModel, stagesOf } from './helpers/sse-client.js';
import { startTestMirror, startTestServer, listeningUrl } from './helpers/stack.js';
import { modeldeckBin } from './helpers/repo.js';
import { untracked } from './helpers/untracked.js';

const MODEL = 'modeldeck/tiny-chat';
const KEY = `${MODEL}@main`;
const WEIGHTS = 'onnx/model.onnx';
// The compiled CLI (npm test builds dist/ first).
const bin = modeldeckBin;

const models = await demoModelsDir();
const root = await mkdtemp(join(tmpdir(), 'modeldeck-mirror-root-'));
await cp(join(models, MODEL), join(root, MODEL), { recursive: true });
// A repository with PyTorch weights only, as many Hub models are.
await mkdir(join(root, 'acme/pytorch-only'), { recursive: true });
await writeFile(join(root, 'acme/pytorch-only/config.json'), '{"model_type": "llama"}');
await writeFile(join(root, 'acme/pytorch-only/model.safetensors'), Buffer.alloc(4096, 1));
// A gated copy of the tiny model.
await cp(join(models, MODEL), join(root, 'acme/gated-chat'), { recursive: true });

const mirror = await startTestMirror(root, { requireToken: { token: 'hf_secret', repos: ['acme/gated-chat'] } });
t.teardown(async () => {
  await mirror.close();
  await rm(root, { recursive: true, force: true });
});

async function filesUnder(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { recursive: true, withFileTypes: true });
    return entries
      .filter((e) => e.isFile() || e.isSymbolicLink())
      .map((e) => join(e.parentPath, e.name).slice(dir.length + 1));
  } catch {
    return [];
  }
}

// Faults that persist (a fault that passes is retried: see server-fetch.test.ts).
const faults: { name: string; fault: MirrorFault; says: RegExp }[] = [
  { name: 'an error status', fault: { kind: 'status', status: 503, path: WEIGHTS }, says: /503/ },
  {
    name: 'a connection reset',
    fault: { kind: 'reset', afterBytes: 1000, path: WEIGHTS },
    says: /model\.onnx/,
  },
  {
    name: 'a truncated body',
    fault: { kind: 'truncate', bytes: 1000, path: WEIGHTS },
    says: /cut off|truncated|1000/,
  },
  { name: 'a stall', fault: { kind: 'stall', afterBytes: 1000, path: WEIGHTS }, says: /stall/i },
];

for (const { name, fault, says } of faults) {
  t.test(
    `${name} that persists while downloading: an error event after bounded retries, nothing incomplete in the ` +
      'snapshot, then a retry works',
    async (t) => {
      // The stall timeout is the hub API's request timeout too: 2 s, so that a loaded machine's slow answer to the
      // revision request is not taken for the fault.
      const server = await startTestServer({
        hubUrl: mirror.url,
        stallTimeoutMs: 2000,
        download: { backoffMs: 5, maxAttempts: 2 },
      });
      t.teardown(() => server.close());
      mirror.setFaults([fault]);
      t.teardown(() => mirror.setFaults([]));
      const failed = await loadModel(server.url, MODEL);
      const last = failed.events.at(-1);
      t.equal(last?.status, 'error', 'the stream ends with an error event');
      t.match(last?.status === 'error' ? last.message : '', says, 'the message says what happened');
      t.match(last?.status === 'error' ? last.message : '', /gave up after 2 attempts/, 'after the retries');
      t.equal(failed.events.filter((e) => e.status !== 'loading').length, 1, 'one terminal event');
      const cached = await filesUnder(server.cacheDir);
      t.notOk(
        cached.some((f) => f.endsWith(WEIGHTS)),
        `no ${WEIGHTS} in the snapshot (${cached.join(', ')})`,
      );
      t.ok(
        cached.every(
          (f) =>
            !/tmp/.test(f) &&
            (!f.includes('/blobs/') || /\/blobs\/[0-9a-f]+(\.modeldeck\.(incomplete|journal))?$/.test(f)),
        ),
        "at most a partial blob and its journal, named by the blob's etag",
      );
      mirror.setFaults([]);
      const retry = await loadModel(server.url, MODEL);
      t.match(retry.events.at(-1), { status: 'ready', model: KEY, cached: false }, 'the failure was not cached');
      t.same(stagesOf(retry.events), ['processor', 'config', 'download', 'weights', 'ready']);
    },
  );
}

t.test('errors a user can act on', async (t) => {
  const server = await startTestServer({ hubUrl: mirror.url });
  t.teardown(() => server.close());

  const missing = await loadModel(server.url, 'acme/no-such-model');
  t.equal(missing.status, 200, 'errors after acceptance come as events');
  t.match(missing.events.at(-1), { status: 'error', model: 'acme/no-such-model@main', message: /not found/i });

  const badRev = await loadModel(server.url, `${MODEL}@no-such-branch`);
  t.match(badRev.events.at(-1), { status: 'error', message: /no-such-branch/ });

  const noOnnx = await loadModel(server.url, 'acme/pytorch-only');
  t.match(noOnnx.events.at(-1), { status: 'error', message: /ONNX/ });
  t.match(noOnnx.events.at(-1), { message: /onnx-community/ }, 'suggests an onnx-community variant');

  const gated = await loadModel(server.url, 'acme/gated-chat');
  t.match(gated.events.at(-1), { status: 'error', message: /HF_TOKEN/ }, 'a gated model asks for a token');
});

t.test('a gated model loads with HF_TOKEN', async (t) => {
  const server = await startTestServer({ hubUrl: mirror.url, token: 'hf_secret' });
  t.teardown(() => server.close());
  const ok = await loadModel(server.url, 'acme/gated-chat');
  t.match(ok.events.at(-1), { status: 'ready', model: 'acme/gated-chat@main', cached: false });
  const wrong = await startTestServer({ hubUrl: mirror.url, token: 'hf_wrong' });
  t.teardown(() => wrong.close());
  const denied = await loadModel(wrong.url, 'acme/gated-chat');
  t.match(denied.events.at(-1), { status: 'error', message: /403|denied|access/i });
});

t.test('hub unreachable', async (t) => {
  const server = await startTestServer({ hubUrl: 'http://127.0.0.1:9' });
  t.teardown(() => server.close());
  const res = await loadModel(server.url, MODEL);
  t.match(res.events.at(-1), { status: 'error', message: /127\.0\.0\.1:9/ }, 'names the hub it tried');
});

t.test('offline, with the model not cached', async (t) => {
  const server = await startTestServer({ hubUrl: mirror.url, offline: true });
  t.teardown(() => server.close());
  mirror.clearRequests();
  const res = await loadModel(server.url, MODEL);
  t.match(res.events.at(-1), { status: 'error', message: /offline/i });
  t.same(mirror.requests, [], 'offline means no hub request');
});

const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const AS_NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups'];
const asRoot = process.getuid?.() === 0;
/** As root, the test runs the server as the unprivileged user; false when it can, else why not. */
function cannotRunAsNobody(): string | false {
  const probe = spawnSync(...untracked('setpriv', [...AS_NOBODY, process.execPath, bin, '--version']), {
    encoding: 'utf8',
  });
  if (probe.status === 0) return false;
  return `cannot run the server as an unprivileged user here (setpriv: ${probe.error?.message ?? probe.stderr.trim()})`;
}

t.test('cache dir not writable', { skip: asRoot ? cannotRunAsNobody() : false }, async (t) => {
  const cacheDir = await mkdtemp(join(tmpdir(), 'modeldeck-ro-'));
  t.teardown(() => rm(cacheDir, { recursive: true, force: true }));
  if (!asRoot) {
    await chmod(cacheDir, 0o500);
    const server = await startTestServer({ hubUrl: mirror.url, cacheDir });
    t.teardown(() => server.close());
    const res = await loadModel(server.url, MODEL);
    t.match(res.events.at(-1), { status: 'error', message: new RegExp(escape(cacheDir)) });
    return;
  }
  // Root writes anywhere, so the server runs as the unprivileged user instead: `modeldeck serve` as a user sees it,
  // on a directory it may read but not write.
  await chmod(cacheDir, 0o755);
  const child = spawn(
    ...untracked('setpriv', [
      ...AS_NOBODY,
      process.execPath,
      bin,
      'serve',
      '--port',
      '0',
      '--hub-url',
      mirror.url,
      '--cache-dir',
      cacheDir,
    ]),
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HF_TOKEN: '', MODELDECK_API_KEY: '' } },
  );
  t.teardown(() => {
    child.kill('SIGTERM');
  });
  const url = await listeningUrl(child);
  const res = await loadModel(url, MODEL);
  t.match(res.events.at(-1), { status: 'error', message: new RegExp(escape(cacheDir)) }, 'names the directory');
  t.match(res.events.at(-1), { message: /writ/i }, 'says it cannot write there');
  t.same(await filesUnder(cacheDir), [], 'and leaves nothing in it');
});

t.test('cache dir that is a file', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'modeldeck-file-'));
  const cacheDir = join(dir, 'not-a-dir');
  await writeFile(cacheDir, 'x');
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const server = await startTestServer({ hubUrl: mirror.url, cacheDir });
  t.teardown(() => server.close());
  const res = await loadModel(server.url, MODEL);
  t.match(res.events.at(-1), { status: 'error', message: /cache/i });
  t.match(res.events.at(-1), { message: /--cache-dir/ });
});
