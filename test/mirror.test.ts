import t from 'tap';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { createTokenBucket, createThrottle } from '../src/mirror/throttle.js';
import { decideRange } from '../src/mirror/http-range.js';
import { FaultSpecError, createFaultTable, globToRegExp, parseFaultSpec } from '../src/mirror/faults.js';
import { parseMirrorRoute } from '../src/mirror/routes.js';
import { commitShaOf, revisionDirName } from '../src/mirror/repo-fs.js';
import { startMirror, type MirrorRequest } from '../src/mirror/mirror.js';
import { MIRROR_USAGE, runMirrorCommand } from '../src/cli/mirror.js';
import { sourceModuleUrl } from './helpers/repo.js';
import { untracked } from './helpers/untracked.js';
import { fitHelp } from '../src/cli/help-text.js';

// ---------------------------------------------------------------------------------------------------------------
// Fixture: a directory of repositories, shared by the HTTP tests.

/** Deterministic bytes (an LCG), so a corrupted or shifted range shows. */
function pseudoRandomBytes(length: number, seed: number): Buffer {
  const out = Buffer.alloc(length);
  let x = seed >>> 0;
  for (let i = 0; i < length; i += 1) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

function gitBlobOid(content: Buffer | string): string {
  const bytes = Buffer.from(content);
  return createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex');
}

const CONFIG = '{"model_type": "llama", "vocab_size": 260}\n';
const CONFIG_PR = '{"model_type": "llama", "vocab_size": 261}\n';
const CONFIG_V2 = '{"model_type": "llama", "vocab_size": 262}\n';
const TOKENIZER = `{"version": "1.0", "model": {"type": "BPE", "vocab": {}}, "pad": "${'x'.repeat(2000)}"}\n`;
const BIG = pseudoRandomBytes(3 * 1024 * 1024 + 17, 42);
const SMALL_ONNX = pseudoRandomBytes(4096, 7);
const README = 'hello from another repo\n';

function writeTree(root: string, files: Record<string, string | Buffer>): void {
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), content);
  }
}

const root = t.testdir({});
writeTree(root, {
  'acme/tiny/config.json': CONFIG,
  'acme/tiny/tokenizer.json': TOKENIZER,
  'acme/tiny/onnx/model.onnx': BIG,
  'acme/tiny/onnx/model_quantized.onnx': SMALL_ONNX,
  'acme/tiny/.gitattributes': '*.onnx filter=lfs\n',
  'acme/tiny/.cache/secret.json': '{"secret": true}',
  'acme/tiny/onnx/.lock': 'lock',
  'acme/tiny@refs--pr--1/config.json': CONFIG_PR,
  'acme/tiny@v2/config.json': CONFIG_V2,
  'acme/other/README.md': README,
  'acme/.hidden/config.json': CONFIG,
  'outside.json': '{"outside": true}',
});

// Files of 1 MB and more are listed as LFS files here, so the 3 MB one is.
const mirror = await startMirror({ root, lfsThreshold: 1_000_000 });
t.teardown(() => mirror.close());
const base = mirror.url;

async function get(path: string, init: RequestInit = {}): Promise<{ res: Response; body: Buffer }> {
  const res = await fetch(`${base}${path}`, init);
  return { res, body: Buffer.from(await res.arrayBuffer()) };
}

async function getJson<T = unknown>(path: string): Promise<{ res: Response; json: T }> {
  const res = await fetch(`${base}${path}`);
  return { res, json: (await res.json()) as T };
}

/** Reads a body until it ends or fails; returns what arrived and the error, if any. */
async function readAll(res: Response): Promise<{ bytes: Buffer; error: unknown }> {
  const chunks: Buffer[] = [];
  const reader = res.body?.getReader();
  if (reader === undefined) return { bytes: Buffer.alloc(0), error: undefined };
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(Buffer.from(value));
    }
    return { bytes: Buffer.concat(chunks), error: undefined };
  } catch (error) {
    return { bytes: Buffer.concat(chunks), error };
  }
}

const SHA = /^[0-9a-f]{40}$/;

// ---------------------------------------------------------------------------------------------------------------
// Pure units.

t.test('token bucket: paces reservations against the clock, starts with one burst, 0 means unlimited', async (t) => {
  let now = 0;
  let rate = 1000;
  const bucket = createTokenBucket({ bytesPerSecond: () => rate, burstSeconds: 0.05, now: () => now });
  t.equal(bucket.sliceSize(), 50, 'a slice is one burst: 50 ms at 1000 B/s');
  t.equal(bucket.reserve(50), 0, 'the first burst goes at once');
  t.equal(bucket.reserve(100), 100, '100 more bytes owe 100 ms');
  now += 100;
  t.equal(bucket.reserve(10), 10, 'the debt was paid by the wait, not forgiven twice');
  now += 1000;
  t.equal(bucket.reserve(50), 0, 'an idle second refills only up to one burst');
  t.equal(bucket.reserve(1), 1, 'and not beyond');
  rate = 0;
  t.equal(bucket.reserve(1_000_000), 0, 'unlimited');
  t.equal(bucket.sliceSize(), Number.POSITIVE_INFINITY);
  rate = 2000;
  t.equal(bucket.reserve(100), 0, 'a limit that comes back starts with a full bucket');
  t.equal(bucket.reserve(100), 50, 'then paces at the new rate: 100 B at 2000 B/s is 50 ms');
});

t.test('throttle stream: passes bytes through unchanged, and destroying it mid-wait clears its timer', async (t) => {
  const input = pseudoRandomBytes(5000, 3);
  const fast = createThrottle({ bytesPerSecond: 0 });
  const out: Buffer[] = [];
  fast.on('data', (chunk: Buffer) => out.push(chunk));
  const ended = new Promise((resolve) => fast.on('end', resolve));
  fast.end(input);
  await ended;
  t.same(Buffer.concat(out), input);

  // 10 B/s: the second slice waits ~100 s; destroying must not leave that timer behind (tap would hang).
  const slow = createThrottle({ bytesPerSecond: 10 });
  const sink = new PassThrough();
  slow.pipe(sink);
  const got: Buffer[] = [];
  sink.on('data', (chunk: Buffer) => got.push(chunk));
  slow.write(Buffer.alloc(1000));
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.equal(
    Buffer.concat(got).length,
    1,
    'one 1-byte slice (a burst is at least 1 byte) went at once, the next waits 100 ms',
  );
  slow.destroy();
  t.ok(slow.destroyed);
});

t.test('decideRange', async (t) => {
  const cases: [string | undefined, number, ReturnType<typeof decideRange>][] = [
    [undefined, 10, { kind: 'full' }],
    ['bytes=0-0', 10, { kind: 'partial', start: 0, end: 0 }],
    ['bytes=2-5', 10, { kind: 'partial', start: 2, end: 5 }],
    ['bytes=2-', 10, { kind: 'partial', start: 2, end: 9 }],
    ['bytes=-3', 10, { kind: 'partial', start: 7, end: 9 }],
    ['bytes=-30', 10, { kind: 'partial', start: 0, end: 9 }],
    ['bytes=5-100', 10, { kind: 'partial', start: 5, end: 9 }],
    ['bytes=10-', 10, { kind: 'unsatisfiable' }],
    ['bytes=10-20', 10, { kind: 'unsatisfiable' }],
    ['bytes=-0', 10, { kind: 'unsatisfiable' }],
    ['bytes=0-0', 0, { kind: 'unsatisfiable' }],
    ['bytes=5-2', 10, { kind: 'full' }],
    ['bytes=0-1,4-5', 10, { kind: 'full' }],
    ['items=0-1', 10, { kind: 'full' }],
    ['bytes=-', 10, { kind: 'full' }],
    ['garbage', 10, { kind: 'full' }],
  ];
  for (const [header, size, expected] of cases)
    t.same(decideRange(header, size), expected, `${String(header)} of ${size}`);
});

t.test('globs and fault specs', async (t) => {
  t.ok(globToRegExp('onnx/*').test('onnx/model.onnx'));
  t.notOk(globToRegExp('onnx/*').test('onnx/sub/model.onnx'), '* stays in one segment');
  t.ok(globToRegExp('**/*.json').test('config.json'), '**/ may match nothing');
  t.ok(globToRegExp('**/*.json').test('a/b/c.json'));
  t.notOk(globToRegExp('config.json').test('configxjson'), 'dots are literal');
  t.ok(globToRegExp('/api/models/**').test('/api/models/acme/tiny/tree/main'));

  t.same(parseFaultSpec('status:503:onnx/*'), { kind: 'status', status: 503, path: 'onnx/*' });
  t.same(parseFaultSpec('reset:1000:onnx/model.onnx'), { kind: 'reset', afterBytes: 1000, path: 'onnx/model.onnx' });
  t.same(parseFaultSpec('truncate:500:config.json:x2'), {
    kind: 'truncate',
    bytes: 500,
    path: 'config.json',
    times: 2,
  });
  t.same(parseFaultSpec('stall:0:acme/tiny:tokenizer.json:x1'), {
    kind: 'stall',
    afterBytes: 0,
    path: 'tokenizer.json',
    repo: 'acme/tiny',
    times: 1,
  });
  for (const [spec, why] of [
    ['boom:1:x', /unknown KIND "boom"/],
    ['status:abc:x', /N must be a whole number/],
    ['status:200:x', /400 to 599/],
    ['reset:10', /at least KIND:N:PATTERN/],
    ['reset:10:', /empty PATTERN/],
    ['reset:10:a:b:c', /too many fields/],
  ] as const) {
    t.throws(() => parseFaultSpec(spec), { name: 'FaultSpecError', message: why }, spec);
  }
  t.throws(() => createFaultTable([{ kind: 'reset', afterBytes: -1, path: 'x' }]), FaultSpecError);

  const table = createFaultTable([
    { kind: 'status', status: 500, path: 'config.json', repo: 'acme/other', times: 1 },
    { kind: 'stall', afterBytes: 0, path: '/api/**' },
  ]);
  t.equal(
    table.take({ pathname: '/acme/tiny/resolve/main/config.json', repo: 'acme/tiny', path: 'config.json' }, ['status']),
    undefined,
    'other repo',
  );
  t.equal(
    table.take({ pathname: '/acme/other/resolve/main/config.json', repo: 'acme/other', path: 'config.json' }, [
      'stall',
    ]),
    undefined,
    'other kinds are not taken',
  );
  t.equal(
    table.take({ pathname: '/acme/other/resolve/main/config.json', repo: 'acme/other', path: 'config.json' }, [
      'status',
    ])?.kind,
    'status',
  );
  t.equal(
    table.take({ pathname: '/acme/other/resolve/main/config.json', repo: 'acme/other', path: 'config.json' }, [
      'status',
    ]),
    undefined,
    'times: 1 is spent',
  );
  t.equal(
    table.take({ pathname: '/api/models/acme/tiny', repo: 'acme/tiny' }, ['stall'])?.kind,
    'stall',
    'URL-path pattern',
  );
});

t.test('routes: revision splits, encoded revisions, API paths', async (t) => {
  t.same(parseMirrorRoute('/acme/tiny/resolve/refs%2Fpr%2F1/onnx/model.onnx'), {
    kind: 'resolve',
    org: 'acme',
    name: 'tiny',
    splits: [
      { revision: 'refs/pr/1', path: 'onnx/model.onnx' },
      { revision: 'refs/pr/1/onnx', path: 'model.onnx' },
    ],
  });
  t.same(parseMirrorRoute('/api/models/acme/tiny/tree/main?recursive=1'), {
    kind: 'tree',
    org: 'acme',
    name: 'tiny',
    splits: [{ revision: 'main', path: '' }],
    recursive: true,
    cursor: 0,
  });
  t.same(parseMirrorRoute('/api/models/acme/tiny'), {
    kind: 'info',
    org: 'acme',
    name: 'tiny',
    revision: 'main',
    blobs: false,
  });
  t.same(parseMirrorRoute('/api/models/acme/tiny/revision/refs%2Fpr%2F1?blobs=true'), {
    kind: 'info',
    org: 'acme',
    name: 'tiny',
    revision: 'refs/pr/1',
    blobs: true,
  });
  t.same(parseMirrorRoute('/acme/tiny/resolve/main'), { kind: 'unknown' }, 'no file path');
  t.same(parseMirrorRoute('//acme/tiny'), { kind: 'unknown' }, 'a leading // is a path, not a host');
  t.equal(parseMirrorRoute('/acme/tiny/resolve/main/%E0%A4%A').kind, 'bad');
  t.equal(revisionDirName('tiny', 'refs/pr/1'), 'tiny@refs--pr--1');
  t.equal(revisionDirName('tiny', 'main'), 'tiny');
  const files = [
    { path: 'a.json', etag: 'x' },
    { path: 'b.json', etag: 'y' },
  ];
  t.match(commitShaOf('acme/tiny', files), SHA);
  t.equal(commitShaOf('acme/tiny', [...files].reverse()), commitShaOf('acme/tiny', files), 'order does not matter');
  t.not(
    commitShaOf('acme/tiny', [files[0]!, { path: 'b.json', etag: 'z' }]),
    commitShaOf('acme/tiny', files),
    'content does',
  );
});

// ---------------------------------------------------------------------------------------------------------------
// Over HTTP.

t.test('resolve: exact bytes and Hub headers, GET and HEAD, never compressed', async (t) => {
  const config = await get('/acme/tiny/resolve/main/config.json', { headers: { 'accept-encoding': 'gzip, br' } });
  t.equal(config.res.status, 200);
  t.equal(config.body.toString(), CONFIG);
  t.equal(config.res.headers.get('content-length'), String(Buffer.byteLength(CONFIG)));
  t.equal(config.res.headers.get('accept-ranges'), 'bytes');
  t.match(config.res.headers.get('content-type'), /^application\/json/);
  t.equal(config.res.headers.get('content-encoding'), null);
  t.equal(config.res.headers.get('etag'), `"${gitBlobOid(CONFIG)}"`, 'ETag is the git blob oid, as on the Hub');
  const commit = config.res.headers.get('x-repo-commit');
  t.match(commit, SHA);

  const big = await get('/acme/tiny/resolve/main/onnx/model.onnx');
  t.equal(big.res.status, 200);
  t.equal(big.body.length, BIG.length);
  t.ok(big.body.equals(BIG), '3 MB of bytes, exact');
  t.equal(big.res.headers.get('content-type'), 'application/octet-stream');
  t.equal(big.res.headers.get('x-repo-commit'), commit, 'one commit per revision');
  t.equal(big.res.headers.get('x-linked-size'), String(BIG.length), 'LFS files carry X-Linked-Size');

  const head = await get('/acme/tiny/resolve/main/onnx/model.onnx', { method: 'HEAD' });
  t.equal(head.res.status, 200);
  t.equal(head.body.length, 0);
  t.equal(head.res.headers.get('content-length'), String(BIG.length));
  t.equal(head.res.headers.get('etag'), big.res.headers.get('etag'));
  t.equal(head.res.headers.get('x-repo-commit'), commit);

  const notModified = await get('/acme/tiny/resolve/main/config.json', {
    headers: { 'if-none-match': config.res.headers.get('etag') ?? '' },
  });
  t.equal(notModified.res.status, 304);
});

t.test('resolve: byte ranges', async (t) => {
  const probe = await get('/acme/tiny/resolve/main/onnx/model.onnx', { headers: { range: 'bytes=0-0' } });
  t.equal(probe.res.status, 206, 'transformers.js probe');
  t.equal(probe.res.headers.get('content-range'), `bytes 0-0/${BIG.length}`);
  t.equal(probe.res.headers.get('content-length'), '1');
  t.same([...probe.body], [BIG[0]]);

  const middle = await get('/acme/tiny/resolve/main/onnx/model.onnx', { headers: { range: 'bytes=1000000-1999999' } });
  t.equal(middle.res.status, 206);
  t.equal(middle.res.headers.get('content-range'), `bytes 1000000-1999999/${BIG.length}`);
  t.ok(middle.body.equals(BIG.subarray(1000000, 2000000)));

  const open = await get('/acme/tiny/resolve/main/onnx/model.onnx', { headers: { range: `bytes=${BIG.length - 5}-` } });
  t.ok(open.body.equals(BIG.subarray(BIG.length - 5)));
  const suffix = await get('/acme/tiny/resolve/main/config.json', { headers: { range: 'bytes=-5' } });
  t.equal(suffix.body.toString(), CONFIG.slice(-5));
  t.equal(suffix.res.headers.get('content-range'), `bytes ${CONFIG.length - 5}-${CONFIG.length - 1}/${CONFIG.length}`);

  const past = await get('/acme/tiny/resolve/main/config.json', { headers: { range: `bytes=${CONFIG.length}-` } });
  t.equal(past.res.status, 416);
  t.equal(past.res.headers.get('content-range'), `bytes */${CONFIG.length}`);

  const staleIfRange = await get('/acme/tiny/resolve/main/config.json', {
    headers: { range: 'bytes=0-0', 'if-range': '"stale"' },
  });
  t.equal(staleIfRange.res.status, 200, 'If-Range with another ETag gets the whole file');
  t.equal(staleIfRange.body.toString(), CONFIG);

  const headRange = await get('/acme/tiny/resolve/main/onnx/model.onnx', {
    method: 'HEAD',
    headers: { range: 'bytes=0-0' },
  });
  t.equal(headRange.res.status, 206);
  t.equal(headRange.res.headers.get('content-range'), `bytes 0-0/${BIG.length}`);
});

t.test('resolve: revisions, encoded or not, and by commit sha', async (t) => {
  const main = await get('/acme/tiny/resolve/main/config.json');
  const encoded = await get('/acme/tiny/resolve/refs%2Fpr%2F1/config.json');
  t.equal(encoded.res.status, 200);
  t.equal(encoded.body.toString(), CONFIG_PR);
  const plain = await get('/acme/tiny/resolve/refs/pr/1/config.json');
  t.equal(plain.body.toString(), CONFIG_PR, 'an unencoded refs/pr/1 works too');
  const v2 = await get('/acme/tiny/resolve/v2/config.json');
  t.equal(v2.body.toString(), CONFIG_V2);

  const prCommit = encoded.res.headers.get('x-repo-commit') ?? '';
  t.match(prCommit, SHA);
  t.not(prCommit, main.res.headers.get('x-repo-commit'), 'each revision has its own commit');
  t.equal(plain.res.headers.get('x-repo-commit'), prCommit, 'stable across requests');
  const bySha = await get(`/acme/tiny/resolve/${prCommit}/config.json`);
  t.equal(bySha.res.status, 200, 'the commit sha is a revision, as huggingface_hub uses it');
  t.equal(bySha.body.toString(), CONFIG_PR);

  const onlyInMain = await get('/acme/tiny/resolve/v2/tokenizer.json');
  t.equal(onlyInMain.res.status, 404, 'revisions do not fall back to main');
});

t.test('resolve: 404s look like the Hub', async (t) => {
  const cases: [string, string, RegExp][] = [
    ['/acme/tiny/resolve/main/missing.json', 'EntryNotFound', /Entry not found/],
    ['/acme/tiny/resolve/main/onnx', 'EntryNotFound', /Entry not found/],
    ['/acme/tiny/resolve/main/.gitattributes', 'EntryNotFound', /Entry not found/],
    ['/acme/tiny/resolve/main/.cache/secret.json', 'EntryNotFound', /Entry not found/],
    ['/acme/tiny/resolve/main/%2E%2E%2F%2E%2E%2Foutside.json', 'EntryNotFound', /Entry not found/],
    ['/acme/tiny/resolve/nope/config.json', 'RevisionNotFound', /nope/],
    ['/acme/missing/resolve/main/config.json', 'RepoNotFound', /Repository not found/],
    ['/acme/.hidden/resolve/main/config.json', 'RepoNotFound', /Repository not found/],
    ['/acme/tiny@v2/resolve/main/config.json', 'RepoNotFound', /Repository not found/],
  ];
  for (const [path, code, message] of cases) {
    const { res, json } = await getJson<{ error: string }>(path);
    t.equal(res.status, 404, path);
    t.equal(res.headers.get('x-error-code'), code, `${path}: ${code}`);
    t.match(json.error, message, path);
  }
  const head = await get('/acme/tiny/resolve/main/missing.json', { method: 'HEAD' });
  t.equal(head.res.status, 404);
  t.equal(head.res.headers.get('x-error-code'), 'EntryNotFound');
  t.equal((await get('/acme/tiny/resolve/main/config.json', { method: 'POST' })).res.status, 405);
  t.equal((await get('/nothing-here')).res.status, 404);
  const bad = await getJson<{ error: string }>('/acme/tiny/resolve/main/%E0%A4%A');
  t.equal(bad.res.status, 400, 'an undecodable URL');
  t.match(bad.json.error, /percent-encoding/);
  t.equal(
    (await get('/acme/tiny/resolve/main/%2E%2E/%2E%2E/outside.json')).res.status,
    404,
    'dot segments cannot climb out',
  );
});

interface Entry {
  type: 'file' | 'directory';
  oid: string;
  size: number;
  path: string;
  lfs?: { oid: string; size: number; pointerSize: number };
}

t.test('tree: Hub-shaped listing, top level or recursive, dotfiles hidden', async (t) => {
  const top = await getJson<Entry[]>('/api/models/acme/tiny/tree/main');
  t.equal(top.res.status, 200);
  t.match(top.res.headers.get('content-type'), /^application\/json/);
  t.same(
    top.json.map((e) => [e.type, e.path]),
    [
      ['file', 'config.json'],
      ['directory', 'onnx'],
      ['file', 'tokenizer.json'],
    ],
  );
  const config = top.json.find((e) => e.path === 'config.json');
  t.same(
    config,
    { type: 'file', oid: gitBlobOid(CONFIG), size: Buffer.byteLength(CONFIG), path: 'config.json' },
    'no lfs member below the threshold',
  );
  t.match(
    top.json.find((e) => e.path === 'onnx'),
    { type: 'directory', size: 0, oid: SHA },
  );

  for (const flag of ['true', '1']) {
    const all = await getJson<Entry[]>(`/api/models/acme/tiny/tree/main?recursive=${flag}`);
    t.same(
      all.json.map((e) => e.path),
      ['config.json', 'onnx', 'onnx/model.onnx', 'onnx/model_quantized.onnx', 'tokenizer.json'],
      `recursive=${flag}`,
    );
    const big = all.json.find((e) => e.path === 'onnx/model.onnx');
    t.match(big, {
      type: 'file',
      size: BIG.length,
      oid: SHA,
      lfs: { oid: /^[0-9a-f]{64}$/, size: BIG.length, pointerSize: Number },
    });
    t.ok(
      (big?.lfs?.pointerSize ?? 0) > 100 && (big?.lfs?.pointerSize ?? 0) < 200,
      'pointer size is that of a real LFS pointer',
    );
    t.same(
      all.json.find((e) => e.path === 'onnx/model_quantized.onnx'),
      { type: 'file', oid: gitBlobOid(SMALL_ONNX), size: SMALL_ONNX.length, path: 'onnx/model_quantized.onnx' },
    );
  }

  const sub = await getJson<Entry[]>('/api/models/acme/tiny/tree/main/onnx');
  t.same(
    sub.json.map((e) => e.path),
    ['onnx/model.onnx', 'onnx/model_quantized.onnx'],
    'a subdirectory, full paths',
  );
  const pr = await getJson<Entry[]>('/api/models/acme/tiny/tree/refs%2Fpr%2F1?recursive=true');
  t.same(
    pr.json.map((e) => [e.path, e.oid]),
    [['config.json', gitBlobOid(CONFIG_PR)]],
  );

  const missingDir = await getJson<{ error: string }>('/api/models/acme/tiny/tree/main/nope');
  t.equal(missingDir.res.status, 404);
  t.equal(missingDir.res.headers.get('x-error-code'), 'EntryNotFound');
  const missingRev = await getJson<{ error: string }>('/api/models/acme/tiny/tree/nope');
  t.equal(missingRev.res.headers.get('x-error-code'), 'RevisionNotFound');
  const missingRepo = await getJson<{ error: string }>('/api/models/acme/nope/tree/main');
  t.equal(missingRepo.res.headers.get('x-error-code'), 'RepoNotFound');
});

t.test('model info: id, sha, siblings', async (t) => {
  const main = await getJson<{ id: string; sha: string; siblings: { rfilename: string }[] }>('/api/models/acme/tiny');
  t.equal(main.res.status, 200);
  t.equal(main.json.id, 'acme/tiny');
  const commit = (await get('/acme/tiny/resolve/main/config.json', { method: 'HEAD' })).res.headers.get(
    'x-repo-commit',
  );
  t.equal(main.json.sha, commit, 'the same commit as X-Repo-Commit');
  t.same(main.json.siblings, [
    { rfilename: 'config.json' },
    { rfilename: 'onnx/model.onnx' },
    { rfilename: 'onnx/model_quantized.onnx' },
    { rfilename: 'tokenizer.json' },
  ]);

  const rev = await getJson<{ sha: string; siblings: unknown[] }>('/api/models/acme/tiny/revision/v2');
  t.same(rev.json.siblings, [{ rfilename: 'config.json' }]);
  t.equal(
    rev.json.sha,
    (await get('/acme/tiny/resolve/v2/config.json', { method: 'HEAD' })).res.headers.get('x-repo-commit'),
  );
  const blobs = await getJson<{ siblings: unknown[] }>('/api/models/acme/tiny?blobs=true');
  t.match(blobs.json.siblings[1], {
    rfilename: 'onnx/model.onnx',
    size: BIG.length,
    blobId: SHA,
    lfs: { sha256: /^[0-9a-f]{64}$/, size: BIG.length },
  });
  const missing = await getJson('/api/models/acme/nope/revision/main');
  t.equal(missing.res.headers.get('x-error-code'), 'RepoNotFound');
});

t.test('request log: one entry per request, with status, range and bytes', async (t) => {
  mirror.clearRequests();
  t.same(mirror.requests, [], 'cleared');
  await get('/acme/tiny/resolve/main/config.json');
  await get('/acme/tiny/resolve/main/onnx/model.onnx', { headers: { range: 'bytes=0-0' } });
  await get('/acme/tiny/resolve/main/missing.json');
  t.match(mirror.requests, [
    { method: 'GET', url: '/acme/tiny/resolve/main/config.json', status: 200, bytesSent: Buffer.byteLength(CONFIG) },
    { method: 'GET', url: '/acme/tiny/resolve/main/onnx/model.onnx', status: 206, range: 'bytes=0-0', bytesSent: 1 },
    { method: 'GET', url: '/acme/tiny/resolve/main/missing.json', status: 404 },
  ]);
  t.equal(mirror.requests.length, 3);
  t.notOk('range' in (mirror.requests[0] as MirrorRequest), 'no range key without a Range header');
  mirror.clearRequests();
});

t.test('fault: status, for the first N requests only', async (t) => {
  mirror.setFaults([{ kind: 'status', status: 503, path: 'onnx/*', times: 2 }]);
  t.teardown(() => mirror.setFaults([]));
  const first = await getJson<{ error: string }>('/acme/tiny/resolve/main/onnx/model_quantized.onnx');
  t.equal(first.res.status, 503);
  t.match(first.json.error, /503/);
  const head = await get('/acme/tiny/resolve/main/onnx/model_quantized.onnx', { method: 'HEAD' });
  t.equal(head.res.status, 503, 'HEAD is hit too');
  const config = await get('/acme/tiny/resolve/main/config.json');
  t.equal(config.res.status, 200, 'other paths are not');
  const third = await get('/acme/tiny/resolve/main/onnx/model_quantized.onnx');
  t.equal(third.res.status, 200, 'after two, it behaves');
  t.ok(third.body.equals(SMALL_ONNX));

  mirror.setFaults([
    { kind: 'status', status: 404, path: 'config.json', repo: 'acme/other' },
    { kind: 'status', status: 500, path: '/api/models/acme/tiny/tree/**', times: 1 },
  ]);
  t.equal((await get('/acme/tiny/resolve/main/config.json')).res.status, 200, 'repo-scoped fault spares other repos');
  const api = await get('/api/models/acme/tiny/tree/main');
  t.equal(api.res.status, 500, 'a URL-path pattern hits API listings');
  t.equal((await get('/api/models/acme/tiny/tree/main')).res.status, 200);
  mirror.setFaults([{ kind: 'status', status: 404, path: 'config.json' }]);
  const injected404 = await get('/acme/tiny/resolve/main/config.json');
  t.equal(injected404.res.headers.get('x-error-code'), 'EntryNotFound', 'an injected 404 looks like a missing file');
  mirror.setFaults([{ kind: 'status', status: 502, path: '/elsewhere/**', times: 1 }]);
  t.equal((await get('/elsewhere/x')).res.status, 502, 'URL-path patterns reach routes the mirror does not serve');
  t.equal((await get('/elsewhere/x')).res.status, 404);
});

t.test('fault: reset after N bytes is a socket error for the client; a retry succeeds', async (t) => {
  mirror.setFaults([{ kind: 'reset', afterBytes: 100_000, path: 'onnx/model.onnx', times: 1 }]);
  t.teardown(() => mirror.setFaults([]));
  mirror.clearRequests();
  const failed = await fetch(`${base}/acme/tiny/resolve/main/onnx/model.onnx`)
    .then(readAll)
    .catch((error: unknown) => ({ bytes: Buffer.alloc(0), error }));
  t.ok(failed.error, 'the client sees an error');
  t.ok(failed.bytes.length <= 100_000, 'never more than the fault allows');
  t.ok(failed.bytes.equals(BIG.subarray(0, failed.bytes.length)), 'what arrived is correct');
  t.match(mirror.requests[0], { status: 200, fault: 'reset', bytesSent: 100_000 });
  const retry = await get('/acme/tiny/resolve/main/onnx/model.onnx');
  t.ok(retry.body.equals(BIG), 'the retry gets the whole file');

  mirror.setFaults([{ kind: 'reset', afterBytes: 0, path: 'config.json', times: 1 }]);
  const immediate = await fetch(`${base}/acme/tiny/resolve/main/config.json`)
    .then(readAll)
    .catch((error: unknown) => ({ bytes: Buffer.alloc(0), error }));
  t.ok(immediate.error, 'reset before any body byte');
  t.equal(immediate.bytes.length, 0);
});

t.test('fault: truncate sends a full Content-Length but a short body, then closes', async (t) => {
  mirror.setFaults([{ kind: 'truncate', bytes: 10, path: 'config.json', times: 1 }]);
  t.teardown(() => mirror.setFaults([]));
  const res = await fetch(`${base}/acme/tiny/resolve/main/config.json`);
  t.equal(res.status, 200);
  t.equal(res.headers.get('content-length'), String(Buffer.byteLength(CONFIG)), 'the header promises the whole file');
  const { bytes, error } = await readAll(res);
  t.ok(error, 'the client notices the short body');
  t.equal(bytes.toString(), CONFIG.slice(0, 10), 'exactly the first 10 bytes arrived');
  const retry = await get('/acme/tiny/resolve/main/config.json');
  t.equal(retry.body.toString(), CONFIG, 'times: 1, so the retry is whole');

  // Faults apply to ranged bodies too, at their offset in the file: only the range that holds it is hit.
  mirror.setFaults([{ kind: 'truncate', bytes: 8, path: 'config.json', times: 1 }]);
  const before = await get('/acme/tiny/resolve/main/config.json', { headers: { range: 'bytes=10-20' } });
  t.equal(before.body.toString(), CONFIG.slice(10, 21), 'a range past the offset is not hit');
  const ranged = await fetch(`${base}/acme/tiny/resolve/main/config.json`, { headers: { range: 'bytes=5-20' } });
  const partial = await readAll(ranged);
  t.equal(ranged.status, 206);
  t.equal(partial.bytes.toString(), CONFIG.slice(5, 8), 'cut at file offset 8');
  t.ok(partial.error);
});

t.test('fault: stall sends N bytes then hangs until the client gives up', async (t) => {
  mirror.setFaults([{ kind: 'stall', afterBytes: 1000, path: 'tokenizer.json', times: 1 }]);
  t.teardown(() => mirror.setFaults([]));
  mirror.clearRequests();
  const signal = AbortSignal.timeout(800);
  const res = await fetch(`${base}/acme/tiny/resolve/main/tokenizer.json`, { signal });
  t.equal(res.status, 200);
  const { bytes, error } = await readAll(res);
  t.equal((error as Error | undefined)?.name, 'TimeoutError', 'only the client timeout ends it');
  t.equal(bytes.toString(), TOKENIZER.slice(0, 1000));
  // The server notices the client leaving.
  for (let i = 0; i < 50 && mirror.requests[0]?.done !== true; i += 1)
    await new Promise((resolve) => setTimeout(resolve, 20));
  t.match(mirror.requests[0], { fault: 'stall', bytesSent: 1000, done: true });
  const retry = await get('/acme/tiny/resolve/main/tokenizer.json');
  t.equal(retry.body.toString(), TOKENIZER);

  mirror.setFaults([{ kind: 'stall', afterBytes: 0, path: '/api/models/**', times: 1 }]);
  const api = await fetch(`${base}/api/models/acme/tiny`, { signal: AbortSignal.timeout(500) });
  const apiBody = await readAll(api);
  t.equal((apiBody.error as Error | undefined)?.name, 'TimeoutError', 'API bodies can stall too');
  t.equal((await get('/api/models/acme/tiny')).res.status, 200);
});

t.test('throttle: limits bytes per second per response, and can be lifted at run time', async (t) => {
  mirror.setThrottle(100_000);
  t.teardown(() => mirror.setThrottle(0));
  mirror.clearRequests();
  const started = performance.now();
  const slow = await get('/acme/tiny/resolve/main/onnx/model.onnx', { headers: { range: 'bytes=0-199999' } });
  const seconds = (performance.now() - started) / 1000;
  t.ok(slow.body.equals(BIG.subarray(0, 200_000)), 'bytes unchanged');
  t.ok(seconds >= 1.5, `200 kB at 100 kB/s took ${seconds.toFixed(2)} s (at least 1.5 s)`);

  // A client that leaves mid-body: the server stops sending and its pacing timer goes with it.
  const controller = new AbortController();
  const res = await fetch(`${base}/acme/tiny/resolve/main/onnx/model.onnx`, { signal: controller.signal });
  const reader = res.body?.getReader();
  await reader?.read();
  controller.abort();
  await reader?.read().catch(() => undefined);
  const entry = mirror.requests[mirror.requests.length - 1];
  for (let i = 0; i < 50 && entry?.done !== true; i += 1) await new Promise((resolve) => setTimeout(resolve, 20));
  t.equal(entry?.done, true, 'the server saw the abort');
  const sent = entry?.bytesSent ?? 0;
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.equal(entry?.bytesSent, sent, 'nothing more is sent after the abort');
  t.ok(sent < BIG.length);

  mirror.setThrottle(0);
  const fast = await get('/acme/tiny/resolve/main/onnx/model.onnx');
  t.ok(fast.body.equals(BIG));
  t.throws(() => mirror.setThrottle(-1), { code: 'MD_MIRROR_OPTIONS' });
});

t.test('link throttle: all responses together share one limit', async (t) => {
  mirror.setLinkThrottle(200_000);
  t.teardown(() => mirror.setLinkThrottle(0));
  const started = performance.now();
  const [a, b] = await Promise.all([
    get('/acme/tiny/resolve/main/onnx/model.onnx', { headers: { range: 'bytes=0-199999' } }),
    get('/acme/tiny/resolve/main/onnx/model.onnx', { headers: { range: 'bytes=200000-399999' } }),
  ]);
  const seconds = (performance.now() - started) / 1000;
  t.ok(a.body.equals(BIG.subarray(0, 200_000)) && b.body.equals(BIG.subarray(200_000, 400_000)), 'bytes unchanged');
  t.ok(seconds >= 1.5, `2 x 200 kB through a 200 kB/s link took ${seconds.toFixed(2)} s (at least 1.5 s)`);
  t.throws(() => mirror.setLinkThrottle(Number.NaN), { code: 'MD_MIRROR_OPTIONS' });
});

t.test(
  'hashes: the sha256 of LFS files in the listing, ETag and X-Linked-Etag; a commit derived from content',
  async (t) => {
    const sha256 = createHash('sha256').update(BIG).digest('hex');
    const listing = await getJson<Entry[]>('/api/models/acme/tiny/tree/main?recursive=true');
    t.equal(listing.json.find((e) => e.path === 'onnx/model.onnx')?.lfs?.oid, sha256, 'lfs.oid is the real sha256');
    const head = await get('/acme/tiny/resolve/main/onnx/model.onnx', { method: 'HEAD' });
    t.equal(head.res.headers.get('etag'), `"${sha256}"`);
    t.equal(head.res.headers.get('x-linked-etag'), `"${sha256}"`);

    const dir = t.testdir({});
    writeTree(dir, { 'o/r/config.json': '{"a": 1}', 'o/r@same/config.json': '{"a": 1}' });
    const own = await startMirror({ root: dir });
    t.teardown(() => own.close());
    const shaOf = async (rev: string): Promise<string> =>
      ((await (await fetch(`${own.url}/api/models/o/r/revision/${rev}`)).json()) as { sha: string }).sha;
    const before = await shaOf('main');
    t.equal(await shaOf('same'), before, 'two revisions with the same files are one commit');
    writeFileSync(join(dir, 'o', 'r', 'config.json'), '{"a": 2}');
    const after = await shaOf('main');
    t.not(after, before, 'a changed file is a new commit');
    const bySha = await fetch(`${own.url}/o/r/resolve/${after}/config.json`);
    t.equal(await bySha.text(), '{"a": 2}', 'and the new commit resolves');
  },
);

t.test('fault: flip inverts one byte at its file offset; 429 says when to come back', async (t) => {
  t.teardown(() => mirror.setFaults([]));
  mirror.setFaults([{ kind: 'flip', path: 'onnx/model.onnx', afterBytes: 1_500_000 }]);
  const whole = await get('/acme/tiny/resolve/main/onnx/model.onnx');
  const expected = Buffer.from(BIG);
  expected[1_500_000] = (expected[1_500_000] as number) ^ 0xff;
  t.equal(whole.body.length, BIG.length, 'the whole body is sent');
  t.ok(whole.body.equals(expected), 'with byte 1,500,000 inverted');
  const before = await get('/acme/tiny/resolve/main/onnx/model.onnx', { headers: { range: 'bytes=0-999' } });
  t.ok(before.body.equals(BIG.subarray(0, 1000)), 'a range without the offset is untouched');
  const across = await get('/acme/tiny/resolve/main/onnx/model.onnx', { headers: { range: 'bytes=1499990-1500009' } });
  t.ok(across.body.equals(expected.subarray(1_499_990, 1_500_010)), 'a range across it has it flipped');
  t.equal(parseFaultSpec('flip:7:onnx/*:x1').kind, 'flip');

  mirror.setFaults([{ kind: 'status', path: 'config.json', status: 429, times: 1 }]);
  const limited = await get('/acme/tiny/resolve/main/config.json');
  t.equal(limited.res.status, 429);
  t.equal(limited.res.headers.get('retry-after'), '1');
  t.equal(limited.res.headers.get('ratelimit'), '"resolvers";r=0;t=1', "and the Hub's RateLimit header");
});

t.test('token: 401 without, 403 with a wrong one, only for the repos named', async (t) => {
  const gated = await startMirror({ root, requireToken: { token: 'hf_secret', repos: ['acme/tiny'] } });
  t.teardown(() => gated.close());
  const url = `${gated.url}/acme/tiny/resolve/main/config.json`;
  const none = await fetch(url);
  t.equal(none.status, 401);
  t.equal(none.headers.get('x-error-code'), 'GatedRepo');
  t.match(((await none.json()) as { error: string }).error, /Access to model acme\/tiny is restricted/);
  const wrong = await fetch(url, { headers: { authorization: 'Bearer hf_wrong' } });
  t.equal(wrong.status, 403);
  t.equal(wrong.headers.get('x-error-code'), 'GatedRepo');
  await wrong.arrayBuffer();
  const right = await fetch(url, { headers: { authorization: 'Bearer hf_secret' } });
  t.equal(right.status, 200);
  t.equal(await right.text(), CONFIG);
  const tree = await fetch(`${gated.url}/api/models/acme/tiny/tree/main`);
  t.equal(tree.status, 401, 'listings are gated too');
  await tree.arrayBuffer();
  const other = await fetch(`${gated.url}/acme/other/resolve/main/README.md`);
  t.equal(other.status, 200, 'a repo not named is open');
  t.equal(await other.text(), README);

  const all = await startMirror({ root, requireToken: 'hf_secret' });
  t.teardown(() => all.close());
  const anyRepo = await fetch(`${all.url}/acme/other/resolve/main/README.md`);
  t.equal(anyRepo.status, 401, 'a plain string gates every repo');
  await anyRepo.arrayBuffer();
});

t.test('close() ends stalled connections promptly', async (t) => {
  const stalling = await startMirror({ root, faults: [{ kind: 'stall', afterBytes: 10, path: '**' }] });
  const res = await fetch(`${stalling.url}/acme/tiny/resolve/main/onnx/model.onnx`);
  t.equal(res.status, 200);
  const reading = readAll(res);
  await stalling.close();
  const { bytes, error } = await reading;
  t.ok(error, 'the client sees the connection end');
  t.ok(bytes.equals(BIG.subarray(0, 10)));
  await stalling.close(); // idempotent
  await t.rejects(fetch(`${stalling.url}/acme/tiny/resolve/main/config.json`), 'no longer listening');
  await t.rejects(startMirror({ root: join(root, 'nope') }), { code: 'MD_MIRROR_ROOT' });
});

// ---------------------------------------------------------------------------------------------------------------
// The command.

function capture(): { write(text: string): boolean; text(): string } {
  let text = '';
  return {
    write(chunk: string) {
      text += chunk;
      return true;
    },
    text: () => text,
  };
}

t.test('cli: bad command lines exit 2 and name the problem', async (t) => {
  const cases: [string[], RegExp][] = [
    [['--bogus', root], /--bogus/],
    [[], /missing DIR/],
    [[root, root], /one DIR/],
    [[join(root, 'nope')], /nope' is not a directory/],
    [[join(root, 'outside.json')], /is not a directory/],
    [[root, '--port', '70000'], /--port/],
    [[root, '--throttle', 'fast'], /--throttle must be a byte count/],
    [[root, '--fault', 'explode:1:x'], /unknown KIND "explode"/],
    [[root, '--fault', 'status:200:x'], /400 to 599/],
    [[root, '--token', ''], /--token must not be empty/],
    [[root, '--port'], /--port/],
  ];
  for (const [argv, message] of cases) {
    const stdout = capture();
    const stderr = capture();
    const code = await runMirrorCommand(argv, { stdout, stderr });
    t.equal(code, 2, argv.join(' '));
    t.match(stderr.text(), message, argv.join(' '));
    t.match(stderr.text(), /^modeldeck mirror: /);
    t.equal(stdout.text(), '');
  }
  const port = new URL(mirror.url).port;
  const stderr = capture();
  t.equal(await runMirrorCommand([root, '--port', port], { stderr }), 2, 'a port in use');
  t.match(stderr.text(), /in use/);
});

t.test('cli: --help lists every flag and the fault syntax', async (t) => {
  const stdout = capture();
  t.equal(await runMirrorCommand(['--help'], { stdout }), 0);
  for (const flag of [
    '--host',
    '--port',
    '--throttle',
    '--link-throttle',
    '--token',
    '--fault',
    'flip:N:PATTERN',
    '--quiet',
    '--help',
    'KIND:N:[REPO:]PATTERN[:xTIMES]',
    '5M',
    '1.5MiB',
  ]) {
    t.match(stdout.text(), flag, flag);
  }
  t.equal(stdout.text(), `${fitHelp(MIRROR_USAGE, 80)}\n`, 'the usage, fitted to 80 columns (not a terminal)');
});

t.test('cli: serves, logs each request, applies flags, stops on its signal with 0', async (t) => {
  const stdout = capture();
  const stderr = capture();
  const controller = new AbortController();
  const listenersBefore = process.listenerCount('SIGTERM');
  const running = runMirrorCommand(
    [root, '--port', '0', '--throttle', '5M', '--fault', 'status:503:acme/tiny:config.json:x1', '--token', 'tok'],
    { stdout, stderr, signal: controller.signal },
  );
  for (let i = 0; i < 100 && !stdout.text().includes('\n'); i += 1)
    await new Promise((resolve) => setTimeout(resolve, 20));
  const match = /^modeldeck mirror listening on (http:\/\/127\.0\.0\.1:\d+) \(serving (.+)\)\n$/.exec(stdout.text());
  t.ok(match, `one start line: ${stdout.text()}`);
  t.equal(match?.[2], root);
  const url = match?.[1] ?? '';
  const auth = { authorization: 'Bearer tok' };
  t.equal((await fetch(`${url}/acme/tiny/resolve/main/config.json`)).status, 401, '--token');
  const faulted = await fetch(`${url}/acme/tiny/resolve/main/config.json`, { headers: auth });
  t.equal(faulted.status, 503, '--fault');
  await faulted.arrayBuffer();
  const ok = await fetch(`${url}/acme/tiny/resolve/main/config.json`, { headers: auth });
  t.equal(await ok.text(), CONFIG, 'x1: then it behaves');
  t.equal(process.listenerCount('SIGTERM'), listenersBefore + 1, 'listens for SIGTERM while running');
  controller.abort();
  t.equal(await running, 0);
  t.equal(process.listenerCount('SIGTERM'), listenersBefore, 'and stops listening');
  t.match(stderr.text(), /GET \/acme\/tiny\/resolve\/main\/config\.json 401 /);
  t.match(stderr.text(), /GET \/acme\/tiny\/resolve\/main\/config\.json 503 .* fault=status/);
  t.match(stderr.text(), new RegExp(`GET /acme/tiny/resolve/main/config\\.json 200 ${Buffer.byteLength(CONFIG)}B`));

  const quietErr = capture();
  const quietOut = capture();
  const quiet = new AbortController();
  const quietRun = runMirrorCommand([root, '--port', '0', '--quiet'], {
    stdout: quietOut,
    stderr: quietErr,
    signal: quiet.signal,
  });
  for (let i = 0; i < 100 && !quietOut.text().includes('\n'); i += 1)
    await new Promise((resolve) => setTimeout(resolve, 20));
  const quietUrl = /(http:\S+)/.exec(quietOut.text())?.[1] ?? '';
  t.equal(await (await fetch(`${quietUrl}/acme/tiny/resolve/main/config.json`)).text(), CONFIG);
  quiet.abort();
  t.equal(await quietRun, 0);
  t.equal(quietErr.text(), '', '--quiet logs nothing');
});

t.test('cli: a real SIGTERM stops a real process with status 0', async (t) => {
  // The child loads the module under test as this process does: compiled, or the sources through tap's TypeScript
  // loader (then its flag is passed on).
  const loader = process.execArgv.filter((arg) => arg.includes('@tapjs/typescript'));
  const script = join(t.testdir({}), 'run-mirror.mjs');
  const cli = sourceModuleUrl('cli/mirror');
  writeFileSync(
    script,
    `import { runMirrorCommand } from ${JSON.stringify(cli)};\nprocess.exitCode = await runMirrorCommand(process.argv.slice(2));\n`,
  );
  const child = spawn(...untracked(process.execPath, [...loader, script, root, '--port', '0', '--quiet']), {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let out = '';
  let err = '';
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const found = /listening on (http:\S+)/.exec(out);
      if (found?.[1] !== undefined) resolve(found[1]);
    });
    child.once('exit', (code) => reject(new Error(`child exited ${String(code)} before listening: ${err}`)));
  });
  t.equal(await (await fetch(`${url}/acme/tiny/resolve/main/config.json`)).text(), CONFIG);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  t.equal(await exited, 0, 'exit status 0 after SIGTERM');
});
