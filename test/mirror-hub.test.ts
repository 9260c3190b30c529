// The mirror as a Hub stand-in real clients accept: paginated listings, LFS redirects to a second origin, Hub-like
// auth answers; and modeldeck's own hub client and downloader working through them.
import t from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHubClient } from '../src/server/fetch/hub-client.js';
import { startTestMirror } from './helpers/stack.js';
import { runMirrorCommand } from '../src/cli/mirror.js';
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

function writeTree(root: string, files: Record<string, string | Buffer>): void {
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), content);
  }
}

// Over the Hub's 10 MiB LFS threshold, the default.
const BIG = pseudoRandomBytes(10 * 1024 * 1024 + 5, 3);
const root = t.testdir({});
const manyFiles: Record<string, string> = {};
for (let i = 0; i < 7; i += 1) manyFiles[`acme/many/file${i}.txt`] = `file ${i}\n`;
writeTree(root, {
  ...manyFiles,
  'acme/many/sub/a.json': '{}',
  'acme/many/sub/b.json': '[]',
  'acme/big/config.json': '{"model_type": "llama"}\n',
  'acme/big/onnx/model.onnx': BIG,
});

interface Entry {
  type: string;
  path: string;
}

t.test('tree pages: pageSize entries a page, Link rel="next" with a cursor, Python recursive=True', async (t) => {
  const mirror = await startTestMirror(root, { pageSize: 3 });
  t.teardown(() => mirror.close());
  const unpaged = await startTestMirror(root);
  t.teardown(() => unpaged.close());
  const whole = (await (await fetch(`${unpaged.url}/api/models/acme/many/tree/main?recursive=True`)).json()) as Entry[];
  t.equal(whole.length, 10, 'recursive=True lists the whole tree: 7 files, sub/ and its 2 files');

  const pages: Entry[][] = [];
  let url: string | undefined = `${mirror.url}/api/models/acme/many/tree/main?recursive=True`;
  while (url !== undefined) {
    const res: Response = await fetch(url);
    t.equal(res.status, 200);
    pages.push((await res.json()) as Entry[]);
    const link = res.headers.get('link');
    if (link === null) url = undefined;
    else {
      const match = /^<([^>]+)>; rel="next"$/.exec(link);
      t.ok(match, `a Hub-shaped Link header: ${link}`);
      t.match(match?.[1], /[?&]cursor=[^&]+/);
      t.match(match?.[1], /[?&]recursive=True/, 'the next page keeps the query');
      url = match?.[1];
    }
    if (pages.length > 10) break;
  }
  t.same(
    pages.map((p) => p.length),
    [3, 3, 3, 1],
  );
  t.same(pages.flat(), whole, 'the pages together are the whole listing, in order');

  const bad = await fetch(`${mirror.url}/api/models/acme/many/tree/main?cursor=x`);
  t.equal(bad.status, 400);

  const client = createHubClient({ hubUrl: mirror.url });
  const files = await client.listFiles({ id: 'acme/many', revision: 'main' });
  t.same(
    files.map((f) => f.path),
    whole.filter((e) => e.type === 'file').map((e) => e.path),
    "the server's hub client follows every page",
  );
  t.equal(
    mirror.requests.filter((r) => r.url.includes('/tree/') && r.url.includes('cursor=') && r.status === 200).length,
    3 + 3,
    'three next pages fetched by each reader',
  );
});

t.test('cli: --page-size is checked', async (t) => {
  for (const bad of ['0', 'x', '-1']) {
    let err = '';
    const code = await runMirrorCommand([root, `--page-size=${bad}`], { stderr: { write: (s: string) => (err += s) } });
    t.equal(code, 2);
    t.match(err, /--page-size must be a whole number/);
  }
});

t.test('cli: --redirect-large starts the CDN origin and names it; --cdn-port needs it', async (t) => {
  let err = '';
  t.equal(await runMirrorCommand([root, '--cdn-port', '0'], { stderr: { write: (s: string) => (err += s) } }), 2);
  t.match(err, /--cdn-port needs --redirect-large/);

  let out = '';
  const stop = new AbortController();
  const running = runMirrorCommand([root, '--port', '0', '--redirect-large', '--quiet'], {
    stdout: { write: (s: string) => (out += s) },
    signal: stop.signal,
  });
  await until('the CDN line', () => /redirects large files to (http:\S+)/.test(out));
  const hub = /listening on (http:\S+)/.exec(out)?.[1] ?? '';
  const cdn = /redirects large files to (http:\S+)/.exec(out)?.[1] ?? '';
  const res = await fetch(`${hub}/acme/big/resolve/main/onnx/model.onnx`, { redirect: 'manual' });
  t.equal(res.status, 302);
  t.equal(new URL(res.headers.get('location') ?? '').origin, cdn, 'to the origin it printed');
  const bytes = Buffer.from(await (await fetch(`${hub}/acme/big/resolve/main/onnx/model.onnx`)).arrayBuffer());
  t.ok(bytes.equals(BIG), 'followed, the whole file');
  stop.abort();
  t.equal(await running, 0);
});

interface PathEntry {
  type: string;
  path: string;
  oid: string;
  size: number;
  lfs?: { oid: string; size: number };
  lastCommit?: { id: string; title: string; date: string };
}

t.test('revision info and paths-info, form or JSON, answer as the Hub', async (t) => {
  const mirror = await startTestMirror(root);
  t.teardown(() => mirror.close());
  const info = (await (await fetch(`${mirror.url}/api/models/acme/big/revision/main`)).json()) as {
    sha: string;
    siblings: { rfilename: string }[];
  };
  t.match(info.sha, /^[0-9a-f]{40}$/);
  t.same(info.siblings, [{ rfilename: 'config.json' }, { rfilename: 'onnx/model.onnx' }]);
  const tree = (await (
    await fetch(`${mirror.url}/api/models/acme/big/tree/main?recursive=true`)
  ).json()) as PathEntry[];
  const byPath = new Map(tree.map((e) => [e.path, e]));

  const url = `${mirror.url}/api/models/acme/big/paths-info/main`;
  const json = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ paths: ['onnx/model.onnx', 'nope.txt', 'onnx', 'config.json'], expand: true }),
  });
  t.equal(json.status, 200);
  const entries = (await json.json()) as PathEntry[];
  t.same(
    entries.map((e) => [e.type, e.path]),
    [
      ['file', 'onnx/model.onnx'],
      ['directory', 'onnx'],
      ['file', 'config.json'],
    ],
    'the paths that exist, in the order asked; a missing one left out',
  );
  const big = entries[0];
  t.same({ ...big, lastCommit: undefined }, { ...byPath.get('onnx/model.onnx'), lastCommit: undefined }, 'as listed');
  t.match(big?.lfs, { oid: /^[0-9a-f]{64}$/, size: BIG.length });
  t.equal(big?.lastCommit?.id, info.sha, 'expand: the last commit is the revision');
  t.ok(!Number.isNaN(Date.parse(big?.lastCommit?.date ?? '')), 'with a date');

  // huggingface_hub posts a form: paths repeated, expand as Python's True.
  const form = await fetch(url, {
    method: 'POST',
    body: new URLSearchParams([
      ['paths', 'config.json'],
      ['paths', 'onnx/model.onnx'],
      ['expand', 'False'],
    ]),
  });
  const formEntries = (await form.json()) as PathEntry[];
  t.same(
    formEntries.map((e) => e.path),
    ['config.json', 'onnx/model.onnx'],
  );
  t.equal(formEntries[0]?.lastCommit, undefined, 'no lastCommit without expand');

  const bad = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: '{"paths": 3}',
  });
  t.equal(bad.status, 400);
  t.match(((await bad.json()) as { error: string }).error, /"paths" must be/);
  const get = await fetch(url);
  t.equal(get.status, 405);
  t.equal(get.headers.get('allow'), 'POST');
  const missing = await fetch(`${mirror.url}/api/models/acme/nope/paths-info/main`, { method: 'POST', body: '' });
  t.equal(missing.status, 404);
  t.equal(missing.headers.get('x-error-code'), 'RepoNotFound');
  const rev = await fetch(`${mirror.url}/api/models/acme/big/paths-info/nope`, { method: 'POST', body: '' });
  t.equal(rev.headers.get('x-error-code'), 'RevisionNotFound');
});

t.test('auth as the Hub: invalid token, missing vs gated repos, with and without a token', async (t) => {
  const mirror = await startTestMirror(root, {
    auth: { tokens: ['hf_all', { token: 'hf_some', grants: ['acme/other*'] }], gated: ['acme/big'] },
  });
  t.teardown(() => mirror.close());
  const ask = async (path: string, token?: string) => {
    const res = await fetch(`${mirror.url}${path}`, {
      headers: token === undefined ? {} : { Authorization: `Bearer ${token}` },
    });
    await res.arrayBuffer();
    return [res.status, res.headers.get('x-error-code'), res.headers.get('x-error-message')];
  };
  const file = '/acme/big/resolve/main/config.json';
  t.match(await ask(file), [401, 'GatedRepo', /restricted/], 'gated, no token: 401 GatedRepo');
  t.match(await ask(file, 'hf_some'), [403, 'GatedRepo', /not in the authorized list/], 'a token not granted: 403');
  t.match(await ask(file, 'hf_all'), [200, null], 'a token granted all: 200');
  t.match(await ask('/api/models/acme/big/tree/main', 'hf_all'), [200]);
  t.match(await ask('/api/models/acme/big/tree/main'), [401, 'GatedRepo'], 'listings too');
  t.match(await ask(file, 'hf_wrong'), [401, null, 'Invalid credentials in Authorization header'], 'a bad token');
  t.match(
    await ask('/acme/many/resolve/main/file0.txt', 'hf_wrong'),
    [401, null, 'Invalid credentials in Authorization header'],
    'a bad token is refused on a public repository too',
  );
  t.match(await ask('/acme/many/resolve/main/file0.txt'), [200], 'a public repository needs no token');
  t.match(await ask('/acme/many/resolve/main/file0.txt', 'hf_some'), [200]);
  t.match(await ask('/api/models/acme/nope/revision/main'), [401, 'RepoNotFound'], 'missing, no token: 401');
  t.match(await ask('/api/models/acme/nope/revision/main', 'hf_some'), [404, 'RepoNotFound'], 'missing, a token: 404');
  t.match(await ask('/acme/many/resolve/nope/file0.txt'), [404, 'RevisionNotFound'], 'a missing revision: 404');
  await t.rejects(startTestMirror(root, { auth: { tokens: [''] } }), /non-empty/);
});

t.test('a 429 names its bucket and window as the Hub does', async (t) => {
  const mirror = await startTestMirror(root, {
    faults: [
      { kind: 'status', status: 429, path: '/api/**', times: 1 },
      { kind: 'status', status: 429, path: 'config.json', times: 1 },
    ],
  });
  t.teardown(() => mirror.close());
  const api = await fetch(`${mirror.url}/api/models/acme/big/tree/main`);
  t.equal(api.status, 429);
  t.equal(api.headers.get('retry-after'), '1');
  t.equal(api.headers.get('ratelimit'), '"api";r=0;t=1');
  t.equal(api.headers.get('ratelimit-policy'), '"fixed window";"api";q=500;w=300');
  const file = await fetch(`${mirror.url}/acme/big/resolve/main/config.json`);
  t.equal(file.status, 429);
  t.equal(file.headers.get('ratelimit'), '"resolvers";r=0;t=1');
  t.match(file.headers.get('ratelimit-policy'), /^"fixed window";"resolvers";q=\d+;w=300$/);
});

t.test('cli: --user-token and --gated', async (t) => {
  const bad: [string[], RegExp][] = [
    [['--user-token', 'hf_a', '--token', 'x'], /do not mix/],
    [['--gated', 'nope'], /--gated takes a repository ORG\/NAME/],
    [['--user-token', 'hf_a:bad'], /names repositories as ORG\/NAME/],
    [['--user-token', 'hf a'], /printable/],
  ];
  for (const [argv, message] of bad) {
    let err = '';
    t.equal(await runMirrorCommand([root, ...argv], { stderr: { write: (s: string) => (err += s) } }), 2);
    t.match(err, message, argv.join(' '));
  }
  let out = '';
  const stop = new AbortController();
  const running = runMirrorCommand(
    [root, '--port', '0', '--quiet', '--user-token', 'hf_a:acme/big', '--user-token', 'hf_b', '--gated', 'acme/*'],
    { stdout: { write: (s: string) => (out += s) }, signal: stop.signal },
  );
  const hub = await until('the listening line', () => /listening on (http:\S+)/.exec(out)?.[1]);
  const status = async (path: string, token?: string) => {
    const res = await fetch(`${hub}${path}`, {
      headers: token === undefined ? {} : { Authorization: `Bearer ${token}` },
    });
    await res.arrayBuffer();
    return res.status;
  };
  t.equal(await status('/acme/big/resolve/main/config.json'), 401);
  t.equal(await status('/acme/big/resolve/main/config.json', 'hf_a'), 200);
  t.equal(await status('/acme/many/resolve/main/file0.txt', 'hf_a'), 403, 'hf_a is granted acme/big only');
  t.equal(await status('/acme/many/resolve/main/file0.txt', 'hf_b'), 200, 'hf_b every gated repository');
  t.equal(await status('/acme/many/resolve/main/file0.txt', 'hf_c'), 401);
  stop.abort();
  t.equal(await running, 0);
});

t.test('cli: --help names the Hub stand-in flags and endpoints', async (t) => {
  let out = '';
  t.equal(await runMirrorCommand(['--help'], { stdout: { write: (s: string) => (out += s) } }), 0);
  for (const text of ['--page-size N', '--redirect-large', '--cdn-port PORT', '--user-token TOKEN', '--gated REPO'])
    t.match(out, text, text);
  t.match(out, 'POST /api/models/ORG/NAME/paths-info/REV');
});
