// The hub token goes to the hub's own origin only (issue 14, item 4). Two loopback servers: the "hub" (in front of
// the real mirror) and "elsewhere", another origin. The hub's file listing names elsewhere in its `Link: rel="next"`
// and the hub redirects files and listings there; elsewhere records every Authorization header it is sent.
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { createHubClient } from '../src/server/fetch/hub-client.js';
import { startServer } from '../src/server/start.js';
import { demoModelsDir } from './helpers/demo.js';
import { loadModel } from './helpers/sse-client.js';
import { startTestMirror } from './helpers/stack.js';

const TOKEN = 'hf_secret_token_do_not_leak';
const MODEL = 'modeldeck/tiny-chat';

interface Recorder {
  readonly url: string;
  /** Every request: its path and the Authorization header it carried. */
  readonly requests: { path: string; authorization: string | undefined }[];
  readonly server: Server;
}

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void | Promise<void>): Promise<Recorder> {
  const requests: Recorder['requests'] = [];
  const server = createServer((req, res) => {
    requests.push({ path: req.url ?? '', authorization: req.headers.authorization });
    Promise.resolve(handler(req, res)).catch((error: unknown) => {
      res.writeHead(500).end(String(error));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests, server };
}

function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Copies a mirror response (status, the headers a hub client reads, body) to `res`. */
async function relay(from: string, res: ServerResponse, extra: Record<string, string> = {}): Promise<void> {
  const upstream = await fetch(from, { headers: { 'accept-encoding': 'identity' } });
  const headers: Record<string, string> = { ...extra };
  for (const name of ['content-type', 'content-length', 'etag', 'x-repo-commit']) {
    const value = upstream.headers.get(name);
    if (value !== null) headers[name] = value;
  }
  res.writeHead(upstream.status, headers);
  res.end(Buffer.from(await upstream.arrayBuffer()));
}

const mirror = await startTestMirror(await demoModelsDir());
t.teardown(() => mirror.close());

/** The second half of the mirror's listing, which elsewhere serves as the listing's page 2. */
let secondPage: unknown[] = [];
const elsewhere = await listen(async (req, res) => {
  const path = req.url ?? '/';
  if (path.startsWith('/page2')) {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(secondPage));
  } else if (path.startsWith('/listing')) {
    await relay(`${mirror.url}${new URL(path, 'http://x').searchParams.get('from') ?? ''}`, res);
  } else if (path.startsWith('/files/')) {
    await relay(`${mirror.url}/${path.slice('/files/'.length)}`, res);
  } else {
    res.writeHead(404).end();
  }
});
t.teardown(() => close(elsewhere.server));

type Mode = 'link' | 'redirect-listing' | 'redirect-files';
let mode: Mode = 'link';
const hub = await listen(async (req, res) => {
  const path = req.url ?? '/';
  // A gated repository: nothing without the token.
  if (req.headers.authorization !== `Bearer ${TOKEN}`) return void res.writeHead(401).end();
  if (path.startsWith('/api/models/') && path.includes('/tree/')) {
    if (mode === 'redirect-listing') {
      const location = `${elsewhere.url}/listing?from=${encodeURIComponent(path)}`;
      return void res.writeHead(302, { location }).end();
    }
    const all = (await (await fetch(`${mirror.url}${path}`)).json()) as unknown[];
    const half = Math.ceil(all.length / 2);
    secondPage = all.slice(half);
    res.writeHead(200, { 'content-type': 'application/json', link: `<${elsewhere.url}/page2?cursor=x>; rel="next"` });
    return void res.end(JSON.stringify(all.slice(0, half)));
  }
  if (mode === 'redirect-files' && path.includes('/resolve/')) {
    return void res.writeHead(302, { location: `${elsewhere.url}/files${path}` }).end();
  }
  return relay(`${mirror.url}${path}`, res);
});
t.teardown(() => close(hub.server));

/** The requests to the other origin since the `from`th that carried an Authorization header. */
const leaked = (from: number): string[] =>
  elsewhere.requests
    .slice(from)
    .filter((r) => r.authorization !== undefined)
    .map((r) => `${r.path}: ${r.authorization}`);

t.test('a Link: rel="next" to another origin is followed without the token', async (t) => {
  mode = 'link';
  const before = elsewhere.requests.length;
  const client = createHubClient({ hubUrl: hub.url, token: TOKEN });
  const files = await client.listFiles({ id: MODEL, revision: 'main' });
  t.ok(
    secondPage.length > 0 && files.length >= secondPage.length + 1,
    'both pages were listed (the second from the other origin)',
  );
  t.ok(elsewhere.requests.length > before, 'the other origin was asked for page 2');
  t.strictSame(leaked(before), [], 'and never got the token');
  t.ok(
    hub.requests.some((r) => r.authorization === `Bearer ${TOKEN}`),
    'the hub itself did get the token',
  );
});

t.test('a whole load through a hub whose listing and files lead elsewhere never sends the token there', async (t) => {
  for (const m of ['link', 'redirect-listing', 'redirect-files'] as const) {
    mode = m;
    const before = elsewhere.requests.length;
    // A fresh cache each time, so every load lists and downloads.
    const cacheDir = await mkdtemp(join(tmpdir(), 'modeldeck-credentials-'));
    const server = await startServer({ loader: { hubUrl: hub.url, cacheDir, token: TOKEN } });
    const seen = await loadModel(server.url, MODEL);
    await server.close();
    await rm(cacheDir, { recursive: true, force: true });
    t.match(seen.events.at(-1), { status: 'ready' }, `${m}: the load completed`);
    t.ok(elsewhere.requests.length > before, `${m}: the other origin was used`);
    t.strictSame(leaked(before), [], `${m}: the other origin never got the token`);
  }
});
