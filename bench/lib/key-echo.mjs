// Key echo on the fake terminal the dashboard benchmarks draw to: a key typed into the focused session's input line,
// timed until the terminal shows it.

import { monoMs, sleep } from './common.mjs';

/** The probe keys, typed in turn: neither is a command, and both show on the input line. */
export const KEYS = /[~^]/;

/** How long a probe waits for its key to show before it counts it as never shown. */
export const MISSED_MS = 2000;

/**
 * Types one key into the focused session's input and resolves with the ms until the terminal shows it (NaN: not
 * within {@link MISSED_MS}). `term` is the benchmarks' fake terminal: `input` to type into, `watchers` told of
 * every write with its time.
 */
export async function keyEcho(term, char) {
  let echoed;
  const seen = new Promise((resolve) => {
    echoed = (text, at) => {
      if (KEYS.test(text)) resolve(at);
    };
  });
  term.watchers.add(echoed);
  const pressed = monoMs();
  term.input.write(char);
  const at = await Promise.race([seen, sleep(MISSED_MS).then(() => Number.NaN)]);
  term.watchers.delete(echoed);
  // Clear the line again so every probe changes the screen the same way.
  term.input.write('\x7f');
  await sleep(40);
  return at - pressed;
}
