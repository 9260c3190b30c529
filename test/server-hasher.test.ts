// The checksum thread: digests equal node:crypto's for interleaved downloads, hashed from the files themselves, and a
// prefix checksum that follows a file filled in any order.
import { createHash, randomBytes } from 'node:crypto';
import { open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { createHasher } from '../src/server/fetch/hasher.js';
import { createPrefixChecksum } from '../src/server/fetch/prefix-checksum.js';

t.test('interleaved streams hash ranges of files to what node:crypto computes, prefix included', async (t) => {
  const dir = t.testdir();
  const bytes = randomBytes(5 * 1024 * 1024 + 17);
  const path = join(dir, 'file');
  await writeFile(path, bytes);
  const sha = createHasher('sha256');
  const git = createHasher('sha1', `blob ${bytes.length}\0`);
  const cuts = [0, 3 * 1024 * 1024, 3 * 1024 * 1024 + 17, bytes.length];
  for (let i = 1; i < cuts.length; i += 1) {
    await Promise.all([
      sha.hashFile(path, cuts[i - 1] ?? 0, cuts[i] ?? 0),
      git.hashFile(path, cuts[i - 1] ?? 0, cuts[i] ?? 0),
    ]);
  }
  t.equal(await sha.digest(), createHash('sha256').update(bytes).digest('hex'));
  t.equal(await git.digest(), createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex'));
  await t.rejects(sha.hashFile(path, 0, 1), /finished/, 'a finished hash takes no more bytes');
});

t.test('a range past the end of the file fails the hash, not the thread', async (t) => {
  const path = join(t.testdir(), 'short');
  await writeFile(path, 'abc');
  const hasher = createHasher('sha256');
  await t.rejects(hasher.hashFile(path, 0, 10), /ends at byte 3, before 10/);
  const other = createHasher('sha256');
  await other.hashFile(path, 0, 3);
  t.equal(await other.digest(), createHash('sha256').update('abc').digest('hex'), 'the thread goes on');
});

t.test('a dropped hash frees its stream; others go on', async (t) => {
  const path = join(t.testdir(), 'abc');
  await writeFile(path, 'abc');
  const dropped = createHasher('sha256');
  const other = createHasher('sha256');
  await dropped.hashFile(path, 0, 3);
  dropped.dispose();
  dropped.dispose();
  await t.rejects(dropped.digest(), /finished/);
  await other.hashFile(path, 0, 3);
  t.equal(await other.digest(), createHash('sha256').update('abc').digest('hex'));
});

t.test('a prefix checksum follows a file written out of order, and hashes the rest at the end', async (t) => {
  const path = join(t.testdir(), 'partial');
  const bytes = randomBytes(3 * 1024 * 1024);
  const handle = await open(path, 'w+');
  const checksum = createPrefixChecksum(path, 'sha256', bytes.length);
  // The second half first: the prefix is still empty; then the first half, and the prefix is the whole file.
  const half = bytes.length / 2;
  await handle.write(bytes, half, half, half);
  checksum.advance(0);
  await handle.write(bytes, 0, half, 0);
  checksum.advance(half + 10);
  await handle.close();
  t.equal(await checksum.digest(bytes.length), createHash('sha256').update(bytes).digest('hex'));
  checksum.dispose();

  const git = createPrefixChecksum(path, 'git-sha1', bytes.length);
  t.equal(
    await git.digest(bytes.length),
    createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex'),
    'git blob sha1 with its header',
  );
});
