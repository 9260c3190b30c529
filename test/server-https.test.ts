// The hub over HTTPS, as the real Hub is: a TLS front on loopback (the test's certificate in test/fixtures/tls, for
// 127.0.0.1) before the demo mirror, and `modeldeck serve` in its own process trusting it through NODE_EXTRA_CA_CERTS,
// as an operator behind a TLS-inspecting proxy would. Listings come over fetch and file bodies over node:https:
// both must take the certificate, and a hub whose certificate is not trusted must say so.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { demoModelsDir } from './helpers/demo.js';
import { loadModel } from './helpers/sse-client.js';
import { fileDownloads, startTestMirror, listeningUrl } from './helpers/stack.js';
import { modeldeckBin, repoPath } from './helpers/repo.js';
import { untracked } from './helpers/untracked.js';

const TINY = 'modeldeck/tiny-chat';
const CERT = repoPath('test', 'fixtures', 'tls', 'hub-cert.pem');
const KEY = repoPath('test', 'fixtures', 'tls', 'hub-key.pem');
const bin = modeldeckBin;

const mirror = await startTestMirror(await demoModelsDir([TINY]));
t.teardown(() => mirror.close());

/** An HTTPS server on 127.0.0.1 that passes every request on to the mirror, as a TLS-terminating proxy does. */
const front = https.createServer({ key: readFileSync(KEY), cert: readFileSync(CERT) }, (req, res) => {
  const mirrorUrl = new URL(mirror.url);
  const upstream = http.request(
    { host: mirrorUrl.hostname, port: mirrorUrl.port, path: req.url, method: req.method, headers: req.headers },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    },
  );
  upstream.on('error', () => res.destroy());
  req.pipe(upstream);
});
await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
t.teardown(() => new Promise<void>((resolve) => (front.closeAllConnections(), front.close(() => resolve()))));
const hubUrl = `https://127.0.0.1:${(front.address() as AddressInfo).port}`;

/** `modeldeck serve` against the HTTPS hub, in its own process with `env` added; resolves with its URL. */
async function serve(t: Test, env: NodeJS.ProcessEnv): Promise<string> {
  const cacheDir = await mkdtemp(join(tmpdir(), 'modeldeck-https-'));
  t.teardown(() => rm(cacheDir, { recursive: true, force: true }));
  const args = ['serve', '--port', '0', '--hub-url', hubUrl, '--cache-dir', cacheDir, '--log-level', 'silent'];
  const child = spawn(...untracked(process.execPath, [bin, ...args]), {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...env },
  });
  t.teardown(() => child.kill('SIGKILL'));
  return listeningUrl(child);
}

t.test('a hub over HTTPS with a certificate the process trusts: listed, downloaded, ready', async (t) => {
  mirror.clearRequests();
  const url = await serve(t, { NODE_EXTRA_CA_CERTS: CERT });
  const { events } = await loadModel(url, TINY);
  t.match(events.at(-1), { status: 'ready', model: `${TINY}@main` }, JSON.stringify(events.at(-1)));
  t.ok(
    events.some((e) => e.status === 'loading' && e.stage === 'download'),
    'the files were downloaded in this load',
  );
  t.ok(
    fileDownloads(mirror).length >= 3,
    `the file bodies came through the TLS front (${fileDownloads(mirror).length})`,
  );
});

t.test('a hub whose certificate is not trusted: the load fails saying so, with what to do', async (t) => {
  const url = await serve(t, { NODE_EXTRA_CA_CERTS: '' });
  const { events } = await loadModel(url, TINY);
  const last = events.at(-1);
  t.equal(last?.status, 'error');
  const message = last?.status === 'error' ? last.message : '';
  t.match(message, /certificate/i, `names the certificate problem: ${message}`);
  t.match(message, /NODE_EXTRA_CA_CERTS/, 'and how to trust a certificate of your own');
});
