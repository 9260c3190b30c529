// A full disk: a cache on a small tmpfs (mounted for the test, which needs root; skipped otherwise) refuses a model
// that does not fit before its first byte, with DISK_FULL and both sizes; a disk that fills up during a download fails
// the load with DISK_FULL and does not stay full: the load's partial files are removed, and the next small model loads.
import { execFileSync } from 'node:child_process';
import { cp, mkdir, mkdtemp, open, readdir, rm, stat, statfs, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { demoModelsDir } from './helpers/demo.js';
import { fileGets } from './helpers/hf-cache.js';
import { loadModel } from './helpers/sse-client.js';
import { startTestMirror, startTestServer } from './helpers/stack.js';

const BIG = 'modeldeck/chat-100m';
const BIG_FILE = 'onnx/model.onnx_data';
const TINY = 'modeldeck/tiny-chat';
const demo = await demoModelsDir([TINY, BIG]);
const root = await mkdtemp(join(tmpdir(), 'modeldeck-disk-root-'));
await mkdir(join(root, 'modeldeck'), { recursive: true });
await symlink(join(demo, BIG), join(root, BIG));
await cp(join(demo, TINY), join(root, TINY), { recursive: true });
const mirror = await startTestMirror(root);
t.teardown(async () => {
  await mirror.close();
  await rm(root, { recursive: true, force: true });
});

/** A tmpfs of `megabytes` MB mounted on a new directory, unmounted at the end of `t`; undefined when it cannot be. */
async function smallDisk(t: Test, megabytes: number): Promise<string | undefined> {
  const dir = await mkdtemp(join(tmpdir(), 'modeldeck-disk-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${megabytes}m`, 'tmpfs', dir], { stdio: 'ignore' });
  } catch {
    await rm(dir, { recursive: true, force: true });
    return undefined;
  }
  t.teardown(async () => {
    execFileSync('umount', ['-l', dir], { stdio: 'ignore' });
    await rm(dir, { recursive: true, force: true });
  });
  return dir;
}

const canMount = process.getuid?.() === 0;

/** The partial downloads under `cacheDir`. */
async function partials(cacheDir: string): Promise<string[]> {
  const entries = await readdir(cacheDir, { recursive: true }).catch(() => [] as string[]);
  return entries.filter((entry) => entry.includes('.modeldeck.'));
}

/** Fills the disk of `dir` with a file written until the disk refuses more. */
async function fill(dir: string, stop: () => boolean = () => false): Promise<void> {
  const handle = await open(join(dir, 'filler'), 'w');
  const chunk = Buffer.alloc(1024 * 1024, 1);
  try {
    while (!stop()) await handle.write(chunk);
  } catch {
    // ENOSPC: full.
  } finally {
    await handle.close();
  }
}

t.test(
  'a model that does not fit is refused before its first byte, naming the sizes',
  { skip: canMount ? false : 'needs root to mount a tmpfs' },
  async (t) => {
    const cacheDir = await smallDisk(t, 40);
    if (cacheDir === undefined) return t.comment('skipped: mount -t tmpfs failed here');
    const server = await startTestServer({ hubUrl: mirror.url, cacheDir });
    t.teardown(() => server.close());
    mirror.clearRequests();
    const res = await loadModel(server.url, BIG);
    const last = res.events.at(-1);
    t.equal(last?.status === 'error' ? last.code : last?.status, 'DISK_FULL', 'the load ends DISK_FULL');
    t.match(
      last?.status === 'error' ? last.message : '',
      new RegExp(
        `not enough disk space to download ${BIG}@main \\(onnx/model\\.onnx, onnx/model\\.onnx_data\\): it needs ` +
          `10\\d\\.\\d MB and the disk of the model cache at ${cacheDir} has \\d+\\.\\d MB free: free some space or pick ` +
          'another --cache-dir',
      ),
      'with both sizes and what to do',
    );
    t.notOk(
      fileGets(mirror).some((get) => get.path === BIG_FILE),
      'not a byte of the big file was asked for',
    );
    t.same(await partials(cacheDir), [], 'no partial file');
    const tiny = await loadModel(server.url, TINY);
    t.equal(tiny.events.at(-1)?.status, 'ready', 'a model that fits loads');
  },
);

t.test(
  'a disk that fills up during a download: DISK_FULL, the partials go, the next model loads',
  { skip: canMount ? false : 'needs root to mount a tmpfs' },
  async (t) => {
    const cacheDir = await smallDisk(t, 120);
    if (cacheDir === undefined) return t.comment('skipped: mount -t tmpfs failed here');
    const server = await startTestServer({ hubUrl: mirror.url, cacheDir });
    t.teardown(() => server.close());
    mirror.setLinkThrottle(20_000_000);
    t.teardown(() => mirror.setLinkThrottle(0));
    let filling: Promise<void> | undefined;
    let ended = false;
    const res = await loadModel(server.url, BIG, {
      onEvent(event) {
        const p = event.status === 'loading' && event.stage === 'download' ? event.progress : undefined;
        // Another program takes the rest of the disk a fifth of the way, and stops once the load has ended (were it
        // still writing, it would take the room the load's removed partials gave back: a race, not modeldeck's).
        if (filling === undefined && p !== undefined && p.total !== null && p.current > p.total / 5) {
          filling = fill(cacheDir, () => ended);
        }
        if (event.status === 'error' || event.status === 'ready') ended = true;
      },
    });
    await filling;
    mirror.setLinkThrottle(0);
    const last = res.events.at(-1);
    t.equal(last?.status === 'error' ? last.code : last?.status, 'DISK_FULL', 'the load ends DISK_FULL');
    t.match(
      last?.status === 'error' ? last.message : '',
      /the disk filled up while writing .* \(ENOSPC\): free some space or pick another --cache-dir \(this load's partial downloads are removed, so that the disk is not left full\)/,
    );
    t.same(await partials(cacheDir), [], "the load's partial files are gone");
    // What the disk holds besides the other program's file: the model's small files, not its partial weights.
    const disk = await statfs(cacheDir);
    const filler = (await stat(join(cacheDir, 'filler'))).size;
    const held = (disk.blocks - disk.bfree) * disk.bsize - filler;
    t.ok(held < 10_000_000, `the disk holds ${held} bytes besides the other program's ${filler}`);
    t.ok(disk.bavail * disk.bsize > 2_000_000, `the disk has room again (${disk.bavail * disk.bsize} bytes)`);
    const tiny = await loadModel(server.url, TINY);
    t.equal(tiny.events.at(-1)?.status, 'ready', 'the next, small model loads');
  },
);
