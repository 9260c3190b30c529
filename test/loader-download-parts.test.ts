// The downloader's parts against hubs that misbehave the way real ones do: a capped CDN edge (the slow part is asked
// again on a new connection, keeping what it wrote), a signed link that expires in the middle (the hub is asked for a
// fresh one, the token never goes to the CDN), a second load during a large download (it gets its share at once), and
// partial files whose journal resumes only the holes, or lies (never served).
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { startMirror } from '../src/mirror/mirror.js';
import { partialDataPath, writeJournal } from '../src/server/fetch/blob-journal.js';
import { downloadBlob } from '../src/server/fetch/downloader.js';
import { createHubClient, type HubFile } from '../src/server/fetch/hub-client.js';
import { createTransfer, type DownloadPolicy } from '../src/server/fetch/transfer.js';
import { bytesSentFor, commitOf, partialOf } from './helpers/hf-cache.js';

const MiB = 1024 * 1024;
const FAST: DownloadPolicy = { backoffMs: 5, maxBackoffMs: 20, maxAttempts: 3, stallTimeoutMs: 5000 };
const COMMIT = 'c'.repeat(40);
const ref = { id: 'org/model', revision: COMMIT };
const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

/** One request a test server saw. */
interface Seen {
  readonly url: string;
  readonly range: [number, number] | undefined;
  readonly authorization: string | undefined;
  sent: number;
}

/** An HTTP server on loopback, closed at the end of `t`, recording what it was asked. */
async function serve(
  t: Test,
  handle: (req: IncomingMessage, res: ServerResponse, seen: Seen, index: number) => void,
): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server: Server = createServer((req, res) => {
    const match = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '');
    const entry: Seen = {
      url: req.url ?? '',
      range: match === null ? undefined : [Number(match[1]), Number(match[2]) + 1],
      authorization: req.headers.authorization,
      sent: 0,
    };
    seen.push(entry);
    handle(req, res, entry, seen.length - 1);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

/** Answers `seen.range` of `content` (206), paced at `bytesPerSecond` in 16 KiB slices. */
function sendRange(res: ServerResponse, content: Buffer, seen: Seen, bytesPerSecond: number): void {
  const [start, end] = seen.range ?? [0, content.length];
  res.writeHead(seen.range === undefined ? 200 : 206, {
    'Content-Length': end - start,
    ...(seen.range === undefined ? {} : { 'Content-Range': `bytes ${start}-${end - 1}/${content.length}` }),
  });
  let at = start;
  const slice = 16 * 1024;
  const next = (): void => {
    if (res.destroyed) return;
    if (at >= end) {
      res.end();
      return;
    }
    const chunk = content.subarray(at, Math.min(end, at + slice));
    at += chunk.length;
    seen.sent += chunk.length;
    res.write(chunk);
    setTimeout(next, (chunk.length / bytesPerSecond) * 1000);
  };
  next();
}

/** Runs `downloadBlob` into a fresh blob under `dir`, recording the progress. */
async function download(
  dir: string,
  hubUrl: string,
  file: HubFile,
  policy: DownloadPolicy,
  token?: string,
): Promise<{ blob: string; progress: number[] }> {
  const blob = join(dir, 'blobs', file.sha256 ?? 'blob');
  const progress: number[] = [];
  await downloadBlob({
    hub: createHubClient({ hubUrl, ...(token === undefined ? {} : { token }) }),
    ref,
    file,
    blob,
    transfer: createTransfer({ ...FAST, ...policy }),
    progress: { report: (_path, bytes) => progress.push(bytes) },
  });
  return { blob, progress };
}

/**
 * The bytes sent past the points where a later request took over a part: for each request, what it sent beyond the
 * start of the first later request that begins inside what it sent (after its own start: it kept what it had).
 */
function inFlightAtCuts(seen: readonly Seen[]): number {
  let total = 0;
  seen.forEach((earlier, i) => {
    const [from] = earlier.range ?? [0, 0];
    const reached = from + earlier.sent;
    const cuts = seen
      .slice(i + 1)
      .map((later) => later.range?.[0])
      .filter((at): at is number => at !== undefined && at > from && at < reached);
    if (cuts.length > 0) total += reached - Math.min(...cuts);
  });
  return total;
}

function assertProgress(t: Test, progress: readonly number[], size: number): void {
  t.ok(
    progress.every((bytes, i) => bytes <= size && bytes >= (progress[i - 1] ?? 0)),
    'progress never decreases nor passes the size',
  );
  t.equal(progress.at(-1), size, 'and ends at the size');
}

t.test('a part capped far below its siblings is asked again on a new connection, keeping what it wrote', async (t) => {
  const content = randomBytes(8 * MiB);
  const file: HubFile = { path: 'weights.bin', size: content.length, sha256: sha256(content) };
  // The second request lands on a capped edge: 40 kB/s where the others get 1 MB/s.
  const hub = await serve(t, (_req, res, seen, index) =>
    sendRange(res, content, seen, index === 1 ? 40_000 : 1_000_000),
  );
  const { blob, progress } = await download(t.testdir(), hub.url, file, {
    connections: 4,
    maxPartBytes: MiB,
    slowAfterMs: 400,
  });
  t.ok((await readFile(blob)).equals(content), 'the blob is the file, byte for byte');
  const capped = hub.seen[1] as Seen;
  const [start, end] = capped.range ?? [0, 0];
  const redial = hub.seen.find(
    (seen, i) => i > 1 && seen.range !== undefined && seen.range[0] > start && seen.range[0] < end,
  );
  t.ok(redial !== undefined, `the capped part [${start}, ${end}) was asked again from where it had got to`);
  const from = redial?.range?.[0] ?? 0;
  t.ok(from > start, `and kept the ${from - start} bytes it had received`);
  // The server may have sent a little more than arrived before a connection was cut (the capped one, re-dialled; a
  // part whose tail a free connection took): only that is asked again, from where the cut part had got to.
  const sent = hub.seen.reduce((sum, seen) => sum + seen.sent, 0);
  t.equal(sent - content.length, inFlightAtCuts(hub.seen), 'no byte was fetched twice but what was in flight at a cut');
  assertProgress(t, progress, content.length);
});

t.test('a signed link that expires mid-download is asked of the hub again; the token stays with the hub', async (t) => {
  const content = randomBytes(6 * MiB);
  const file: HubFile = { path: 'big.bin', size: content.length, sha256: sha256(content) };
  // The CDN serves each link three times, then answers 403 as an expired signature does.
  let link = 0;
  const served = new Map<number, number>();
  const cdn = await serve(t, (req, res, seen) => {
    const generation = Number(/\/signed\/(\d+)\//.exec(req.url ?? '')?.[1]);
    const count = served.get(generation) ?? 0;
    if (generation !== link || count >= 3) {
      res.writeHead(403, { 'Content-Type': 'text/plain' });
      res.end('Request has expired');
      return;
    }
    served.set(generation, count + 1);
    sendRange(res, content, seen, 50_000_000);
  });
  const hub = await serve(t, (req, res) => {
    link += 1;
    res.writeHead(302, { Location: `${cdn.url}/signed/${link}/big.bin?X-Amz-Signature=abc` });
    res.end();
  });
  const { blob, progress } = await download(t.testdir(), hub.url, file, { connections: 2, maxPartBytes: MiB }, 'hf_t');
  t.ok((await readFile(blob)).equals(content), 'the blob is the file, byte for byte');
  t.equal(hub.seen.length, 2, 'the hub was asked twice: the first link, and a fresh one when it expired');
  t.ok(
    hub.seen.every((seen) => seen.authorization === 'Bearer hf_t'),
    'with the token',
  );
  t.ok(
    cdn.seen.every((seen) => seen.authorization === undefined),
    'which never went to the CDN',
  );
  const expired = cdn.seen.filter((seen) => seen.sent === 0).length;
  t.ok(expired >= 1 && expired <= 2, `the expired link was refused ${expired} time(s), then not asked again`);
  t.equal(
    cdn.seen.reduce((sum, seen) => sum + seen.sent, 0),
    content.length,
    'no byte was fetched twice',
  );
  assertProgress(t, progress, content.length);
});

t.test('a second load during a large download gets its share of the connections at once', async (t) => {
  const dir = t.testdir();
  const hubRoot = join(dir, 'hub');
  const big = randomBytes(24 * MiB);
  const small = randomBytes(2 * MiB);
  await mkdir(join(hubRoot, 'org', 'big'), { recursive: true });
  await mkdir(join(hubRoot, 'org', 'small'), { recursive: true });
  await writeFile(join(hubRoot, 'org', 'big', 'weights.bin'), big);
  await writeFile(join(hubRoot, 'org', 'small', 'weights.bin'), small);
  // 1 MB/s a connection: the big file alone would take its four connections six seconds.
  const mirror = await startMirror({ root: hubRoot, host: '127.0.0.1', port: 0, throttle: 1_000_000 });
  t.teardown(() => mirror.close());
  const hub = createHubClient({ hubUrl: mirror.url });
  const transfer = createTransfer({ ...FAST, connections: 4 });
  const fileOf = async (id: string): Promise<{ ref: { id: string; revision: string }; file: HubFile }> => {
    const at = { id, revision: await commitOf(mirror.url, id) };
    return { ref: at, file: (await hub.listFiles(at)).find((f) => f.path === 'weights.bin') as HubFile };
  };
  const [bigOne, smallOne] = [await fileOf('org/big'), await fileOf('org/small')];
  let bigBytes = 0;
  let startSmall: () => void = () => undefined;
  const smallStarted = new Promise<void>((resolve) => (startSmall = resolve));
  const bigDone = downloadBlob({
    hub,
    ...bigOne,
    blob: join(dir, 'cache', 'big'),
    transfer,
    flow: 'load big',
    progress: {
      report: (_path, bytes) => {
        bigBytes = bytes;
        if (bytes > MiB) startSmall();
      },
    },
  });
  await smallStarted;
  t.equal(transfer.connections.held, 4, 'the big file holds every connection');
  await downloadBlob({ hub, ...smallOne, blob: join(dir, 'cache', 'small'), transfer, flow: 'load small' });
  const share = bigBytes / big.length;
  t.ok(share < 0.4, `the small file was done while the big one was at ${Math.round(share * 100)} %`);
  await bigDone;
  t.ok((await readFile(join(dir, 'cache', 'big'))).equals(big), 'the big file, whole after yielding parts');
  t.ok((await readFile(join(dir, 'cache', 'small'))).equals(small), 'the small one too');
  const sent = bytesSentFor(mirror, 'weights.bin');
  t.ok(
    sent - big.length - small.length <= MiB,
    `${sent - big.length - small.length} bytes fetched twice: only what was on the wire when a part yielded`,
  );
});

t.test('a journal resumes only the holes; one whose bytes lie is caught by the checksum, never served', async (t) => {
  const content = randomBytes(3 * MiB);
  const file: HubFile = { path: 'w.bin', size: content.length, sha256: sha256(content) };
  const hub = await serve(t, (_req, res, seen) => sendRange(res, content, seen, 100_000_000));
  const dir = t.testdir();
  const blob = join(dir, 'blobs', file.sha256 as string);
  await mkdir(join(dir, 'blobs'));
  // A partial file with two ranges held: only the three holes around them are asked for.
  const held: [number, number][] = [
    [0, 100_000],
    [MiB, 2 * MiB],
  ];
  const data = Buffer.alloc(2 * MiB);
  for (const [start, end] of held) content.copy(data, start, start, end);
  await writeFile(partialDataPath(blob), data);
  await writeJournal(blob, { etag: file.sha256 as string, size: file.size, written: held, synced: [] });
  t.equal((await partialOf(blob, file.size)).held, 100_000 + MiB);
  await downloadBlob({ hub: createHubClient({ hubUrl: hub.url }), ref, file, blob, transfer: createTransfer(FAST) });
  t.ok((await readFile(blob)).equals(content), 'resumed into the whole file');
  const asked = hub.seen.map((seen) => seen.range);
  t.ok(
    asked.every((range) => range !== undefined && !held.some(([a, b]) => range[0] < b && range[1] > a)),
    `no range held was asked again (${JSON.stringify(asked)})`,
  );
  t.equal(
    hub.seen.reduce((sum, seen) => sum + seen.sent, 0),
    content.length - 100_000 - MiB,
    'only the holes were fetched',
  );

  // The same journal over bytes that are not the file's: the checksum fails, the file is fetched again from scratch.
  hub.seen.length = 0;
  const lying = join(dir, 'blobs', 'lying');
  await writeFile(partialDataPath(lying), randomBytes(2 * MiB));
  await writeJournal(lying, { etag: 'lying', size: file.size, written: held, synced: [] });
  await downloadBlob({
    hub: createHubClient({ hubUrl: hub.url }),
    ref,
    file,
    blob: lying,
    transfer: createTransfer(FAST),
  });
  t.ok((await readFile(lying)).equals(content), 'the blob is the file, not the lie');
  t.equal(
    hub.seen.reduce((sum, seen) => sum + seen.sent, 0),
    content.length - 100_000 - MiB + content.length,
    'the holes, then the whole file once more',
  );
});

t.test('a journal that does not match its file is discarded: the download starts from nothing', async (t) => {
  const content = randomBytes(2 * MiB);
  const file: HubFile = { path: 'w.bin', size: content.length, sha256: sha256(content) };
  const hub = await serve(t, (_req, res, seen) => sendRange(res, content, seen, 100_000_000));
  const dir = t.testdir();
  await mkdir(join(dir, 'blobs'));
  const cases: [string, (blob: string) => Promise<void>][] = [
    [
      'a truncated data file',
      async (blob) => {
        await writeFile(partialDataPath(blob), content.subarray(0, 1000));
        await writeJournal(blob, { etag: 'b1', size: file.size, written: [[0, MiB]], synced: [] });
      },
    ],
    [
      'a journal of another etag',
      async (blob) => {
        await writeFile(partialDataPath(blob), Buffer.alloc(MiB));
        await writeJournal(blob, { etag: 'another', size: file.size, written: [[0, MiB]], synced: [] });
      },
    ],
  ];
  for (const [index, [label, prepare]] of cases.entries()) {
    const blob = join(dir, 'blobs', `b${index + 1}`);
    await prepare(blob);
    t.match(await partialOf(blob, file.size), { held: 0, discarded: /./ }, `${label}: not believed`);
    hub.seen.length = 0;
    await downloadBlob({ hub: createHubClient({ hubUrl: hub.url }), ref, file, blob, transfer: createTransfer(FAST) });
    t.ok((await readFile(blob)).equals(content), `${label}: the blob is the file`);
    t.equal(
      hub.seen.reduce((sum, seen) => sum + seen.sent, 0),
      content.length,
      `${label}: every byte fetched`,
    );
  }
});
