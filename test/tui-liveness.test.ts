// Issue 13, "Liveness you can trust" and item 7: the dashboard on a headless terminal (as in test/tui-dashboard.test.ts)
// says what it cannot know from a quiet screen: a port Node's fetch refuses, a server that died under a ready session.
// Assertions read the screen's text, as a person would.
import t from 'tap';
import { startDashboard } from '../src/tui/dashboard.js';
import { cellText, terminal } from './helpers/dashboard.js';
import { until } from './helpers/until.js';

const MODEL = 'modeldeck/tiny-chat';

/** Cell text with its line breaks (wrapping) folded into spaces, for matching sentences. */
const flat = (text: string): string => text.replace(/\s+/g, ' ');

t.test(
  'a session on a port fetch refuses (6000) ends in an error that says so and why, and does not retry',
  async (t) => {
    const { input, output } = terminal();
    const dash = startDashboard({
      sessions: [{ server: 'http://127.0.0.1:6000', model: MODEL }],
      input,
      output,
      // Short waits, so that a reconnect loop would show within the test.
      backoff: { initialMs: 50, maxMs: 100 },
    });
    t.teardown(() => dash.shutdown());
    const text = await until('the session in error', () => {
      const s = dash.sessions()[0];
      return s?.phase === 'error' ? flat(cellText(dash, 0, 1)) : undefined;
    });
    t.match(text, '✗ error', 'the session is in error, not reconnecting');
    t.match(text, "the port is refused by Node's HTTP client", 'it says the port is refused by the HTTP client');
    t.match(text, 'run the server on another port', 'and what to do');
    await new Promise((r) => setTimeout(r, 1000));
    const s = dash.sessions()[0];
    t.equal(s?.phase, 'error', 'still in error a second later');
    t.equal(s?.attempt, 1, 'one attempt: no reconnect loop');
    t.equal(s?.retryAt, null, 'no retry planned');
  },
);
