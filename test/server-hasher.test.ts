// The checksum thread: digests equal node:crypto's for interleaved downloads, moved chunks leave this thread (and come
// back once hashed), copied ones stay usable.
import { createHash, randomBytes } from 'node:crypto';
import t from 'tap';
import { createHasher } from '../src/server/fetch/hasher.js';

t.test('interleaved streams hash to what node:crypto computes, prefix included', async (t) => {
  const chunks = [randomBytes(3 * 1024 * 1024), randomBytes(17), randomBytes(1024 * 1024 + 5)];
  const sha = createHasher('sha256');
  const git = createHasher('sha1', `blob ${chunks.reduce((n, c) => n + c.length, 0)}\0`);
  const want256 = createHash('sha256');
  const wantGit = createHash('sha1').update(`blob ${chunks.reduce((n, c) => n + c.length, 0)}\0`);
  for (const chunk of chunks) {
    want256.update(chunk);
    wantGit.update(chunk);
    await Promise.all([sha.update(Buffer.from(chunk)), git.update(new Uint8Array(chunk))]);
  }
  t.equal(await sha.digest(), want256.digest('hex'));
  t.equal(await git.digest(), wantGit.digest('hex'));
  await t.rejects(sha.update(Buffer.alloc(1)), /finished/, 'a finished hash takes no more bytes');
});

t.test('a moved chunk is detached here; a copied one, or a view of a larger buffer, is not', async (t) => {
  const hasher = createHasher('sha256');
  const owned = new Uint8Array(new ArrayBuffer(1 << 20)).fill(7);
  const shared = new Uint8Array(new ArrayBuffer(1 << 20), 16, 1024).fill(9);
  const kept = new Uint8Array(64).fill(3);
  const back = hasher.update(owned, true);
  t.equal(owned.byteLength, 0, 'the whole buffer was transferred');
  const given = await back;
  t.equal(given?.byteLength, 1 << 20, 'and given back once hashed');
  t.ok(
    given?.every((byte) => byte === 7),
    'with its bytes',
  );
  t.equal(await hasher.update(shared, true), undefined, 'a copied chunk is not given back');
  await hasher.update(kept);
  t.equal(shared.byteLength, 1024, 'a view of part of a buffer is copied');
  t.equal(kept[0], 3, 'a chunk not moved stays as it was');
  const want = createHash('sha256')
    .update(Buffer.alloc(1 << 20, 7))
    .update(Buffer.alloc(1024, 9))
    .update(Buffer.alloc(64, 3))
    .digest('hex');
  t.equal(await hasher.digest(), want);
});

t.test('a dropped hash frees its stream; others go on', async (t) => {
  const dropped = createHasher('sha256');
  const other = createHasher('sha256');
  await dropped.update(Buffer.from('abc'));
  dropped.dispose();
  dropped.dispose();
  await t.rejects(dropped.digest(), /finished/);
  await other.update(Buffer.from('abc'));
  t.equal(await other.digest(), createHash('sha256').update('abc').digest('hex'));
});
