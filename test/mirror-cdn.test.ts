// The mirror's --redirect-large: large files answer with a 302 to a second origin (a CDN), as the Hub's do; and the
// server's downloads through it: parallel ranged parts from the CDN, resume after a cut, sha256 verified, the token
// never sent to the CDN.
import { createHash } from 'node:crypto';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { LoadEvent } from '../src/protocol/events.js';
import { snapshotDir } from '../src/server/fetch/model-cache.js';
import { demoModelsDir } from './helpers/demo.js';
import { cdnGets, commitOf } from './helpers/hf-cache.js';
import { loadModel } from './helpers/sse-client.js';
import { startTestMirror, startTestServer } from './helpers/stack.js';

const MODEL = 'modeldeck/chat-10m';
const BIG_FILE = 'onnx/model.onnx';
const TOKEN = 'hf_cdn_test_token';
const demo = await demoModelsDir([MODEL]);
const root = await mkdtemp(join(tmpdir(), 'modeldeck-cdn-root-'));
await cp(join(demo, MODEL), join(root, MODEL), { recursive: true });
const bigBytes = await readFile(join(root, MODEL, BIG_FILE));
const bigSha256 = createHash('sha256').update(bigBytes).digest('hex');
// Files of 1 MB and more are LFS files here, so the 10 MB model file redirects.
const mirror = await startTestMirror(root, {
  lfsThreshold: 1_000_000,
  redirectLarge: true,
  requireToken: { token: TOKEN, repos: ['modeldeck/*'] },
});
t.teardown(async () => {
  await mirror.close();
  await rm(root, { recursive: true, force: true });
});
const FAST = { backoffMs: 20, maxBackoffMs: 200 };
const auth = { Authorization: `Bearer ${TOKEN}` };
const ready = (events: readonly LoadEvent[]): boolean => events.at(-1)?.status === 'ready';
/** The path of a request's URL, without the query (the CDN's URLs carry their signature there). */
const pathOf = (url: string): string => new URL(url, 'http://mirror.invalid').pathname;
const commitOfMain = () => commitOf(mirror.url, MODEL, 'main', TOKEN);
const cdnBytes = () => cdnGets(mirror).reduce((sum, r) => sum + r.bytesSent, 0);
/** The sha256 of the big file in the snapshot a server wrote into `cacheDir`. */
async function snapshotSha256(cacheDir: string): Promise<string> {
  const file = join(snapshotDir(cacheDir, { id: MODEL, revision: 'main' }, await commitOfMain()), BIG_FILE);
  return createHash('sha256')
    .update(await readFile(file))
    .digest('hex');
}

t.test('a large file is a 302 to the CDN origin; only the 302 names commit, sha256 and size', async (t) => {
  t.ok(mirror.cdnUrl !== undefined, 'the mirror names its CDN origin');
  const cdn = new URL(mirror.cdnUrl ?? '');
  t.not(cdn.origin, new URL(mirror.url).origin, 'another origin');
  const commit = await commitOfMain();

  for (const method of ['GET', 'HEAD']) {
    const res = await fetch(`${mirror.url}/${MODEL}/resolve/main/${BIG_FILE}`, {
      method,
      headers: auth,
      redirect: 'manual',
    });
    t.equal(res.status, 302, `${method}: 302`);
    const location = res.headers.get('location') ?? '';
    t.equal(new URL(location).origin, cdn.origin, `${method}: to the CDN`);
    t.equal(res.headers.get('x-repo-commit'), commit);
    t.equal(res.headers.get('x-linked-etag'), `"${bigSha256}"`);
    t.equal(res.headers.get('x-linked-size'), String(bigBytes.length));
  }

  const small = await fetch(`${mirror.url}/${MODEL}/resolve/main/config.json`, { headers: auth, redirect: 'manual' });
  t.equal(small.status, 200, 'a small file is answered by the hub itself');
  t.equal(small.headers.get('x-repo-commit'), commit);
  await small.arrayBuffer();

  const head = await fetch(`${mirror.url}/${MODEL}/resolve/main/${BIG_FILE}`, { headers: auth, redirect: 'manual' });
  const location = head.headers.get('location') ?? '';
  const ranged = await fetch(location, { headers: { Range: 'bytes=1000-1999' } });
  t.equal(ranged.status, 206, 'the CDN answers ranges');
  t.same(Buffer.from(await ranged.arrayBuffer()), bigBytes.subarray(1000, 2000), 'the right bytes');
  t.equal(ranged.headers.get('content-range'), `bytes 1000-1999/${bigBytes.length}`);
  for (const header of ['x-repo-commit', 'x-linked-etag', 'x-linked-size'])
    t.equal(ranged.headers.get(header), null, `the CDN sends no ${header}`);

  const withToken = await fetch(location, { headers: auth });
  t.equal(withToken.status, 400, 'the CDN refuses a request that carries Authorization');
  await withToken.arrayBuffer();

  // The URL is signed for its path: another path with its signature is refused before anything is looked up.
  const elsewhere = new URL(location);
  elsewhere.pathname = elsewhere.pathname.replace(/model\.onnx$/, 'nope.onnx');
  const refused = await fetch(elsewhere);
  t.equal(refused.status, 403);
  await refused.arrayBuffer();
});

t.test('the server downloads through the redirect: ranged parts from the CDN, verified, no token there', async (t) => {
  const cacheDir = await mkdtemp(join(tmpdir(), 'modeldeck-cdn-cache-'));
  t.teardown(() => rm(cacheDir, { recursive: true, force: true }));
  const server = await startTestServer({ hubUrl: mirror.url, cacheDir, token: TOKEN, download: FAST });
  t.teardown(() => server.close());
  mirror.clearRequests();
  const res = await loadModel(server.url, MODEL);
  t.ok(ready(res.events), `ready (${JSON.stringify(res.events.at(-1))})`);
  const parts = cdnGets(mirror).filter((r) => pathOf(r.url).endsWith(BIG_FILE) && r.range !== undefined);
  t.ok(parts.length > 1, `fetched from the CDN in ${parts.length} ranged parts`);
  t.ok(
    parts.every((r) => r.status === 206),
    'each answered 206',
  );
  t.equal(cdnBytes(), bigBytes.length, 'every byte once, from the CDN');
  t.equal(await snapshotSha256(cacheDir), bigSha256, 'the snapshot file is intact');
});

t.test('a cut on the CDN resumes from the bytes received; a flipped byte is fetched again', async (t) => {
  const middle = Math.floor(bigBytes.length / 2);
  for (const fault of [
    { kind: 'reset' as const, path: BIG_FILE, afterBytes: middle, times: 1 },
    { kind: 'flip' as const, path: BIG_FILE, afterBytes: middle, times: 1 },
  ]) {
    const cacheDir = await mkdtemp(join(tmpdir(), 'modeldeck-cdn-fault-'));
    const server = await startTestServer({
      hubUrl: mirror.url,
      cacheDir,
      token: TOKEN,
      download: FAST,
      stallTimeoutMs: 2000,
    });
    mirror.clearRequests();
    // A URL-path pattern: the fault hits the CDN's answer, not the hub's 302.
    mirror.setFaults([{ ...fault, path: `/lfs/**/${BIG_FILE}` }]);
    try {
      const res = await loadModel(server.url, MODEL);
      t.ok(ready(res.events), `${fault.kind}: ready (${JSON.stringify(res.events.at(-1))})`);
      t.ok(
        cdnGets(mirror).some((r) => r.fault === fault.kind),
        `${fault.kind}: the fault hit the CDN`,
      );
      const sent = cdnBytes();
      if (fault.kind === 'reset')
        t.ok(sent >= bigBytes.length && sent <= bigBytes.length * 1.2, `reset: ${sent} bytes for ${bigBytes.length}`);
      else t.ok(sent > bigBytes.length, `flip: fetched again (${sent} bytes for ${bigBytes.length})`);
      t.equal(await snapshotSha256(cacheDir), bigSha256, `${fault.kind}: intact`);
    } finally {
      mirror.setFaults([]);
      await server.close();
      await rm(cacheDir, { recursive: true, force: true });
    }
  }
});
