// Test files that start no child process and load no model, in one process (why: "exclude" in .taprc).
// `npx tap build/test/NAME.test.js` still runs one alone; test/batch-protocol.test.ts checks these against .taprc.
import { readdir, readFile } from 'node:fs/promises';
import t from 'tap';
import { repoPath } from './helpers/repo.js';
import './client-format.test.js';
import './client-reconnect.test.js';
import './client-session.test.js';
import './client-sse-reader.test.js';
import './client-wire-journal.test.js';
import './client-wire-tap.test.js';
import './common-auth.test.js';
import './common-retry.test.js';
import './common-text.test.js';
import './local-errors.test.js';
import './protocol-chat.test.js';
import './protocol-errors.test.js';
import './protocol-events.test.js';
import './protocol-feed.test.js';
import './protocol-load-request.test.js';
import './protocol-model-id.test.js';
import './protocol-sse.test.js';

t.test('the batches run every test file that .taprc leaves out of its list, each once', async (t) => {
  const taprc = await readFile(repoPath('.taprc'), 'utf8');
  const excluded = [...taprc.matchAll(/^ {2}- "build\/test\/([a-z0-9-]+)\.test\.js"$/gm)].map((m) => m[1] ?? '');
  const batched: string[] = [];
  for (const name of (await readdir(repoPath('test'))).filter((n) => /^batch-.+\.test\.ts$/.test(n))) {
    const source = await readFile(repoPath('test', name), 'utf8');
    batched.push(...[...source.matchAll(/^import '\.\/(.+)\.test\.js';$/gm)].map((m) => m[1] ?? ''));
  }
  t.ok(batched.length > 0, 'the batches import test files');
  t.strictSame([...batched].sort(), [...excluded].sort(), 'the same files');
  t.equal(new Set(batched).size, batched.length, 'none in two batches');
});
