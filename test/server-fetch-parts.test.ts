// The pure pieces of the downloader: byte spans, the fair share of connections, the slow-part watch; and the journal
// of a partial file, believed only when it agrees with the file.
import { mkdir, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import {
  currentBoot,
  journalPath,
  partialDataPath,
  readJournal,
  writeJournal,
} from '../src/server/fetch/blob-journal.js';
import { addSpan, holes, parseSpans, prefixEnd, spanBytes, type ByteSpan } from '../src/server/fetch/byte-spans.js';
import { createFairShare, type Grant } from '../src/server/fetch/fair-share.js';
import { createPartRates } from '../src/server/fetch/part-rates.js';

t.test('spans merge, measure, and name their holes and prefix', async (t) => {
  let spans: ByteSpan[] = [];
  spans = addSpan(spans, 10, 20);
  spans = addSpan(spans, 30, 40);
  t.same(spans, [
    [10, 20],
    [30, 40],
  ]);
  t.same(addSpan(spans, 20, 30), [[10, 40]], 'adjacent spans merge');
  t.same(addSpan(spans, 15, 35), [[10, 40]], 'overlapping ones too');
  t.same(addSpan(spans, 0, 5), [
    [0, 5],
    [10, 20],
    [30, 40],
  ]);
  t.same(addSpan(spans, 5, 5), spans, 'an empty span adds nothing');
  t.equal(spanBytes(spans), 20);
  t.equal(prefixEnd(spans), 0, 'no prefix without byte 0');
  t.equal(prefixEnd(addSpan(spans, 0, 10)), 20);
  t.same(holes(spans, 50), [
    [0, 10],
    [20, 30],
    [40, 50],
  ]);
  t.same(holes([[0, 50]], 50), [], 'a whole file has no holes');
  t.same(holes([], 7), [[0, 7]]);
});

t.test('spans are parsed strictly: sorted, disjoint, apart, whole numbers within the size', async (t) => {
  t.same(
    parseSpans(
      [
        [0, 5],
        [6, 9],
      ],
      10,
    ),
    [
      [0, 5],
      [6, 9],
    ],
  );
  t.same(parseSpans([], 10), []);
  for (const bad of [
    'x',
    [[0, 5, 6]],
    [[5, 0]],
    [
      [0, 5],
      [5, 9],
    ],
    [
      [6, 9],
      [0, 5],
    ],
    [[0, 11]],
    [[0.5, 2]],
    [[-1, 2]],
    [['0', 2]],
  ]) {
    t.equal(parseSpans(bad, 10), undefined, JSON.stringify(bad));
  }
});

/** Acquires for `path`, recording the grant and whether it was asked to yield. */
function taker(share: ReturnType<typeof createFairShare>) {
  const grants: { path: string; grant: Grant; preempted: boolean }[] = [];
  const take = async (...path: string[]): Promise<void> => {
    const entry = { path: path.join('/'), grant: undefined as unknown as Grant, preempted: false };
    entry.grant = await share.acquire(path, undefined, () => (entry.preempted = true));
    grants.push(entry);
  };
  return { grants, take };
}

t.test('a free connection goes to the flow holding fewest, level by level', async (t) => {
  const share = createFairShare(2);
  const { grants, take } = taker(share);
  await Promise.all([take('a', 'big'), take('a', 'big')]);
  t.equal(share.held, 2);
  // a/big waits for a third; then b and a/small ask: b holds none, so it is first; within a, small before big.
  const waiting = [take('a', 'big'), take('b', 'x'), take('a', 'small')];
  await new Promise((resolve) => setImmediate(resolve));
  t.same(
    grants.map((g) => g.preempted),
    [false, true],
    'b waits with 0 while a holds 2: a holder of a is asked to yield (the newest)',
  );
  grants[1]?.grant.release();
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(grants[2]?.path, 'b/x', 'the connection given back goes to b');
  grants[0]?.grant.release();
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(grants[3]?.path, 'a/big', 'then back to a, whose files both hold none: the longest waiting first');
  grants[2]?.grant.release();
  await Promise.all(waiting);
  t.equal(grants[4]?.path, 'a/small', 'b now holds none but waits for nothing: the next goes to a/small');
  for (const g of grants.slice(3)) g.grant.release();
  t.equal(share.held, 0, 'all given back');
});

/** Lets the share's grants and preemption calls run. */
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

t.test('the load with fewest bytes left weighs three; a flow waiting for one connection cuts one', async (t) => {
  const share = createFairShare(8);
  const { grants, take } = taker(share);
  const forgetBig = share.weigh('big', () => 90e6);
  share.weigh('small', () => 10e6);
  await Promise.all(Array.from({ length: 8 }, () => take('big', 'weights')));
  const smallWaits = Array.from({ length: 8 }, () => take('small', 'weights'));
  await turn();
  const cut = grants.filter((g) => g.preempted);
  t.equal(cut.length, 6, "three shares to one of eight: six of the big load's connections are asked to yield");
  for (const g of cut) g.grant.release();
  await turn();
  t.equal(grants.filter((g) => g.path === 'small/weights').length, 6, 'and go to the small load');
  t.equal(share.held, 8);
  // The big load re-asks for what it gave back; a connection the small load ends goes back to the small load.
  const bigWaits = [take('big', 'weights'), take('big', 'weights')];
  grants.find((g) => g.path === 'small/weights')?.grant.release();
  await turn();
  t.equal(grants.at(-1)?.path, 'small/weights', 'the small load holds five: under its share, so it gets the next');
  t.notOk(
    grants.some((g) => g.path === 'big/weights' && g.preempted && !cut.includes(g)),
    'the big load keeps its two: it never stops',
  );

  // Once the loads weigh the same, the share is even again: a free connection goes to the big load (two against six).
  forgetBig();
  share.weigh('big', () => 1);
  grants
    .filter((g) => g.path === 'small/weights')
    .at(-1)
    ?.grant.release();
  await turn();
  t.equal(grants.at(-1)?.path, 'big/weights', 'the big load now has fewest bytes left: it gets the free one');
  for (const g of grants) g.grant.release();
  await Promise.all([...smallWaits, ...bigWaits]);
  for (const g of grants) g.grant.release();
  t.equal(share.held, 0, 'every wait granted and given back');

  const single = createFairShare(8);
  const singles = taker(single);
  await Promise.all(Array.from({ length: 8 }, () => singles.take('a', 'weights')));
  const config = singles.take('b', 'config.json');
  await turn();
  t.equal(singles.grants.filter((g) => g.preempted).length, 1, "b waits for one connection: one of a's is cut");
  singles.grants.find((g) => g.preempted)?.grant.release();
  await config;
  t.equal(singles.grants.at(-1)?.path, 'b/config.json');
  for (const g of singles.grants) g.grant.release();
  t.equal(single.held, 0);
});

t.test('no yield between flows within one connection of each other; none without a way to ask', async (t) => {
  const share = createFairShare(3);
  const { grants, take } = taker(share);
  await Promise.all([take('a', 'f'), take('a', 'f'), take('b', 'f')]);
  const more = take('b', 'f');
  await new Promise((resolve) => setImmediate(resolve));
  t.notOk(
    grants.some((g) => g.preempted),
    'b holds 1 and a 2: even enough, nobody yields',
  );
  grants[0]?.grant.release();
  await more;
  t.equal(grants[3]?.path, 'b/f');

  const quiet = createFairShare(1);
  const held = await quiet.acquire(['a', 'f']);
  const controller = new AbortController();
  const waiting = quiet.acquire(['b', 'f'], controller.signal);
  controller.abort(new Error('gone'));
  await t.rejects(waiting, /gone/, 'an abort while waiting rejects with its reason');
  held.release();
  held.release();
  t.equal(quiet.held, 0, 'a release is counted once');
});

t.test('the slow watch names a part far below its siblings for long enough, and only it', async (t) => {
  const slow = createPartRates<string>({ factor: 4, afterMs: 1000 });
  const received = { a: 0, b: 0, c: 0, d: 0 };
  const look = (now: number): string[] =>
    slow.observe(
      now,
      Object.entries(received).map(([key, bytes]) => ({ key, received: bytes })),
    );
  t.same(look(0), [], 'the first look only records');
  const named: string[][] = [];
  for (let now = 250; now <= 2000; now += 250) {
    received.a += 250_000;
    received.b += 240_000;
    received.c += 260_000;
    received.d += 20_000;
    named.push(look(now));
  }
  t.same(named.flat(), ['d', 'd'], 'd, at 1/12 of the others, each time it stayed slow for a second');
  t.equal(
    named.findIndex((n) => n.length > 0),
    3,
    'not before a second of it',
  );
  // The same view serves the tail sharing: each part's smoothed rate and the file's best, in bytes per millisecond.
  t.equal(slow.rate('a'), 1000, "a's rate");
  t.equal(slow.rate('d'), 80, "d's rate");
  t.equal(slow.rate('nope'), undefined, 'a part never seen has no rate');
  t.equal(slow.best(), 1040, 'the best rate is the fastest part (c)');
  slow.observe(2250, [{ key: 'a', received: received.a + 250_000 }]);
  t.equal(slow.rate('c'), undefined, 'a part no longer in flight is forgotten');
  t.equal(slow.best(), 1040, 'the best rate stays once its part has ended');

  const even = createPartRates<string>({ factor: 4, afterMs: 100 });
  even.observe(0, [
    { key: 'x', received: 0 },
    { key: 'y', received: 0 },
  ]);
  t.same(
    even.observe(500, [
      { key: 'x', received: 1 },
      { key: 'y', received: 1_000_000 },
    ]),
    [],
    'two parts: no verdict',
  );
  const off = createPartRates<string>({ factor: 0, afterMs: 0 });
  off.observe(0, [
    { key: 'x', received: 0 },
    { key: 'y', received: 0 },
    { key: 'z', received: 0 },
  ]);
  t.same(
    off.observe(9, [
      { key: 'x', received: 0 },
      { key: 'y', received: 9e9 },
      { key: 'z', received: 9e9 },
    ]),
    [],
  );
});

t.test('a journal is believed only when it agrees with its blob and its data file', async (t) => {
  const dir = t.testdir();
  await mkdir(join(dir, 'blobs'));
  const blob = join(dir, 'blobs', 'abc');
  const state = { etag: 'abc', size: 100, written: [[0, 40] as const, [60, 80] as const], synced: [[0, 40] as const] };
  t.match(await readJournal(blob, 'abc', 100), { discarded: 'no journal' });
  await writeJournal(blob, state);
  t.match(await readJournal(blob, 'abc', 100), { discarded: 'the data file is missing' });
  await writeFile(partialDataPath(blob), Buffer.alloc(80));
  t.same(await readJournal(blob, 'abc', 100), { state }, 'believed: this boot, so every range written');
  t.match(await readJournal(blob, 'abd', 100), { discarded: /another blob/ }, 'a wrong etag');
  t.match(await readJournal(blob, 'abc', 101), { discarded: /file of 100 bytes/ }, 'a wrong size');
  await truncate(partialDataPath(blob), 70);
  t.match(
    await readJournal(blob, 'abc', 100),
    { discarded: /data file is 70 bytes, the journal says 80/ },
    'truncated',
  );
  await writeFile(journalPath(blob), '{"version": 1, "etag": "abc"');
  t.match(await readJournal(blob, 'abc', 100), { discarded: 'the journal is not JSON' }, 'torn');
  await writeFile(
    journalPath(blob),
    JSON.stringify({
      version: 1,
      boot: currentBoot(),
      ...state,
      written: [
        [0, 40],
        [30, 50],
      ],
    }),
  );
  t.match(await readJournal(blob, 'abc', 100), { discarded: 'the journal ranges are not valid' }, 'overlapping');
  // After a restart of the machine, only what was synced is believed: the page cache did not survive.
  await writeFile(journalPath(blob), JSON.stringify({ version: 1, boot: 'another boot', ...state }));
  t.same(await readJournal(blob, 'abc', 100), {
    state: { ...state, written: [[0, 40]], synced: [[0, 40]] },
  });
});
