import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { text } from 'node:stream/consumers';
import t from 'tap';
import { startMirror } from '../src/mirror/mirror.js';
import { createHubClient } from '../src/server/fetch/hub-client.js';
import { nextLink } from '../src/server/fetch/hub-list-files.js';
import { LoadError } from '../src/server/loader-types.js';
import { demoModelsDir } from './helpers/demo.js';

const TINY = { id: 'modeldeck/tiny-chat', revision: 'main' };

/** A hub on 127.0.0.1 that answers with `handler` and records every request. */
async function startHub(
  handler: (req: IncomingMessage, res: ServerResponse, url: URL) => void,
): Promise<{ url: string; requests: { url: string; authorization?: string }[]; server: Server }> {
  const requests: { url: string; authorization?: string }[] = [];
  const server = createServer((req, res) => {
    requests.push({
      url: req.url ?? '',
      ...(req.headers.authorization === undefined ? {} : { authorization: req.headers.authorization }),
    });
    handler(req, res, new URL(req.url ?? '/', 'http://hub'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, requests, server };
}

function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

async function rejection(promise: Promise<unknown>): Promise<LoadError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof LoadError) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}

t.test('lists files through the mirror, with LFS sizes', async (t) => {
  const mirror = await startMirror({ root: await demoModelsDir(), host: '127.0.0.1', port: 0, lfsThreshold: 1000 });
  t.teardown(() => mirror.close());
  const hub = createHubClient({ hubUrl: `${mirror.url}/` });
  const files = await hub.listFiles(TINY);
  const paths = files.map((f) => f.path).sort();
  t.ok(
    paths.includes('config.json') && paths.includes('tokenizer.json') && paths.includes('onnx/model.onnx'),
    'files listed recursively',
  );
  t.notOk(paths.includes('onnx'), 'directories are not files');
  const onnx = files.find((f) => f.path === 'onnx/model.onnx');
  const response = await hub.openFile(TINY, 'onnx/model.onnx');
  t.equal(
    Number(response.headers.get('content-length')),
    onnx?.size,
    'the listed size of an LFS file is its content size',
  );
  response.cancel();
  t.equal(mirror.requests[0]?.url, '/api/models/modeldeck/tiny-chat/tree/main?recursive=true', 'the Hub tree endpoint');
});

t.test('follows Link rel="next" pagination, encodes revisions, sends the token', async (t) => {
  const hub = await startHub((req, res, url) => {
    res.setHeader('Content-Type', 'application/json');
    if (url.searchParams.get('cursor') === null) {
      res.setHeader('Link', `<${url.pathname}?recursive=true&cursor=2>; rel="next"`);
      res.end(
        JSON.stringify([
          { type: 'file', path: 'a.json', size: 3 },
          { type: 'directory', path: 'onnx', size: 0 },
        ]),
      );
    } else {
      res.end(JSON.stringify([{ type: 'file', path: 'onnx/model.onnx', size: 10, lfs: { size: 5000, oid: 'x' } }]));
    }
  });
  t.teardown(() => close(hub.server));
  const client = createHubClient({ hubUrl: hub.url, token: 'sekrit' });
  const files = await client.listFiles({ id: 'org/name', revision: 'refs/pr/1' });
  t.same(
    files,
    [
      { path: 'a.json', size: 3 },
      { path: 'onnx/model.onnx', size: 5000 },
    ],
    'both pages, LFS size',
  );
  t.same(
    hub.requests.map((r) => r.url),
    [
      '/api/models/org/name/tree/refs%2Fpr%2F1?recursive=true',
      '/api/models/org/name/tree/refs%2Fpr%2F1?recursive=true&cursor=2',
    ],
  );
  t.ok(
    hub.requests.every((r) => r.authorization === 'Bearer sekrit'),
    'Authorization: Bearer on every page',
  );
  t.equal(
    client.fileUrl({ id: 'org/name', revision: 'refs/pr/1' }, 'onnx/model.onnx'),
    `${hub.url}/org/name/resolve/refs%2Fpr%2F1/onnx/model.onnx`,
  );
});

t.test('nextLink reads RFC 8288 headers', async (t) => {
  t.equal(nextLink(null), undefined);
  t.equal(nextLink('<https://h/a?c=1>; rel="next"'), 'https://h/a?c=1');
  t.equal(nextLink('<https://h/p>; rel="prev", <https://h/n>; rel=next'), 'https://h/n');
  t.equal(nextLink('<https://h/p>; rel="prev"'), undefined);
});

t.test('maps hub answers to load errors that say what to do', async (t) => {
  const hub = await startHub((req, res, url) => {
    const segments = url.pathname.split('/');
    const org = url.pathname.startsWith('/api/models/') ? segments[3] : segments[1];
    const answers: Record<string, [number, string?]> = {
      missing: [404, 'RepoNotFound'],
      nocode: [404],
      badrev: [404, 'RevisionNotFound'],
      gated: [401, 'GatedRepo'],
      forbidden: [403, 'GatedRepo'],
      broken: [502],
    };
    const [status, code] = answers[org ?? ''] ?? [500];
    if (code !== undefined) res.setHeader('X-Error-Code', code);
    res.statusCode = status;
    res.end(JSON.stringify({ error: 'no' }));
  });
  t.teardown(() => close(hub.server));
  const client = createHubClient({ hubUrl: hub.url });
  const list = (org: string) => rejection(client.listFiles({ id: `${org}/model`, revision: 'main' }));

  const missing = await list('missing');
  t.equal(missing.code, 'MODEL_NOT_FOUND');
  t.match(missing.message, `model missing/model was not found on the hub at ${hub.url}; check the id`);
  t.equal((await list('nocode')).code, 'MODEL_NOT_FOUND', '404 without a code');
  const badrev = await list('badrev');
  t.equal(badrev.code, 'REVISION_NOT_FOUND');
  t.match(badrev.message, 'revision main of badrev/model was not found');
  const gated = await list('gated');
  t.equal(gated.code, 'UNAUTHORIZED');
  t.match(gated.message, 'gated/model is gated on the hub at');
  t.match(gated.message, 'set HF_TOKEN (or the token file $HF_HOME/token) to a token with access');
  t.equal((await list('forbidden')).code, 'FORBIDDEN');
  const broken = await list('broken');
  t.equal(broken.code, 'HUB_ERROR');
  t.match(broken.message, 'HTTP 502');

  const withToken = createHubClient({ hubUrl: hub.url, token: 'bad' });
  const refused = await rejection(withToken.listFiles({ id: 'gated/model', revision: 'main' }));
  t.equal(refused.code, 'HUB_TOKEN_INVALID', 'a 401 with a token: the token itself was refused');
  t.match(refused.message, 'refused the token from HF_TOKEN as invalid credentials');
  const file = await rejection(client.openFile({ id: 'missing/model', revision: 'main' }, 'config.json'));
  t.equal(file.code, 'MODEL_NOT_FOUND', 'files map the same way');
});

t.test('an unreachable hub names the URL and the ways out', async (t) => {
  const hub = await startHub(() => undefined);
  await close(hub.server);
  const client = createHubClient({ hubUrl: hub.url });
  const error = await rejection(client.listFiles(TINY));
  t.equal(error.code, 'HUB_UNREACHABLE');
  t.match(error.message, hub.url);
  t.match(error.message, 'ECONNREFUSED');
  t.match(error.message, '--hub-url');
  t.match(error.message, '--offline');

  const silent = await startHub(() => undefined);
  t.teardown(() => close(silent.server));
  const timeout = await rejection(createHubClient({ hubUrl: silent.url, requestTimeoutMs: 200 }).listFiles(TINY));
  t.equal(timeout.code, 'HUB_UNREACHABLE', 'a hub that never answers times out');
  t.match(timeout.message, 'did not answer');

  const controller = new AbortController();
  const listing = createHubClient({ hubUrl: silent.url }).listFiles(TINY, controller.signal);
  controller.abort();
  t.equal((await rejection(listing)).code, 'ABORTED');
});

t.test('a hub answering with something that is not a listing is a hub error', async (t) => {
  const hub = await startHub((req, res) => res.end(req.url?.includes('object') === true ? '{"a":1}' : 'not json'));
  t.teardown(() => close(hub.server));
  const client = createHubClient({ hubUrl: hub.url });
  t.equal((await rejection(client.listFiles({ id: 'object/x', revision: 'main' }))).code, 'HUB_ERROR');
  const bad = await rejection(client.listFiles({ id: 'text/x', revision: 'main' }));
  t.equal(bad.code, 'HUB_ERROR');
  t.match(bad.message, 'invalid JSON');
});

t.test('API requests answered 5xx or 429 are asked again, a bounded number of times', async (t) => {
  let calls = 0;
  const sha = 'c'.repeat(40);
  const hub = await startHub((req, res) => {
    calls += 1;
    if (req.url?.includes('/revision/flaky') && calls <= 2) {
      res.writeHead(calls === 1 ? 503 : 429, calls === 1 ? {} : { 'Retry-After': '0' });
      res.end();
      return;
    }
    if (req.url?.includes('/revision/down')) {
      res.writeHead(503);
      res.end();
      return;
    }
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ sha }));
  });
  t.teardown(() => close(hub.server));
  const client = createHubClient({ hubUrl: hub.url });
  t.equal(await client.resolveCommit({ id: 'org/name', revision: 'flaky' }), sha, 'a 503, then a 429, then the answer');
  t.equal(calls, 3);
  calls = 0;
  const down = await rejection(client.resolveCommit({ id: 'org/name', revision: 'down' }));
  t.equal(down.code, 'HUB_ERROR');
  t.match(down.message, 'HTTP 503');
  t.equal(calls, 3, 'three tries in all');
});

t.test('a listing page answered 503, 408 or 429 is asked again; a page that stays 503 ends the listing', async (t) => {
  const answers = new Map<string, number>();
  const hub = await startHub((req, res, url) => {
    const key = `${url.pathname}?${url.searchParams.toString()}`;
    const seen = (answers.get(key) ?? 0) + 1;
    answers.set(key, seen);
    const cursor = url.searchParams.get('cursor');
    if (url.pathname.includes('/down/')) {
      res.writeHead(503);
      res.end();
      return;
    }
    // The first page fails once with 503, the second once with 408 and once with 429 (asked to wait 0 s).
    if (cursor === null && seen === 1) {
      res.writeHead(503);
      res.end();
      return;
    }
    if (cursor === '2' && seen <= 2) {
      res.writeHead(seen === 1 ? 408 : 429, seen === 1 ? {} : { 'Retry-After': '0' });
      res.end();
      return;
    }
    res.setHeader('Content-Type', 'application/json');
    if (cursor === null) {
      res.setHeader('Link', `<${url.pathname}?recursive=true&cursor=2>; rel="next"`);
      res.end(JSON.stringify([{ type: 'file', path: 'a.json', size: 3 }]));
    } else {
      res.end(JSON.stringify([{ type: 'file', path: 'b.json', size: 4 }]));
    }
  });
  t.teardown(() => close(hub.server));
  const client = createHubClient({ hubUrl: hub.url });
  t.same(
    await client.listFiles({ id: 'org/name', revision: 'main' }),
    [
      { path: 'a.json', size: 3 },
      { path: 'b.json', size: 4 },
    ],
    'both pages, each after its failures',
  );
  t.same(
    hub.requests.map((r) => r.url.replace('/api/models/org/name/tree/main?recursive=true', '')),
    ['', '', '&cursor=2', '&cursor=2', '&cursor=2'],
    'the failed page asked again, never the pages before it',
  );
  const down = await rejection(client.listFiles({ id: 'org/down', revision: 'main' }));
  t.equal(down.code, 'HUB_ERROR');
  t.match(down.message, 'HTTP 503');
  t.equal(answers.get('/api/models/org/down/tree/main?recursive=true'), 3, 'three tries in all');
});

t.test(
  'redirects are followed by the client: relative ones, a bounded number, errors of the target named',
  async (t) => {
    const cdn = await startHub((_req, res) => {
      res.statusCode = 403;
      res.end('expired');
    });
    t.teardown(() => close(cdn.server));
    const hub = await startHub((_req, res, url) => {
      if (url.pathname.includes('/loop/')) {
        res.writeHead(302, { Location: url.pathname });
      } else if (url.pathname.endsWith('/relative.json')) {
        res.writeHead(307, { Location: '../main/target.json' });
      } else if (url.pathname.endsWith('/target.json')) {
        res.writeHead(200, { 'Content-Length': 2 });
        res.end('{}');
        return;
      } else {
        res.writeHead(302, { Location: `${cdn.url}/signed/file?sig=1` });
      }
      res.end();
    });
    t.teardown(() => close(hub.server));
    const client = createHubClient({ hubUrl: hub.url, token: 'hf_x' });

    const relative = await client.openFile({ id: 'org/model', revision: 'main' }, 'relative.json');
    t.equal(await text(relative.body), '{}', 'a relative Location is resolved against the URL that sent it');
    const loop = await rejection(client.openFile({ id: 'org/loop', revision: 'main' }, 'x.bin'));
    t.equal(loop.code, 'HUB_ERROR');
    t.match(loop.message, /redirected x\.bin of org\/loop more than 5 times/);
    t.equal(hub.requests.filter((r) => r.url.includes('/loop/')).length, 6, 'the first request and five hops');
    const expired = await rejection(client.openFile({ id: 'org/model', revision: 'main' }, 'big.bin'));
    t.equal(expired.code, 'HUB_ERROR');
    t.match(
      expired.message,
      `${cdn.url}, where the hub at ${hub.url} redirected big.bin of org/model@main, answered HTTP 403`,
    );
    t.same(
      cdn.requests.map((r) => r.authorization),
      [undefined],
      'the token stays with the hub',
    );
  },
);
