// The configured sessions are on screen before any of them is dialled: the first frame of a dashboard started with a
// config shows every session (at a hundred, dialling them one by one first kept the screen blank), and only then do
// their connections open.
import t from 'tap';
import { startDashboard } from '../src/tui/dashboard.js';
import { closedPort } from './helpers/closed-port.js';
import { terminal } from './helpers/dashboard.js';
import { until } from './helpers/until.js';

t.test('the first frame shows all configured sessions, before the first request goes out', async (t) => {
  const port = await closedPort();
  const { input, output } = terminal({ cols: 200, rows: 60 });
  const requests: number[] = [];
  const firstFrames: { sessionsShown: boolean; requestsBefore: number }[] = [];
  const write = output.write.bind(output);
  output.write = ((chunk: string | Buffer, ...rest: never[]) => {
    const text = typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    // A tag is followed by its model, with the space between drawn as a cursor move.
    if (firstFrames.length === 0 && /s\d+(?!\d)/.test(text))
      firstFrames.push({ sessionsShown: /s40(?!\d)/.test(text), requestsBefore: requests.length });
    return write(chunk, ...rest);
  }) as typeof output.write;
  const countingFetch: typeof fetch = (url, init) => {
    requests.push(Date.now());
    return fetch(url, init);
  };
  const dash = startDashboard({
    sessions: Array.from({ length: 40 }, (_, i) => ({ server: `http://127.0.0.1:${port}`, model: `org/m${i + 1}` })),
    input,
    output,
    fetch: countingFetch,
  });
  t.teardown(() => dash.shutdown());
  await until('a frame with a session on it', () => firstFrames.length > 0, 10_000);
  t.same(firstFrames[0], { sessionsShown: true, requestsBefore: 0 }, 'all 40 on the first frame, nothing dialled yet');
  await until('the sessions dialled', () => requests.length >= 40, 10_000);
  t.equal(dash.sessions().length, 40);
});
