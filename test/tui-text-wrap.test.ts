// Wrapping a text that grows at its end (a streaming reply) from where the last wrap left off gives what wrapping it
// whole gives, for every growth, width and break: spaces, runs of spaces, newlines, wide characters, long words.
import t from 'tap';
import { createWrapMemo, wrap } from '../src/tui/text-wrap.js';

/** A small deterministic generator (mulberry32), so a failure can be replayed. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** One text growing over 25 steps, as a streaming reply does: each step's text, the tail drawn after it and the width. */
type Growth = { readonly text: string; readonly tail: string; readonly width: number }[];

/**
 * `trials` growths from `seed`: pieces of every kind of break appended a few at a time, now and then the text replaced
 * (another reply under the same key) or the pane resized.
 */
function growths(seed: number, trials: number): Growth[] {
  const pieces = ['a', 'b', ' ', ' ', '\n', 'é', '😀', 'longerword', 'token '];
  const next = random(seed);
  const all: Growth[] = [];
  for (let trial = 0; trial < trials; trial++) {
    const width = 1 + Math.floor(next() * 14);
    const steps: Growth = [];
    let text = '';
    for (let step = 0; step < 25; step++) {
      const grow = Math.floor(next() * 4);
      for (let i = 0; i < grow; i++) text += pieces[Math.floor(next() * pieces.length)];
      if (next() < 0.03) text = 'other text';
      const w = next() < 0.05 ? width + 3 : width;
      const tail = next() < 0.5 ? '▍' : next() < 0.5 ? ' (stopped)' : '';
      steps.push({ text, tail, width: w });
    }
    all.push(steps);
  }
  return all;
}

t.test('the memo wraps a growing text as wrap does', async (t) => {
  let mismatches = 0;
  for (const growth of growths(26, 400)) {
    const memo = createWrapMemo(8);
    for (const { text, tail, width } of growth) {
      if (JSON.stringify(memo.wrap('k', text, tail, width)) !== JSON.stringify(wrap(text + tail, width))) mismatches++;
    }
  }
  t.equal(mismatches, 0);
});

t.test('keys are kept apart and the least recently used forgotten', async (t) => {
  const memo = createWrapMemo(2);
  t.same(memo.wrap('a', 'model: one two', '▍', 7), ['model:', 'one', 'two▍']);
  t.same(memo.wrap('b', 'you: hi', '', 7), ['you: hi']);
  t.same(memo.wrap('c', 'x', '', 7), ['x']);
  t.same(memo.wrap('a', 'model: one two three', '', 7), ['model:', 'one two', 'three'], 'a forgotten key wraps whole');
  t.same(memo.wrap('a', 'anything', '', 0), [], 'no width, no lines');
});

t.test('a text that did not change is not wrapped again: the same lines come back', async (t) => {
  const memo = createWrapMemo(4);
  const first = memo.wrap('a', 'model: one two three', '', 7);
  t.equal(memo.wrap('a', 'model: one two three', '', 7), first, 'the very array of the last call');
  t.not(memo.wrap('a', 'model: one two three', '▍', 7), first, 'another tail wraps again');
  t.same(memo.wrap('a', 'model: one two three', '▍', 7), ['model:', 'one two', 'three▍']);
  t.same(memo.wrap('a', 'model: one two three', '', 9), ['model:', 'one two', 'three'], 'another width too');
});

t.test(
  'wrapParts: the same lines, and every answer still reads its own lines after later wraps grew the text',
  async (t) => {
    let mismatches = 0;
    let stale = 0;
    const flat = (p: { head: readonly string[]; count: number; rest: readonly string[] }): string[] => [
      ...p.head.slice(0, p.count),
      ...p.rest,
    ];
    for (const growth of growths(7, 300)) {
      const memo = createWrapMemo(8);
      const answers: { parts: ReturnType<typeof memo.wrapParts>; lines: string[] }[] = [];
      for (const { text, tail, width } of growth) {
        const parts = memo.wrapParts('k', 'model: ', text, tail, width);
        const lines = wrap(`model: ${text}${tail}`, width);
        if (JSON.stringify(flat(parts)) !== JSON.stringify(lines)) mismatches++;
        answers.push({ parts, lines });
      }
      for (const a of answers) if (JSON.stringify(flat(a.parts)) !== JSON.stringify(a.lines)) stale++;
    }
    t.equal(mismatches, 0, 'each answer is the whole wrap');
    t.equal(stale, 0, 'and still is once the text grew further');
  },
);
