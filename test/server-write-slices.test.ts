// The slicer of socket writes (issue 26): at most a batch of writes a turn, the rest handed back in later turns, first
// in first out, so that a feed event for thousands of watchers lets other requests run between batches. Turns are run
// by hand here (an injected `later`), so every step is seen.
import t from 'tap';
import { createWriteSlicer, type SlicedWriter, type WriteSlicer } from '../src/server/write-slices.js';

/** A slicer of `batch` whose turns run only when the test says so. */
function manualSlicer(batch: number): { slicer: WriteSlicer; turn: () => boolean; errors: unknown[] } {
  const pending: (() => void)[] = [];
  const errors: unknown[] = [];
  const slicer = createWriteSlicer({ batch, later: (fn) => pending.push(fn), onError: (error) => errors.push(error) });
  return {
    slicer,
    errors,
    /** Runs the turns scheduled so far; false when none was. */
    turn() {
      const now = pending.splice(0);
      for (const fn of now) fn();
      return now.length > 0;
    },
  };
}

/** A writer as a stream uses the slicer: it writes now when it may, else queues, and queues behind its own waiting. */
function writer(slicer: WriteSlicer, log: string[], name: string): SlicedWriter & { send(frame?: string): void } {
  let waiting = 0;
  const self = {
    send(frame?: string) {
      if (waiting > 0 || !slicer.take()) {
        waiting += 1;
        slicer.defer(self, frame);
        return;
      }
      log.push(`${name}:${frame ?? 'end'}`);
    },
    writeSliced(frame: string | undefined) {
      waiting -= 1;
      log.push(`${name}:${frame ?? 'end'}`);
    },
  };
  return self;
}

t.test('a frame past the batch goes out in later turns, every writer once, in order', async (t) => {
  const { slicer, turn } = manualSlicer(3);
  const log: string[] = [];
  const writers = Array.from({ length: 8 }, (_, i) => writer(slicer, log, `w${i}`));
  for (const w of writers) w.send('A');
  t.strictSame(log, ['w0:A', 'w1:A', 'w2:A'], 'the first batch at once');
  turn();
  t.strictSame(log.slice(3), ['w3:A', 'w4:A', 'w5:A'], 'the next batch in the next turn');
  turn();
  t.strictSame(log.slice(6), ['w6:A', 'w7:A'], 'then the rest');
  turn();
  t.notOk(turn(), 'nothing scheduled once the queue is empty and a turn wrote nothing');
  writers[0]?.send('B');
  t.equal(log.at(-1), 'w0:B', 'a new turn has a new batch');
});

t.test('a frame arriving while the one before is sliced queues behind it for every writer', async (t) => {
  const { slicer, turn } = manualSlicer(3);
  const log: string[] = [];
  const writers = Array.from({ length: 7 }, (_, i) => writer(slicer, log, `w${i}`));
  for (const w of writers) w.send('A');
  turn(); // A reached w0..w5; w6 still waits for it
  for (const w of writers) w.send('B'); // B arrives mid-slice, past the turn's batch
  writers[6]?.send(); // and w6 ends after its B
  while (turn());
  for (const [i] of writers.entries()) {
    const mine = log.filter((line) => line.startsWith(`w${i}:`)).map((line) => line.split(':')[1]);
    t.strictSame(mine, i === 6 ? ['A', 'B', 'end'] : ['A', 'B'], `w${i} got A then B, each once`);
  }
  t.equal(log.indexOf('w6:A') < log.indexOf('w0:B'), true, 'first in, first out');
});

t.test('a writer that has frames waiting queues its next ones even when the batch has room', async (t) => {
  const { slicer, turn } = manualSlicer(2);
  const log: string[] = [];
  const [a, b, c] = Array.from({ length: 3 }, (_, i) => writer(slicer, log, `w${i}`));
  a?.send('1');
  b?.send('1');
  c?.send('1'); // waits
  turn(); // c:1 goes, with room for one more in this turn
  c?.send('2'); // c has nothing waiting now: it may write at once
  a?.send('2'); // the batch is full: waits
  turn();
  t.strictSame(log, ['w0:1', 'w1:1', 'w2:1', 'w2:2', 'w0:2']);
});

t.test('a writer that throws when handed its frame is reported; the others go on', async (t) => {
  const { slicer, turn, errors } = manualSlicer(1);
  const log: string[] = [];
  const ok = writer(slicer, log, 'ok');
  const broken: SlicedWriter = {
    writeSliced() {
      throw new Error('broken socket');
    },
  };
  ok.send('x');
  slicer.defer(broken, 'y');
  ok.send('z');
  while (turn());
  t.strictSame(log, ['ok:x', 'ok:z']);
  t.match(errors, [{ message: 'broken socket' }]);
});

t.test(
  'an end waits in a later turn for every frame queued until its turn ended, then goes out in slices',
  async (t) => {
    const { slicer, turn } = manualSlicer(3);
    const log: string[] = [];
    // A load's end as sse-stream.ts sends it: the last frame, then the end, always deferred.
    const endingWriter = (name: string): SlicedWriter & { finish(frame: string): void } => {
      let waiting = 0;
      const self = {
        finish(frame: string) {
          if (waiting > 0 || !slicer.take()) {
            waiting += 1;
            slicer.defer(self, frame);
          } else log.push(`${name}:${frame}`);
          waiting += 1;
          slicer.defer(self, undefined);
        },
        writeSliced(frame: string | undefined) {
          waiting -= 1;
          log.push(`${name}:${frame ?? 'end'}`);
        },
      };
      return self;
    };
    const writers = Array.from({ length: 7 }, (_, i) => endingWriter(`w${i}`));
    for (const w of writers) w.finish('ready');
    t.strictSame(log, ['w0:ready', 'w1:ready', 'w2:ready'], 'the first batch of frames at once, no end in this turn');
    turn();
    t.strictSame(log.slice(3), ['w3:ready', 'w4:ready', 'w5:ready'], 'the frames that wait before any end');
    const late = writer(slicer, log, 'late');
    late.send('next'); // queued after the ends were asked for, in a later turn: the ends do not wait for it
    turn();
    t.strictSame(log.slice(6), ['w6:ready', 'w0:end', 'w1:end'], 'the last frame, then the ends, in the batch');
    while (turn());
    t.strictSame(
      log.slice(9),
      ['w2:end', 'w3:end', 'w4:end', 'w5:end', 'w6:end', 'late:next'],
      'every end once, in the order asked, before a frame queued after their turn',
    );
  },
);

t.test('ends asked for while no frame waits go out once the turn has run, before any later turn', async (t) => {
  const { slicer, turn } = manualSlicer(3);
  const log: string[] = [];
  const writers = Array.from({ length: 2 }, (_, i) => writer(slicer, log, `w${i}`));
  for (const w of writers) {
    w.send('ready');
    slicer.defer(w, undefined);
  }
  t.strictSame(log, ['w0:ready', 'w1:ready'], 'not in the code of the turn itself');
  await new Promise<void>((resolve) => process.nextTick(resolve));
  t.strictSame(log, ['w0:ready', 'w1:ready', 'w0:end', 'w1:end'], 'right after it, with no turn run');
  turn();
  t.notOk(turn(), 'nothing left for a later turn');
});
