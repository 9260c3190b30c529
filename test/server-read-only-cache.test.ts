// A cache the server may read but not write (a team's read-only NFS mount): what it holds loads online, what it lacks
// fails naming the read-only cache, and nothing is written. Through the real mirror and a real server.
//
// Read-only is made the ways a user meets it. As an ordinary user, the cache is chmod'ed read-only. As root, chmod does
// not stop the writes (root writes anywhere), so the server runs as the unprivileged user `nobody` instead (setpriv),
// on the cache root filled: directories 0755 and files 0644 that nobody may read but not write. As root, where mount
// namespaces are allowed, the server also runs on a read-only bind mount of the cache (EROFS, as on a read-only NFS
// mount), in a mount namespace of its own (unshare), so the mount is gone with it.
import { spawn, spawnSync } from 'node:child_process';
import { chmod, cp, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { demoModelsDir } from './helpers/demo.js';
import { cacheTree, commitOf } from './helpers/hf-cache.js';
import { loadModel } from './helpers/sse-client.js';
import { fileDownloads, listeningUrl, startTestMirror, startTestServer } from './helpers/stack.js';
import { modeldeckBin } from './helpers/repo.js';
import { untracked } from './helpers/untracked.js';

const TINY = 'modeldeck/tiny-chat';
const OTHER = 'test/not-in-cache';
const MOVING = 'test/moving';
const demo = await demoModelsDir([TINY]);
const root = await mkdtemp(join(tmpdir(), 'modeldeck-ro-root-'));
await cp(join(demo, TINY), join(root, TINY), { recursive: true });
await cp(join(demo, TINY), join(root, OTHER), { recursive: true });
await cp(join(demo, TINY), join(root, MOVING), { recursive: true });
const mirror = await startTestMirror(root);
t.teardown(async () => {
  await mirror.close();
  await rm(root, { recursive: true, force: true });
});

// The compiled CLI (npm test builds dist/ first).
const bin = modeldeckBin;
const AS_NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups'];
const asRoot = process.getuid?.() === 0;

/** As root, whether the server can run as the unprivileged user here: false when it can, else why not. */
function cannotRunAsNobody(): string | false {
  const probe = spawnSync(...untracked('setpriv', [...AS_NOBODY, process.execPath, bin, '--version']), {
    encoding: 'utf8',
  });
  if (probe.status === 0) return false;
  return `cannot run the server as an unprivileged user here (setpriv: ${probe.error?.message ?? probe.stderr.trim()})`;
}

/** `mode` on `dir` and everything below it (links left alone). */
async function chmodTree(dir: string, dirMode: number, fileMode: number): Promise<void> {
  await chmod(dir, dirMode);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await chmodTree(path, dirMode, fileMode);
    else if (entry.isFile()) await chmod(path, fileMode);
  }
}

/** Whether a read-only bind mount can be made here: false when it can, else why not. */
function cannotMountReadOnly(): string | false {
  if (!asRoot) return 'a read-only bind mount needs root';
  const probe = spawnSync(
    'unshare',
    ['-m', 'sh', '-c', `${MOUNT_READ_ONLY} && ! touch "$1/x" 2>/dev/null`, 'sh', tmpdir()],
    {
      encoding: 'utf8',
    },
  );
  if (probe.status === 0) return false;
  return `cannot make a read-only bind mount here (unshare: ${probe.error?.message ?? probe.stderr.trim()})`;
}

/** Makes `$1` a read-only bind mount of itself (in the mount namespace of the shell that runs it). */
const MOUNT_READ_ONLY = 'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1"';

/** How a server is kept from writing the cache: its permissions, or a read-only mount. */
type ReadOnlyBy = 'permissions' | 'mount';

/** A server on `cacheDir` that cannot write it, online against the mirror. */
async function startReadOnlyServer(cacheDir: string, by: ReadOnlyBy): Promise<{ url: string; close(): Promise<void> }> {
  if (by === 'permissions' && !asRoot) {
    await chmodTree(cacheDir, 0o555, 0o444);
    const server = await startTestServer({ hubUrl: mirror.url, cacheDir });
    return { url: server.url, close: () => server.close() };
  }
  await chmodTree(cacheDir, 0o755, 0o644);
  const serve = [process.execPath, bin, 'serve', '--port', '0', '--hub-url', mirror.url, '--cache-dir', cacheDir];
  const [command, args] =
    by === 'permissions'
      ? ['setpriv', [...AS_NOBODY, ...serve]]
      : ['unshare', ['-m', 'sh', '-c', `${MOUNT_READ_ONLY} && shift && exec "$@"`, 'sh', cacheDir, ...serve]];
  const child = spawn(...untracked(command, args), {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, HF_TOKEN: '', MODELDECK_API_KEY: '' },
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    url: await listeningUrl(child),
    async close() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

const ways: { by: ReadOnlyBy; skip: string | false }[] = [
  { by: 'permissions', skip: asRoot ? cannotRunAsNobody() : false },
  { by: 'mount', skip: cannotMountReadOnly() },
];

for (const { by, skip } of ways) {
  t.test(
    `a cache read-only by its ${by}: what it holds loads online, what it lacks fails naming it`,
    { skip },
    async (t) => {
      const cacheDir = await mkdtemp(join(tmpdir(), 'modeldeck-ro-cache-'));
      t.teardown(async () => {
        await chmodTree(cacheDir, 0o755, 0o644);
        await rm(cacheDir, { recursive: true, force: true });
      });
      const seeding = await startTestServer({ hubUrl: mirror.url, cacheDir });
      t.equal((await loadModel(seeding.url, TINY)).events.at(-1)?.status, 'ready', 'the cache is filled first');
      await seeding.close();
      const before = await cacheTree(cacheDir);

      const server = await startReadOnlyServer(cacheDir, by);
      t.teardown(() => server.close());
      const models = (await (await fetch(`${server.url}/v1/models`)).json()) as {
        data: { id: string; status: string }[];
      };
      t.match(models.data, [{ id: `${TINY}@main`, status: 'cached' }], '/v1/models lists what it holds');

      mirror.clearRequests();
      const held = await loadModel(server.url, TINY);
      t.equal(held.events.at(-1)?.status, 'ready', 'a model it holds loads online');
      t.same(fileDownloads(mirror), [], 'without fetching a file');

      const lacking = await loadModel(server.url, OTHER);
      const last = lacking.events.at(-1);
      t.match(last, { status: 'error', code: 'CACHE_NOT_WRITABLE' });
      const message = last?.status === 'error' ? last.message : '';
      t.match(message, cacheDir, 'names the cache');
      t.match(message, by === 'mount' ? /read-only .*EROFS/ : /read-only/, 'says it is read-only');
      t.match(message, `${OTHER}@main`, 'names the model it lacks');
      t.match(message, /tokenizer\.json/, 'and what of it cannot be fetched');
      t.match(message, /--cache-dir/, 'and what to do');
      t.same(fileDownloads(mirror), [], 'nothing was fetched to be thrown away');
      t.same(await cacheTree(cacheDir), before, 'nothing was written');
    },
  );
}

t.test(
  'a revision that moved on since the read-only cache saw it: the message names the commit it holds',
  { skip: asRoot ? cannotRunAsNobody() : false },
  async (t) => {
    const cacheDir = await mkdtemp(join(tmpdir(), 'modeldeck-ro-cache-'));
    t.teardown(async () => {
      await chmodTree(cacheDir, 0o755, 0o644);
      await rm(cacheDir, { recursive: true, force: true });
    });
    const seeding = await startTestServer({ hubUrl: mirror.url, cacheDir });
    t.equal((await loadModel(seeding.url, MOVING)).events.at(-1)?.status, 'ready');
    await seeding.close();
    const held = await commitOf(mirror.url, MOVING);
    // A new commit on main: one more file.
    await writeFile(join(root, MOVING, 'README.md'), 'a new commit\n');
    t.not(await commitOf(mirror.url, MOVING), held, 'main moved');

    const server = await startReadOnlyServer(cacheDir, 'permissions');
    t.teardown(() => server.close());
    const last = (await loadModel(server.url, MOVING)).events.at(-1);
    t.match(last, { status: 'error', code: 'CACHE_NOT_WRITABLE', message: /read-only/ });
    t.match(last, { message: `it holds ${MOVING} at commit ${held}` });
    t.match(last, { message: /--offline/ });
  },
);
