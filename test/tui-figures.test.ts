// Pure: figures that agree. Amounts spread over the time they were measured in, so that an average over the same
// samples is never above the chart's peak; rates only over windows of 100 ms and 4 tokens or more; a resumed
// download's bytes on disk said; charts only where they move.
import t from 'tap';
import { parseLoadEvent } from '../src/protocol/events.js';
import type { ChartSpec } from '../src/tui/server-view.js';
import { replyFigures } from '../src/tui/session-figures.js';
import { sessionLines } from '../src/tui/session-pane.js';
import { createSessionState, reduceSession, type SessionState } from '../src/tui/session-state.js';
import { addSpan, NO_THROUGHPUT, throughputPeak, throughputSeries, type Throughput } from '../src/tui/throughput.js';

const T0 = 1_700_000_000_000;

function loaded(samples: [at: number, current: number][], total: number, ready = true): SessionState {
  let s = createSessionState({ id: 's1', tag: 's1', server: 'http://h:1', model: 'org/m' });
  s = reduceSession(s, { type: 'connecting', at: T0, attempt: 1 });
  const event = (data: string, at: number): void => {
    const parsed = parseLoadEvent(data);
    if (!parsed.ok) throw new Error(parsed.error);
    s = reduceSession(s, { type: 'event', at, event: parsed.event });
  };
  for (const [at, current] of samples) {
    event(
      `{"status": "loading", "model": "org/m@main", "stage": "download", "progress": {"current": ${current}, "total": ${total}}}`,
      T0 + at,
    );
  }
  if (ready) event('{"status": "ready", "model": "org/m@main", "cached": false}', T0 + (samples.at(-1)?.[0] ?? 0) + 50);
  return s;
}

const text = (s: SessionState, now: number, onChart?: (c: ChartSpec) => void): string =>
  sessionLines(s, {
    width: 80,
    height: 24,
    now,
    focused: true,
    composing: false,
    input: '',
    ...(onChart ? { onChart } : {}),
  })
    .map((l) => l.map((x) => x.text).join(''))
    .join('\n');

t.test(
  'a download of 0.6 s across two seconds: its average is its rate, and the chart’s peak is no lower',
  async (t) => {
    // 1.11 MB from 0.7 s to 1.3 s into a second: half in each second.
    const s = loaded(
      [
        [700, 0],
        [900, 370_000],
        [1100, 740_000],
        [1300, 1_110_000],
      ],
      1_110_000,
    );
    t.match(text(s, T0 + 2000), '✓ ready in 0.7s · 1.11 MB at 1.85 MB/s');
    const series = throughputSeries(s.downloadRate, T0 + 2000, 3);
    const peak = throughputPeak(s.downloadRate, T0 + 2000, 3);
    t.ok(Math.abs((series[0] ?? 0) - 1_850_000) < 1, `each second reads at its real rate (${series.join(', ')})`);
    t.ok(peak >= 1_850_000 - 1, `the peak (${peak}) is not below the average`);
  },
);

t.test('over random samples, the average over them never passes the chart’s peak', async (t) => {
  let seed = 7;
  const random = (): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  for (let run = 0; run < 200; run++) {
    let series: Throughput = NO_THROUGHPUT;
    let at = T0 + Math.floor(random() * 1000);
    const start = at;
    let bytes = 0;
    for (let i = 0; i < 2 + Math.floor(random() * 30); i++) {
      const dt = 20 + Math.floor(random() * 900);
      const amount = Math.floor(random() * 5_000_000);
      series = addSpan(series, at, at + dt, amount);
      at += dt;
      bytes += amount;
    }
    const span = at - start;
    const length = Math.ceil(span / 1000) + 3;
    const peak = throughputPeak(series, at + 1000, length);
    if (span >= 100) t.ok(peak + 1e-6 >= (bytes * 1000) / span, `run ${run}: peak ${peak} ≥ average`);
  }
});

t.test('a resumed download says what was on disk, and no rate over a window too short', async (t) => {
  const resumed = loaded(
    [
      [0, 54_000_000],
      [4000, 100_000_000],
    ],
    100_000_000,
  );
  t.match(text(resumed, T0 + 5000), /✓ ready in 4\.0s · 54\.0 MB on disk \+ 46\.0 MB fetched at 11\.5 MB\/s/);
  const running = loaded(
    [
      [0, 54_000_000],
      [1000, 60_000_000],
    ],
    100_000_000,
    false,
  );
  t.match(text(running, T0 + 1100), /download 60\.0 MB \/ 100 MB · 6\.00 MB\/s · ETA [\d.]+s · 54\.0 MB were on disk/);
  const fast = loaded(
    [
      [0, 0],
      [40, 1_000_000],
    ],
    1_000_000,
  );
  t.match(text(fast, T0 + 1000), /✓ ready in 0\.1s · 1\.00 MB\n/, 'no rate over 40 ms');
});

t.test('a reply’s tokens/s: only over 100 ms and 4 tokens', async (t) => {
  const base = { sentAt: 0, firstAt: 100, lastAt: 101, endedAt: 101, pieces: 18, usage: { prompt: 5, completion: 18 } };
  t.same(replyFigures(base), ['ttft 100ms', '5 in', '18 out'], '18 tokens in 1 ms: no rate');
  t.same(
    replyFigures({ ...base, endedAt: 600, usage: { prompt: 5, completion: 4 } }),
    ['ttft 100ms', '5 in', '4 out'],
    '3 tokens after the first: no rate',
  );
  t.same(replyFigures({ ...base, endedAt: 600 }), ['ttft 100ms', '34.0 tok/s', '5 in', '18 out']);
  t.same(replyFigures({ ...base, endedAt: 600, usage: null }), ['ttft 100ms', '≈34.0 tok/s', '≈18 out']);
});

t.test('the tokens chart counts the server’s tokens, so its peak is not below the reply’s rate', async (t) => {
  let s = loaded([[0, 0]], 0);
  s = reduceSession(s, { type: 'chat-sent', at: T0 + 1000, text: 'hi' });
  // A fast model: 40 tokens in 4 pieces over 300 ms.
  for (const [i, piece] of ['a ', 'b ', 'c ', 'd'].entries()) {
    s = reduceSession(s, { type: 'chat-delta', at: T0 + 1100 + i * 100, text: piece });
  }
  s = reduceSession(s, { type: 'chat-done', at: T0 + 1400, usage: { prompt: 3, completion: 40 } });
  const figures = replyFigures(
    s.transcript.at(-1)?.metrics ?? { sentAt: 0, firstAt: null, endedAt: null, pieces: 0, usage: null },
  );
  t.same(figures, ['ttft 100ms', '130.0 tok/s', '3 in', '40 out']);
  const peak = throughputPeak(s.tokenRate, T0 + 2000, 10);
  t.ok(peak >= 130, `the chart's peak (${peak.toFixed(1)}) is not below 130 tok/s`);
  const charts: ChartSpec[] = [];
  text(s, T0 + 2000, (c) => charts.push(c));
  t.match(charts[0]?.series[0]?.title, /^tokens\/s \S+ · peak \S+$/, 'the chart while the reply is in its window');
});

t.test('charts only where they move: a ready session keeps no download chart', async (t) => {
  const loading = loaded(
    [
      [0, 0],
      [1000, 500_000],
      [2000, 1_000_000],
    ],
    2_000_000,
    false,
  );
  const during: ChartSpec[] = [];
  text(loading, T0 + 2100, (c) => during.push(c));
  t.match(during[0]?.series[0]?.title, /^download /, 'a download chart while it downloads');
  const ready = reduceSession(loading, {
    type: 'event',
    at: T0 + 2200,
    event: { status: 'ready', model: 'org/m@main', cached: false },
  });
  const after: ChartSpec[] = [];
  text(ready, T0 + 2300, (c) => after.push(c));
  t.same(after, [], 'none once ready');
});
