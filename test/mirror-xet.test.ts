// The mirror as the Hub's Xet bridge, through real HTTP: a large file's 302 to another origin with a signed,
// expiring URL and the Hub's headers; the CDN checking the signature (403 when tampered with, unsigned or expired),
// answering ranges, capping the connections that land on a slow edge; the token never sent there by the server.
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import t from 'tap';
import { runMirrorCommand } from '../src/cli/mirror.js';
import { MirrorError } from '../src/mirror/mirror.js';
import type { LoadEvent } from '../src/protocol/events.js';
import { demoModelsDir } from './helpers/demo.js';
import { loadModel } from './helpers/sse-client.js';
import { startTestMirror, startTestServer } from './helpers/stack.js';
import { until } from './helpers/until.js';

function pseudoRandomBytes(length: number, seed: number): Buffer {
  const out = Buffer.alloc(length);
  let x = seed >>> 0;
  for (let i = 0; i < length; i += 1) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

const BIG = pseudoRandomBytes(600_000, 7);
const OTHER = pseudoRandomBytes(550_000, 9);
const root = t.testdir({});
for (const [path, content] of Object.entries({
  'acme/big/config.json': '{"model_type": "llama"}\n',
  'acme/big/onnx/model.onnx': BIG,
  'acme/big/onnx/other.onnx': OTHER,
})) {
  mkdirSync(join(root, path, '..'), { recursive: true });
  writeFileSync(join(root, path), content);
}
// Files of 500 kB and more are large (LFS/Xet) files here.
const LFS = 500_000;
const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

/** GET (or HEAD) on a connection of its own (no keep-alive), so each request is a new connection to the CDN. */
function get(
  url: string,
  headers: Record<string, string> = {},
  method = 'GET',
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

t.test('a large file is a 302 to another origin, signed for the TTL, with the Hub headers', async (t) => {
  let now = Date.UTC(2026, 0, 1, 12, 0, 0, 250);
  const mirror = await startTestMirror(root, { lfsThreshold: LFS, redirectLarge: true, urlTtl: 600, now: () => now });
  t.teardown(() => mirror.close());
  const res = await get(`${mirror.url}/acme/big/resolve/main/onnx/model.onnx`);
  t.equal(res.status, 302);
  const location = new URL(String(res.headers.location));
  t.equal(location.origin, mirror.cdnUrl, 'to the CDN origin');
  t.not(location.origin, mirror.url);
  t.equal(location.searchParams.get('Expires'), String(Math.ceil(now / 1000) + 600), 'expires after the TTL');
  t.match(location.searchParams.get('Signature') ?? '', /^[0-9a-f]{64}$/, 'an HMAC-SHA256');
  t.equal(res.headers['x-linked-etag'], `"${sha256(BIG)}"`, 'X-Linked-Etag: the sha256');
  t.equal(res.headers['x-linked-size'], String(BIG.length), 'X-Linked-Size');
  t.match(res.headers['x-repo-commit'], /^[0-9a-f]{40}$/, 'X-Repo-Commit');
  const xetHash = String(res.headers['x-xet-hash']);
  t.match(xetHash, /^[0-9a-f]{64}$/, 'X-Xet-Hash: 64 hex digits, as the Hub sends');
  t.equal(res.headers.link, undefined, 'no xet-auth link: the mirror speaks no Xet, clients follow the 302');

  const again = await get(`${mirror.url}/acme/big/resolve/main/onnx/model.onnx`, {}, 'HEAD');
  t.equal(again.headers['x-xet-hash'], xetHash, 'the same hash for the same content, HEAD too');
  const other = await get(`${mirror.url}/acme/big/resolve/main/onnx/other.onnx`);
  t.not(other.headers['x-xet-hash'], xetHash, 'another for other content');

  now += 60_000;
  mirror.setUrlTtl(5);
  const later = new URL(String((await get(`${mirror.url}/acme/big/resolve/main/onnx/model.onnx`)).headers.location));
  t.equal(later.searchParams.get('Expires'), String(Math.ceil(now / 1000) + 5), 'a new TTL applies to the next URL');

  const small = await get(`${mirror.url}/acme/big/resolve/main/config.json`);
  t.equal(small.status, 200, 'a small file is answered by the hub itself');
  t.equal(small.headers['x-xet-hash'], undefined);
});

t.test('the CDN answers a signed URL with ranges, and refuses it tampered with, unsigned or expired', async (t) => {
  let now = Date.UTC(2026, 0, 1, 12, 0, 0);
  const mirror = await startTestMirror(root, { lfsThreshold: LFS, redirectLarge: true, urlTtl: 30, now: () => now });
  t.teardown(() => mirror.close());
  const signed = async (path: string): Promise<URL> =>
    new URL(String((await get(`${mirror.url}/acme/big/resolve/main/${path}`)).headers.location));
  const url = await signed('onnx/model.onnx');

  const ranged = await get(url.href, { Range: 'bytes=1000-1999' });
  t.equal(ranged.status, 206, 'a range');
  t.same(ranged.body, BIG.subarray(1000, 2000), 'the right bytes');
  t.equal(ranged.headers['content-range'], `bytes 1000-1999/${BIG.length}`);
  t.equal(ranged.headers['accept-ranges'], 'bytes');
  for (const header of ['x-repo-commit', 'x-linked-etag', 'x-linked-size', 'x-xet-hash'])
    t.equal(ranged.headers[header], undefined, `the CDN sends no ${header}`);
  const whole = await get(url.href);
  t.equal(whole.status, 200);
  t.ok(whole.body.equals(BIG), 'the whole file');
  t.equal((await get(url.href, {}, 'HEAD')).status, 200, 'HEAD');

  const refused = async (target: URL | string, why: string, code: string): Promise<void> => {
    const res = await get(String(target));
    t.equal(res.status, 403, `${why}: 403`);
    t.equal(res.headers['x-error-code'], code, `${why}: ${code}`);
  };
  const flipped = new URL(url);
  const signature = url.searchParams.get('Signature') ?? '';
  flipped.searchParams.set('Signature', `${signature[0] === 'a' ? 'b' : 'a'}${signature.slice(1)}`);
  await refused(flipped, 'a signature changed', 'SignatureDoesNotMatch');
  const extended = new URL(url);
  extended.searchParams.set('Expires', String(Number(url.searchParams.get('Expires')) + 3600));
  await refused(extended, 'an expiry pushed back', 'SignatureDoesNotMatch');
  const elsewhere = new URL(url);
  elsewhere.pathname = url.pathname.replace(/model\.onnx$/, 'other.onnx');
  await refused(elsewhere, "another file's path with this signature", 'SignatureDoesNotMatch');
  await refused(`${url.origin}${url.pathname}`, 'no signature', 'AccessDenied');
  const unsigned = new URL(url);
  unsigned.searchParams.delete('Expires');
  await refused(unsigned, 'no expiry', 'AccessDenied');
  const sameSignature = (await signed('onnx/other.onnx')).searchParams.get('Signature');
  t.not(sameSignature, signature, 'each path has its own signature');

  now += 29_000;
  t.equal((await get(url.href, { Range: 'bytes=0-9' })).status, 206, 'still valid within the TTL');
  now += 1_000;
  const expired = await get(url.href, { Range: 'bytes=0-9' });
  t.equal(expired.status, 403, 'expired: 403, as a CDN answers');
  t.equal(expired.headers['x-error-code'], 'AccessDenied');
  t.match(expired.body.toString(), /Request has expired/);
  const fresh = await signed('onnx/model.onnx');
  t.equal((await get(fresh.href, { Range: 'bytes=0-9' })).status, 206, 'asking the hub again gives a fresh URL');
});

t.test('a URL that expires while its body is sent finishes; the next request with it is refused', async (t) => {
  let now = Date.UTC(2026, 0, 1, 12, 0, 0);
  const mirror = await startTestMirror(root, {
    lfsThreshold: LFS,
    redirectLarge: true,
    urlTtl: 10,
    now: () => now,
    throttle: 200_000,
  });
  t.teardown(() => mirror.close());
  const url = String((await get(`${mirror.url}/acme/big/resolve/main/onnx/model.onnx`)).headers.location);
  const slow = get(url);
  await until('the body under way', () => mirror.requests.some((r) => r.cdn === true && r.bytesSent > 0));
  now += 60_000;
  const res = await slow;
  t.equal(res.status, 200);
  t.ok(res.body.equals(BIG), 'the body started before the expiry is sent whole');
  t.equal((await get(url)).status, 403, 'a request after it is refused');
});

t.test('one CDN connection in N lands on a capped edge, every response on it capped', async (t) => {
  const mirror = await startTestMirror(root, {
    lfsThreshold: LFS,
    redirectLarge: true,
    edgeCap: { bytesPerSecond: 200_000, every: 2 },
  });
  t.teardown(() => mirror.close());
  const url = String((await get(`${mirror.url}/acme/big/resolve/main/onnx/model.onnx`)).headers.location);
  const cdnGets = () => mirror.requests.filter((r) => r.cdn === true && r.method === 'GET');
  const timings: number[] = [];
  for (let i = 0; i < 4; i += 1) {
    const started = performance.now();
    const res = await get(url, { Range: 'bytes=0-299999' });
    timings.push(performance.now() - started);
    t.equal(res.status, 206);
    t.ok(res.body.equals(BIG.subarray(0, 300_000)), `connection ${i + 1}: the right bytes`);
  }
  t.same(
    cdnGets().map((r) => r.capped === true),
    [false, true, false, true],
    'the 2nd and 4th connections are capped',
  );
  // A lower bound only (300 kB at 200 kB/s, less the bucket's 50 ms burst): a loaded host can only make it slower.
  for (const i of [1, 3]) t.ok((timings[i] ?? 0) >= 1400, `a capped response takes its time (${timings[i]} ms)`);

  // Keep-alive: both requests on one capped connection are capped.
  mirror.clearRequests();
  mirror.setEdgeCap({ bytesPerSecond: 1_000_000, every: 1 });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  for (let i = 0; i < 2; i += 1) {
    await new Promise<void>((resolve, reject) => {
      http
        .get(url, { agent, headers: { Range: 'bytes=0-99999' } }, (res) => {
          res.resume();
          res.on('end', resolve);
        })
        .on('error', reject);
    });
  }
  t.same(
    cdnGets().map((r) => r.capped === true),
    [true, true],
    'every connection capped with every: 1, each request on it',
  );
  mirror.setEdgeCap(undefined);
  await get(url, { Range: 'bytes=0-9' });
  t.equal(cdnGets().at(-1)?.capped, undefined, 'no cap once it is lifted');
});

t.test('the server downloads through the bridge and capped edges; the token never reaches the CDN', async (t) => {
  const MODEL = 'modeldeck/tiny-chat';
  const TOKEN = 'hf_xet_bridge_token';
  const models = await demoModelsDir([MODEL]);
  const mirror = await startTestMirror(models, {
    lfsThreshold: LFS,
    redirectLarge: true,
    requireToken: { token: TOKEN, repos: [MODEL] },
    edgeCap: { bytesPerSecond: 2_000_000, every: 2 },
    urlTtl: 1,
  });
  t.teardown(() => mirror.close());
  const server = await startTestServer({
    hubUrl: mirror.url,
    token: TOKEN,
    download: { backoffMs: 20, maxBackoffMs: 200 },
  });
  t.teardown(() => server.close());
  const res = await loadModel(server.url, MODEL);
  t.equal((res.events.at(-1) as LoadEvent | undefined)?.status, 'ready', JSON.stringify(res.events.at(-1)));
  const cdn = mirror.requests.filter((r) => r.cdn === true);
  t.ok(
    cdn.some((r) => r.method === 'GET' && r.status === 206),
    `the weights came from the CDN in ranged parts (${cdn.length} requests)`,
  );
  t.same(
    cdn.filter((r) => r.authorization === true).map((r) => r.url),
    [],
    'no request to the CDN carried Authorization',
  );
  t.ok(
    mirror.requests.filter((r) => r.cdn !== true).every((r) => r.authorization === true),
    'while every request to the hub did (the record sees the header)',
  );
});

t.test('bad options are MirrorErrors naming the option', async (t) => {
  const cases: [object, RegExp][] = [
    [{ urlTtl: 0 }, /urlTtl must be a whole number of seconds from 1 to 604800, got 0/],
    [{ urlTtl: 1.5 }, /urlTtl must be a whole number/],
    [{ urlTtl: 604_801 }, /urlTtl must be/],
    [{ edgeCap: { bytesPerSecond: 0 } }, /edgeCap.bytesPerSecond must be a number of bytes per second > 0, got 0/],
    [{ edgeCap: { bytesPerSecond: 1000, every: 0 } }, /edgeCap.every must be a whole number >= 1, got 0/],
  ];
  for (const [options, message] of cases) {
    await t.rejects(startTestMirror(root, { redirectLarge: true, ...options }), message, JSON.stringify(options));
    await startTestMirror(root, { redirectLarge: true, ...options }).catch((error: unknown) => {
      t.ok(error instanceof MirrorError && error.code === 'MD_MIRROR_OPTIONS', 'MD_MIRROR_OPTIONS');
    });
  }
  const mirror = await startTestMirror(root, { redirectLarge: true });
  t.teardown(() => mirror.close());
  t.throws(() => mirror.setUrlTtl(-1), /urlTtl must be/);
  t.throws(() => mirror.setEdgeCap({ bytesPerSecond: Number.NaN }), /edgeCap.bytesPerSecond/);
});

t.test('cli: the Xet flags, documented, checked, and in force', async (t) => {
  let help = '';
  t.equal(await runMirrorCommand(['--help'], { stdout: { write: (s: string) => (help += s) } }), 0);
  for (const text of ['--xet-url-ttl SECONDS', '--xet-edge-cap RATE', '--xet-edge-every N', 'X-Xet-Hash'])
    t.match(help, text, text);

  const bad: [string[], RegExp][] = [
    [['--xet-url-ttl', '60'], /--xet-url-ttl needs --redirect-large/],
    [['--xet-edge-cap', '1M'], /--xet-edge-cap needs --redirect-large/],
    [['--redirect-large', '--xet-url-ttl', '0'], /--xet-url-ttl must be a whole number of seconds from 1 to 604800/],
    [['--redirect-large', '--xet-url-ttl', '1h'], /--xet-url-ttl must be a whole number of seconds.*got '1h'/],
    [['--redirect-large', '--xet-edge-cap', '0'], /--xet-edge-cap must be more than 0 bytes per second/],
    [['--redirect-large', '--xet-edge-cap', 'fast'], /--xet-edge-cap must be a byte count like 500k/],
    [['--redirect-large', '--xet-edge-every', '2'], /--xet-edge-every needs --xet-edge-cap/],
    [['--redirect-large', '--xet-edge-cap', '1M', '--xet-edge-every', '0'], /--xet-edge-every must be a whole/],
  ];
  for (const [args, message] of bad) {
    let err = '';
    const code = await runMirrorCommand([root, '--port', '0', ...args], {
      stderr: { write: (s: string) => (err += s) },
    });
    t.equal(code, 2, args.join(' '));
    t.match(err, message, args.join(' '));
  }

  let out = '';
  const stop = new AbortController();
  const args = ['--port', '0', '--quiet', '--redirect-large', '--xet-url-ttl', '120'];
  const running = runMirrorCommand([root, ...args, '--xet-edge-cap', '300k', '--xet-edge-every', '1'], {
    stdout: { write: (s: string) => (out += s) },
    signal: stop.signal,
  });
  await until('the CDN line', () => /redirects large files to (http:\S+)/.test(out));
  const hub = /listening on (http:\S+)/.exec(out)?.[1] ?? '';
  // The command keeps the Hub's 10 MiB threshold: a repository with a file over it.
  const big = pseudoRandomBytes(10 * 1024 * 1024 + 1, 11);
  mkdirSync(join(root, 'acme/huge/onnx'), { recursive: true });
  writeFileSync(join(root, 'acme/huge/onnx/model.onnx'), big);
  const asked = Date.now();
  const res = await get(`${hub}/acme/huge/resolve/main/onnx/model.onnx`);
  t.equal(res.status, 302);
  const location = new URL(String(res.headers.location));
  const expires = Number(location.searchParams.get('Expires')) * 1000;
  t.ok(expires >= asked + 120_000 && expires <= Date.now() + 121_000, 'signed for --xet-url-ttl 120');
  const started = performance.now();
  const ranged = await get(location.href, { Range: 'bytes=0-599999' });
  t.equal(ranged.status, 206);
  t.ok(ranged.body.equals(big.subarray(0, 600_000)));
  t.ok(performance.now() - started >= 1900, 'capped at 300 kB/s (a lower bound)');
  stop.abort();
  t.equal(await running, 0);
});

t.test('a free connection takes the tail of a slow part: the download never waits on one capped edge', async (t) => {
  const MODEL = 'modeldeck/chat-10m';
  const models = await demoModelsDir([MODEL]);
  // Two connections, the second on an edge capped at 100 kB/s; no re-dial of slow parts, so only the sharing can
  // move the capped part's bytes to the fast connection.
  const mirror = await startTestMirror(models, {
    lfsThreshold: LFS,
    redirectLarge: true,
    edgeCap: { bytesPerSecond: 100_000, every: 2 },
  });
  t.teardown(() => mirror.close());
  const server = await startTestServer({
    hubUrl: mirror.url,
    downloadConnections: 2,
    download: { backoffMs: 20, maxBackoffMs: 200, maxRedials: 0 },
  });
  t.teardown(() => server.close());
  const res = await loadModel(server.url, MODEL);
  t.equal((res.events.at(-1) as LoadEvent | undefined)?.status, 'ready', JSON.stringify(res.events.at(-1)));

  const parts = mirror.requests
    .filter((r) => r.cdn === true && r.method === 'GET' && r.range !== undefined && r.url.includes('/onnx/model.onnx'))
    .map((r) => {
      const [start = 0, end = 0] = (/bytes=(\d+)-(\d+)/.exec(r.range ?? '') ?? []).slice(1).map(Number);
      return { start, end, capped: r.capped === true };
    });
  const capped = parts.filter((p) => p.capped);
  t.ok(capped.length > 0, `a part went to the capped edge (${parts.length} ranged requests)`);
  const shared = parts.filter((p) => !p.capped && capped.some((c) => p.start > c.start && p.start <= c.end));
  t.ok(shared.length > 0, 'a fast connection asked for the tail of a capped part’s range', { parts });
  // The file is whole: every byte of it was asked for by some request (the load checked its sha256 too).
  const size = Math.max(...parts.map((p) => p.end)) + 1;
  let covered = 0;
  for (const p of [...parts].sort((a, b) => a.start - b.start))
    covered = p.start <= covered ? Math.max(covered, p.end + 1) : covered;
  t.equal(covered, size, 'the ranges asked for cover the file');
});
