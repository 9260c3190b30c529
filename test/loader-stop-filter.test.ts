import t from 'tap';
import {
  createIncrementalDecoder,
  createStopFilter,
  createTextBatcher,
  WEIGHTS_BLOCK_BYTES,
  weightItems,
} from '../src/server/text-tools.js';

/** Feeds `pieces` through a filter and returns what it emitted per push, the flushed rest and whether it stopped. */
function feed(stops: string[], pieces: string[]): { emitted: string[]; rest: string; stopped: boolean } {
  const filter = createStopFilter(stops);
  const emitted = pieces.map((piece) => filter.push(piece));
  return { emitted, rest: filter.flush(), stopped: filter.stopped };
}

t.test('stop strings', async (t) => {
  t.same(
    feed([], ['a', 'b']),
    { emitted: ['a', 'b'], rest: '', stopped: false },
    'no stops: everything passes at once',
  );
  t.same(feed(['END'], ['hello ', 'world']), { emitted: ['hello ', 'world'], rest: '', stopped: false });
  t.same(
    feed(['END'], ['abc END def']),
    { emitted: ['abc '], rest: '', stopped: true },
    'cut before the stop, which is dropped',
  );
  t.same(
    feed(['END'], ['abc E', 'N', 'D more']),
    { emitted: ['abc ', '', ''], rest: '', stopped: true },
    'a stop split over pieces',
  );
  t.same(
    feed(['END'], ['abc E', 'NOUGH']),
    { emitted: ['abc ', 'ENOUGH'], rest: '', stopped: false },
    'a false start is released',
  );
  t.same(
    feed(['END'], ['abc EN']),
    { emitted: ['abc '], rest: 'EN', stopped: false },
    'held text is flushed at the end',
  );
  t.same(
    feed(['\n\n', 'User:'], ['Hi.\nUs', 'er: x']),
    { emitted: ['Hi.\n', ''], rest: '', stopped: true },
    'the earliest stop wins',
  );
  t.same(
    feed(['c', 'abc'], ['xabc']),
    { emitted: ['x'], rest: '', stopped: true },
    'earliest position, not first listed',
  );
  t.same(feed(['END'], ['END', 'more']), { emitted: ['', ''], rest: '', stopped: true }, 'nothing after a stop');
  t.same(feed([''], ['abc']), { emitted: ['abc'], rest: '', stopped: false }, 'an empty stop string is ignored');
});

t.test('weights items: 1 MiB blocks per file plus one session', async (t) => {
  t.equal(weightItems([]), 1);
  t.equal(weightItems([1]), 2);
  t.equal(weightItems([WEIGHTS_BLOCK_BYTES]), 2);
  t.equal(weightItems([WEIGHTS_BLOCK_BYTES + 1]), 3);
  t.equal(weightItems([10, 3 * WEIGHTS_BLOCK_BYTES]), 5, 'each file rounds up on its own');
});

t.test('text batching: at most one message per interval, nothing held past it', async (t) => {
  let clock = 0;
  const posted: string[] = [];
  const batcher = createTextBatcher(
    (text) => posted.push(text),
    1,
    () => clock,
  );
  batcher.push('a');
  t.same(posted, ['a'], 'the first text goes out at once');
  clock = 0.2;
  batcher.push('b');
  clock = 0.5;
  batcher.push('c');
  batcher.push('');
  t.same(posted, ['a'], 'text within the interval is held');
  clock = 1.0;
  batcher.push('d');
  t.same(posted, ['a', 'bcd'], 'the next text after the interval takes what was held with it');
  clock = 5;
  batcher.push('e');
  t.same(posted, ['a', 'bcd', 'e'], 'tokens further apart than the interval each go alone');
  clock = 5.1;
  batcher.push('f');
  batcher.flush();
  t.same(posted, ['a', 'bcd', 'e', 'f'], 'flush posts what is held');
  batcher.flush();
  t.same(posted, ['a', 'bcd', 'e', 'f'], 'flush with nothing held posts nothing');
});

t.test('text batching: a held piece is posted by its timer when no token follows', async (t) => {
  const posted: string[] = [];
  const batcher = createTextBatcher((text) => posted.push(text), 20);
  batcher.push('a');
  batcher.push('b');
  t.same(posted, ['a']);
  await new Promise((resolve) => setTimeout(resolve, 60));
  t.same(posted, ['a', 'b'], 'the timer flushed it');
});

t.test('text batching, lazy: the text is produced only when a message is due, once for what came since', async (t) => {
  let clock = 0;
  const posted: string[] = [];
  const produced: string[] = [];
  const batcher = createTextBatcher(
    (text) => posted.push(text),
    1,
    () => clock,
  );
  const source = (text: string) => () => {
    produced.push(text);
    return text;
  };
  batcher.pushLazy(source('a'));
  t.same(posted, ['a'], 'the first token is produced and posted at once');
  clock = 0.3;
  batcher.pushLazy(source('ab-not-used'));
  clock = 0.6;
  batcher.pushLazy(source('bc'));
  t.same(produced, ['a'], 'nothing is produced within the interval');
  clock = 1.2;
  batcher.pushLazy(source('bcd'));
  t.same(produced, ['a', 'bcd'], 'when due, only the latest producer runs');
  t.same(posted, ['a', 'bcd']);
  clock = 2.5;
  batcher.pushLazy(source(''));
  t.same(produced.at(-1), '', 'due again: produced');
  t.same(posted, ['a', 'bcd'], 'a producer with nothing ready yet (half a character) posts nothing');
  clock = 2.6;
  batcher.pushLazy(source('e'));
  t.same(posted, ['a', 'bcd', 'e'], 'and the next one is due at once, since nothing was posted');
});

t.test('the incremental decoder emits each new piece once and holds a half character back', async (t) => {
  // A toy tokenizer: token 1 is "a", 2 is " b", and 3 then 4 are the two halves of "é" (3 alone decodes to U+FFFD).
  const decodeIds = (ids: bigint[]): string => {
    let text = '';
    for (let i = 0; i < ids.length; i += 1) {
      const id = ids[i];
      if (id === 1n) text += 'a';
      else if (id === 2n) text += ' b';
      else if (id === 3n) text += ids[i + 1] === 4n ? 'é' : '\uFFFD';
    }
    return text;
  };
  const decoder = createIncrementalDecoder(decodeIds);
  const ids: bigint[] = [];
  const out: string[] = [];
  for (const id of [1n, 2n, 3n, 4n, 1n]) {
    ids.push(id);
    out.push(decoder.push(ids));
  }
  t.strictSame(out, ['a', ' b', '', 'é', 'a']);
  t.equal(out.join(''), decodeIds(ids), 'the pieces add up to the whole text');
});
