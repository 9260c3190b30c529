// The line editor and the input history, pure: each edit a shell makes, the window that keeps the cursor in sight.
import t from 'tap';
import { editLine, lineAt, lineWindow, type LineAction, type LineEdit } from '../src/tui/line-edit.js';
import { EMPTY_HISTORY, HISTORY_LIMIT, remember, stopWalking, walk } from '../src/tui/input-history.js';

/** The line after each action in turn. */
const run = (line: LineEdit, ...actions: (LineAction['type'] | string)[]): LineEdit =>
  actions.reduce<LineEdit>((l, a) => {
    const known = [
      'backspace',
      'delete',
      'left',
      'right',
      'home',
      'end',
      'word-left',
      'word-right',
      'kill-start',
      'kill-end',
      'kill-word',
    ];
    return editLine(l, known.includes(a) ? ({ type: a } as LineAction) : { type: 'insert', text: a });
  }, line);

/** A line written with `|` where the cursor is. */
const at = (marked: string): LineEdit => {
  const i = [...marked].indexOf('|');
  return { text: marked.replace('|', ''), cursor: i };
};
const show = (line: LineEdit): string => {
  const chars = [...line.text];
  return [...chars.slice(0, line.cursor), '|', ...chars.slice(line.cursor)].join('');
};

t.test('lineAt puts the cursor at the end unless given one, clamped to the text', async (t) => {
  t.same(lineAt('abc'), { text: 'abc', cursor: 3 });
  t.same(lineAt('abc', 1), { text: 'abc', cursor: 1 });
  t.same(lineAt('abc', 9), { text: 'abc', cursor: 3 });
  t.same(lineAt('abc', -2), { text: 'abc', cursor: 0 });
  t.same(lineAt('a😀b'), { text: 'a😀b', cursor: 3 }, 'the cursor counts code points');
});

t.test('inserting, deleting either side and moving by character', async (t) => {
  t.equal(show(run(lineAt(''), 'h', 'i')), 'hi|');
  t.equal(show(run(at('hlo|'), 'left', 'left', 'e', 'l')), 'hel|lo', 'text goes in at the cursor');
  t.equal(show(run(at('hel|lo'), 'backspace')), 'he|lo', 'Backspace deletes before the cursor');
  t.equal(show(run(at('hel|lo'), 'delete')), 'hel|o', 'Delete deletes under it');
  t.equal(show(run(at('|ab'), 'backspace', 'left')), '|ab', 'nothing before the start');
  t.equal(show(run(at('ab|'), 'delete', 'right')), 'ab|', 'nothing past the end');
  t.equal(show(run(at('a|bc'), 'home')), '|abc');
  t.equal(show(run(at('a|bc'), 'end')), 'abc|');
  t.equal(show(run(at('ab|c'), 'left', 'right', 'right')), 'abc|');
});

t.test('deleting to either end and the word before the cursor, as a shell does', async (t) => {
  t.equal(show(run(at('one two| three'), 'kill-start')), '| three', 'Ctrl-U: to the start');
  t.equal(show(run(at('one two| three'), 'kill-end')), 'one two|', 'Ctrl-K: to the end');
  t.equal(show(run(at('one two| three'), 'kill-word')), 'one | three', 'Ctrl-W: the word before the cursor');
  t.equal(show(run(at('one two  |'), 'kill-word')), 'one |', 'and the spaces after it');
  t.equal(show(run(at('one tw|o'), 'kill-word')), 'one |o', 'from inside a word: its part before the cursor');
  t.equal(
    show(run(at('see http://127.0.0.1:8000/x|'), 'kill-word')),
    'see |',
    'a word ends at spaces only (a URL goes whole)',
  );
  t.equal(show(run(at('|one'), 'kill-word')), '|one', 'nothing before the start');
  t.equal(show(run(at('   |'), 'kill-word')), '|', 'only spaces: they go');
});

t.test('moving by word', async (t) => {
  t.equal(show(run(at('one two three|'), 'word-left')), 'one two |three');
  t.equal(show(run(at('one two three|'), 'word-left', 'word-left')), 'one |two three');
  t.equal(show(run(at('one two |three'), 'word-left')), 'one |two three', 'at a word start: the one before');
  t.equal(show(run(at('|one two three'), 'word-right')), 'one| two three');
  t.equal(show(run(at('one| two three'), 'word-right')), 'one two| three', 'over the spaces, then the word');
  t.equal(show(run(at('one two|'), 'word-right')), 'one two|');
  t.equal(show(run(at('|one'), 'word-left')), '|one');
});

t.test('no edit or move splits a surrogate pair', async (t) => {
  t.equal(show(run(at('a😀|b'), 'left')), 'a|😀b', 'Left steps over the whole emoji');
  t.equal(show(run(at('a😀|b'), 'backspace')), 'a|b', 'Backspace deletes it whole');
  t.equal(show(run(at('a|😀b'), 'delete')), 'a|b', 'so does Delete');
  t.equal(show(run(at('a|😀b'), 'right', 'x')), 'a😀x|b');
  t.equal(show(run(at('😀 👍|'), 'kill-word')), '😀 |');
  // A terminal may hand a pasted emoji over as its two halves, each one key.
  const pasted = run(at('a|b'), '\uD83D', '\uDE00');
  t.equal(show(pasted), 'a😀|b', 'two halves typed one after the other make one character, the cursor after it');
  t.equal(show(run(pasted, 'left', 'left')), '|a😀b');
});

t.test('the window keeps the cursor in sight, an ellipsis where the text is cut', async (t) => {
  /** What a field of `width` shows, `▮` for a cursor past the end and `[x]` for the character under it. */
  const field = (line: LineEdit, width: number): string => {
    const w = lineWindow(line, width);
    const text = `${w.cutStart ? '…' : ''}${w.before}${w.at === null ? '▮' : `[${w.at}]`}${w.after}${w.cutEnd ? '…' : ''}`;
    const cells = [...text.replace(/\[(.)\]/u, '$1')].length;
    t.ok(cells <= width, `${JSON.stringify(text)} fits ${width} cells`);
    return text;
  };
  t.equal(field(at('hello|'), 10), 'hello▮', 'short: all of it, the cursor after');
  t.equal(field(at('he|llo'), 10), 'he[l]lo');
  t.equal(field(at('abcdefghij|'), 10), '…cdefghij▮', 'typing at the end: the tail, cut at the start');
  t.equal(field(at('abcdefghi|'), 10), 'abcdefghi▮', 'one cell for the cursor: exactly full');
  t.equal(field(at('|abcdefghijklmnop'), 10), '[a]bcdefghi…', 'at the start: the head, cut at the end');
  const middle = field(at('abcdefghij|klmnopqrstuvwxyz'), 10);
  t.match(middle, /^….*\[k\].*…$/, 'in the middle: cut on both sides, the cursor in between');
  t.equal([...middle.replace(/\[(.)\]/u, '$1')].length, 10, 'using the whole field');
  // Every cursor position of a long line, in a small field: the cursor is always shown, on the right character.
  const text = 'the quick brown fox jumps over the lazy dog';
  for (let cursor = 0; cursor <= text.length; cursor++) {
    const w = lineWindow({ text, cursor }, 12);
    t.equal(w.at, cursor < text.length ? text[cursor] : null, `cursor ${cursor}: the character under it`);
    t.ok(text.slice(0, cursor).endsWith(w.before), `cursor ${cursor}: the text before it`);
    t.ok(text.slice(cursor + 1).startsWith(w.after), `cursor ${cursor}: the text after it`);
    const cells = (w.cutStart ? 1 : 0) + [...w.before].length + 1 + [...w.after].length + (w.cutEnd ? 1 : 0);
    t.equal(cells, 12, `cursor ${cursor}: the field is full`);
  }
  // Moving one step does not slide the text at each step: the window moves by half a field.
  const starts = new Set(
    Array.from({ length: text.length + 1 }, (_, cursor) => {
      const w = lineWindow({ text, cursor }, 12);
      return cursor - [...w.before].length;
    }),
  );
  t.ok(starts.size < text.length / 3, `a few window positions (${starts.size}), not one for each cursor`);
  t.same(lineWindow(at('abc|def'), 2), { cutStart: true, before: '', at: 'd', after: '', cutEnd: true }, 'tiny field');
});

t.test('the history keeps the messages sent, and Up / Down walk it, the draft kept', async (t) => {
  let h = remember(remember(remember(EMPTY_HISTORY, 'one'), 'two'), 'two');
  t.same(h.sent, ['one', 'two'], 'no two in a row the same');
  h = remember(h, 'one');
  t.same(h.sent, ['one', 'two', 'one'], 'an older message sent again is kept again');
  t.equal(walk(h, 'forward', 'draft'), undefined, 'Down while not walking: nothing');

  const up1 = walk(h, 'back', 'dra');
  t.equal(up1?.text, 'one', 'Up: the newest');
  const up2 = up1 && walk(up1.history, 'back', up1.text);
  t.equal(up2?.text, 'two');
  const up3 = up2 && walk(up2.history, 'back', up2.text);
  t.equal(up3?.text, 'one', 'the oldest');
  t.equal(up3 && walk(up3.history, 'back', up3.text), undefined, 'Up at the oldest: nothing');
  const down1 = up3 && walk(up3.history, 'forward', up3.text);
  t.equal(down1?.text, 'two');
  const down2 = down1 && walk(down1.history, 'forward', down1.text);
  const down3 = down2 && walk(down2.history, 'forward', down2.text);
  t.equal(down3?.text, 'dra', 'Down past the newest: the draft back');
  t.equal(down3?.history.at, null, 'and the walk is over');
  t.equal(down3 && walk(down3.history, 'forward', down3.text), undefined);

  const edited = up1 && stopWalking(up1.history);
  t.equal(edited?.at, null, 'editing the message shown ends the walk');
  t.equal(edited && walk(edited, 'back', 'one!')?.history.draft, 'one!', 'the next Up keeps the edited line');
  t.equal(walk(EMPTY_HISTORY, 'back', 'x'), undefined, 'nothing sent: Up does nothing');

  let long = EMPTY_HISTORY;
  for (let i = 0; i < HISTORY_LIMIT + 5; i++) long = remember(long, `m${i}`);
  t.equal(long.sent.length, HISTORY_LIMIT, 'bounded');
  t.equal(long.sent[0], 'm5', 'the oldest dropped');
  t.equal(long.sent.at(-1), `m${HISTORY_LIMIT + 4}`);
});
