// Hubs that misbehave, in front of the real mirror (helpers/hostile-hub.ts), against a real server: a listing that
// never ends (pages without end, one page without end, too many files), a load cancelled while it lists, a redirect
// to a scheme other than http(s), and a 4xx that no retry can cure.
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { demoModelsDir } from './helpers/demo.js';
import { commitOf } from './helpers/hf-cache.js';
import {
  answerWith,
  endlessPage,
  endlessPages,
  overrides,
  startHostileHub,
  type Override,
} from './helpers/hostile-hub.js';
import { loadModel } from './helpers/sse-client.js';
import { fileDownloads, startTestMirror, startTestServer } from './helpers/stack.js';
import { until } from './helpers/until.js';

const TINY = 'modeldeck/tiny-chat';
const WEIGHTS = 'onnx/model.onnx';
const FAST = { backoffMs: 20, maxBackoffMs: 200 };
// The documented caps of a listing (README, "How loading works"); the third is 64 MiB of JSON.
const MAX_PAGES = 1000;
const MAX_ENTRIES = 100_000;

const demo = await demoModelsDir([TINY]);
const root = await mkdtemp(join(tmpdir(), 'modeldeck-hostile-root-'));
await cp(join(demo, TINY), join(root, TINY), { recursive: true });
const mirror = await startTestMirror(root);
t.teardown(async () => {
  await mirror.close();
  await rm(root, { recursive: true, force: true });
});
const commit = await commitOf(mirror.url, TINY);

/** A hostile hub with `override` and a server that loads through it, both closed after the test. */
async function stack(t: Test, override: Override) {
  const hub = await startHostileHub(mirror.url, override);
  const server = await startTestServer({ hubUrl: hub.url, download: FAST });
  t.teardown(async () => {
    await server.close();
    await hub.close();
  });
  return { hub, server };
}

/** The requests of one file (each part by its range) hold no repeat: nothing was asked again. */
function assertAskedOnce(t: Test, gets: readonly string[]): void {
  t.ok(gets.length >= 1, 'the file was asked');
  t.same(gets, [...new Set(gets)], 'no part of it twice');
}

const pagesOf = (requests: readonly string[]): number => requests.filter((r) => r.includes('/tree/')).length;

t.test('a hub that paginates forever: the load fails at the page cap and asks no more', async (t) => {
  const { hub, server } = await stack(t, endlessPages(TINY, 10));
  const res = await loadModel(server.url, TINY);
  t.match(res.events.at(-1), { status: 'error', code: 'HUB_ERROR', message: /more than 1000 pages/ });
  t.match(res.events.at(-1), { message: /--hub-url/ }, 'says what to check');
  t.equal(pagesOf(hub.requests), MAX_PAGES, 'exactly the cap of pages was asked');
  await until('the last page closed', () => hub.open() === 0, 20_000);
  t.equal(pagesOf(hub.requests), MAX_PAGES, 'and none after the failure');
});

t.test('a listing of too many entries fails at the entry cap', async (t) => {
  const { hub, server } = await stack(t, endlessPages(TINY, 1000));
  const res = await loadModel(server.url, TINY);
  t.match(res.events.at(-1), { status: 'error', code: 'HUB_ERROR', message: /more than 100000 entries/ });
  t.equal(pagesOf(hub.requests), MAX_ENTRIES / 1000 + 1, 'the page that passed the cap was the last asked');
});

t.test('one listing page that never ends fails at the size cap, and its connection is closed', async (t) => {
  const { hub, server } = await stack(t, endlessPage(TINY));
  const res = await loadModel(server.url, TINY);
  t.match(res.events.at(-1), { status: 'error', code: 'HUB_ERROR', message: /more than 64 MiB/ });
  t.equal(pagesOf(hub.requests), 1);
  await until('the endless page closed', () => hub.open() === 0, 20_000);
});

t.test('a load cancelled while it lists stops listing', async (t) => {
  const { hub, server } = await stack(t, endlessPages(TINY, 10, 20));
  const loading = loadModel(server.url, TINY);
  await until('a few pages', () => pagesOf(hub.requests) >= 5, 20_000);
  const unload = await fetch(`${server.url}/unload_model`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: TINY }),
  });
  t.match(await unload.json(), { status: 'cancelled' });
  const res = await loading;
  t.match(res.events.at(-1), { status: 'error', code: 'CANCELLED' });
  // The CANCELLED event comes once the loader has given up: what was asked by then is all it asks.
  const asked = pagesOf(hub.requests);
  await until('the last page closed', () => hub.open() === 0, 20_000);
  t.equal(pagesOf(hub.requests), asked, 'no page is asked after the cancel');
  t.ok(asked < MAX_PAGES);
});

const badRedirects = [
  { location: 'file:///etc/passwd', says: /not an http\(s\) URL/ },
  { location: 'ftp://127.0.0.1/model.onnx', says: /not an http\(s\) URL/ },
  { location: 'data:,hello', says: /not an http\(s\) URL/ },
  { location: 'http://[::1', says: /which is not a URL/ },
];

for (const { location, says } of badRedirects) {
  t.test(`a redirect to ${location}: fails at once, not retried`, async (t) => {
    const path = `/${TINY}/resolve/${commit}/${WEIGHTS}`;
    const { hub, server } = await stack(t, answerWith(path, 302, { location }));
    const res = await loadModel(server.url, TINY);
    t.match(res.events.at(-1), { status: 'error', code: 'HUB_ERROR', message: says });
    t.match(res.events.at(-1), { message: WEIGHTS }, 'names the file');
    assertAskedOnce(
      t,
      hub.requests.filter((r) => r.startsWith(`GET ${path}`)),
    );
  });
}

t.test('a listing whose next page is a file: URL fails at once', async (t) => {
  const tree = `/api/models/${TINY}/tree/${commit}`;
  const { hub, server } = await stack(
    t,
    overrides((_req, res, url) => {
      if (url.pathname !== tree) return false;
      res.writeHead(200, { 'content-type': 'application/json', link: '<file:///etc/passwd>; rel="next"' });
      res.end('[]');
      return true;
    }),
  );
  const res = await loadModel(server.url, TINY);
  t.match(res.events.at(-1), { status: 'error', code: 'HUB_ERROR', message: /not an http\(s\) URL/ });
  t.equal(pagesOf(hub.requests), 1);
});

for (const status of [400, 404, 410, 451]) {
  t.test(`HTTP ${status} on a file is not retried`, async (t) => {
    const server = await startTestServer({ hubUrl: mirror.url, download: FAST });
    t.teardown(() => server.close());
    mirror.setFaults([{ kind: 'status', status, path: WEIGHTS }]);
    t.teardown(() => mirror.setFaults([]));
    mirror.clearRequests();
    const res = await loadModel(server.url, TINY);
    t.match(res.events.at(-1), { status: 'error' });
    t.notMatch(res.events.at(-1), { message: /retry later/ }, 'nor says to retry');
    if (status !== 404) t.match(res.events.at(-1), { message: /will answer the same again/ });
    assertAskedOnce(
      t,
      fileDownloads(mirror).filter((get) => get.startsWith(WEIGHTS)),
    );
  });
}
