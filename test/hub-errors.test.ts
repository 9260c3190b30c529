// Load errors that name the real cause, against the mirror answering as the Hub does: an invalid token (and where it
// came from), missing vs gated with and without a token, and a CDN the hub redirects to that cannot be reached.
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { resolveServeConfig, serverOptions } from '../src/cli/serve.js';
import type { Mirror } from '../src/mirror/mirror.js';
import type { LoadEvent } from '../src/protocol/events.js';
import { startServer } from '../src/server/start.js';
import { demoModelsDir } from './helpers/demo.js';
import { loadModel } from './helpers/sse-client.js';
import { startTestMirror } from './helpers/stack.js';

const TINY = 'modeldeck/tiny-chat';
const GATED = 'test/gated-chat';
const demo = await demoModelsDir([TINY]);
const root = await mkdtemp(join(tmpdir(), 'modeldeck-hub-errors-'));
await cp(join(demo, TINY), join(root, TINY), { recursive: true });
await cp(join(demo, TINY), join(root, GATED), { recursive: true });
const mirror = await startTestMirror(root, {
  auth: {
    tokens: [
      { token: 'hf_granted', grants: [GATED] },
      { token: 'hf_other', grants: [] },
    ],
    gated: [GATED],
  },
});
t.teardown(async () => {
  await mirror.close();
  await rm(root, { recursive: true, force: true });
});

/** The last event of loading `model` through a server configured as `modeldeck serve` would be with `env`. */
async function lastEvent(hub: Mirror | string, model: string, env: NodeJS.ProcessEnv): Promise<LoadEvent | undefined> {
  const cacheDir = await mkdtemp(join(tmpdir(), 'modeldeck-hub-errors-cache-'));
  const hubUrl = typeof hub === 'string' ? hub : hub.url;
  const home = await mkdtemp(join(tmpdir(), 'modeldeck-hub-errors-home-'));
  if (env['TOKEN_FILE'] !== undefined) await writeFile(join(home, 'token'), `${env['TOKEN_FILE']}\n`);
  const config = resolveServeConfig(['--port', '0', '--hub-url', hubUrl, '--cache-dir', cacheDir], {
    HF_HOME: home,
    ...env,
  });
  if (config === null) throw new Error('no config');
  const server = await startServer({
    ...serverOptions(config),
    loader: { ...serverOptions(config).loader, download: { backoffMs: 10, maxBackoffMs: 50 } },
    logger: false,
  });
  try {
    return (await loadModel(server.url, model)).events.at(-1);
  } finally {
    await server.close();
    await rm(cacheDir, { recursive: true, force: true });
    await rm(home, { recursive: true, force: true });
  }
}

t.test('without a token: a 401 says missing or gated/private are both possible; a gated one says gated', async (t) => {
  const missing = await lastEvent(mirror, 'test/no-such-model', {});
  t.match(missing, { status: 'error', code: 'UNAUTHORIZED' });
  t.match(missing, { message: /test\/no-such-model was not found on the hub at .*, or it is gated or private/ });
  t.match(missing, { message: /set HF_TOKEN/ });
  const gated = await lastEvent(mirror, GATED, {});
  t.match(gated, { status: 'error', code: 'UNAUTHORIZED', message: /test\/gated-chat is gated on the hub at/ });
  t.match(gated, { message: /no token was sent: set HF_TOKEN/ });
  t.match(await lastEvent(mirror, TINY, {}), { status: 'ready' }, 'a public model needs no token');
});

t.test('an invalid token is named as such, with where it came from', async (t) => {
  const fromEnv = await lastEvent(mirror, TINY, { HF_TOKEN: 'hf_wrong' });
  t.match(fromEnv, { status: 'error', code: 'HUB_TOKEN_INVALID' });
  t.match(fromEnv, { message: /refused the token from HF_TOKEN as invalid credentials/ });
  const fromFile = await lastEvent(mirror, TINY, { TOKEN_FILE: 'hf_wrong' });
  t.match(fromFile, { status: 'error', code: 'HUB_TOKEN_INVALID' });
  t.match(fromFile, { message: /refused the token from the token file \/.*\/token as invalid/ });
  t.match(await lastEvent(mirror, GATED, { TOKEN_FILE: 'hf_granted' }), { status: 'ready' }, 'a good token file');
});

t.test('with a valid token: a 404 says missing, a 403 says gated and not granted', async (t) => {
  const missing = await lastEvent(mirror, 'test/no-such-model', { HF_TOKEN: 'hf_other' });
  t.match(missing, { status: 'error', code: 'MODEL_NOT_FOUND' });
  t.match(missing, { message: /was not found on the hub at .* \(the token from HF_TOKEN was accepted/ });
  const denied = await lastEvent(mirror, GATED, { HF_TOKEN: 'hf_other' });
  t.match(denied, { status: 'error', code: 'FORBIDDEN' });
  t.match(denied, { message: /test\/gated-chat is gated on .* the token from HF_TOKEN has not been granted access/ });
  t.match(await lastEvent(mirror, GATED, { HF_TOKEN: 'hf_granted' }), { status: 'ready' });
});

t.test('a CDN the hub redirects to that cannot be reached is named, not the hub', async (t) => {
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const deadCdn = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  // Files of 100 kB and more are LFS files here: the model's weights redirect to the dead CDN.
  const redirecting = await startTestMirror(root, { lfsThreshold: 100_000, redirectLarge: { url: deadCdn } });
  t.teardown(() => redirecting.close());
  const last = await lastEvent(redirecting, TINY, {});
  t.match(last, { status: 'error', code: 'HUB_UNREACHABLE' });
  const message = last?.status === 'error' ? last.message : '';
  t.match(
    message,
    `cannot reach ${deadCdn}, where the hub at ${redirecting.url} redirected the request (ECONNREFUSED)`,
  );
  t.notMatch(message, 'cannot reach the hub at', 'the hub itself answered');
});
