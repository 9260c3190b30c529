// The server view's column rules, pure: real Hub ids at the widths a pane gets at 180 columns (three panes), 120 and
// 80, the model column keeping what tells rows apart, empty columns giving their room away, and a whole 80×24 screen
// with three servers (one of them unreachable).
import t from 'tap';
import { fitModel, modelLabels, tableLines } from '../src/tui/server-table.js';
import { createServerState, reduceServer, type ServerModelRow, type ServerState } from '../src/tui/server-state.js';
import { serverPaneContent, serverDownLine } from '../src/tui/server-view.js';
import { createUiState } from '../src/tui/keys.js';
import { createEventLog } from '../src/tui/event-log.js';
import { toViewModel, type Line } from '../src/tui/view-model.js';
import { createSessionState } from '../src/tui/session-state.js';

const NOW = Date.parse('2026-03-19T10:00:00Z');
const text = (lines: readonly Line[]): string[] => lines.map((l) => l.map((s) => s.text).join(''));

function row(model: string, extra: Partial<ServerModelRow>): ServerModelRow {
  return {
    model,
    state: 'resident',
    stage: null,
    progress: null,
    subscribers: 0,
    sizeBytes: null,
    chats: 0,
    note: null,
    expiresAt: null,
    ...extra,
  };
}

/** A busy server: one load under way, two resident (one with its unload countdown), one on disk, one unloaded. */
const BUSY: readonly ServerModelRow[] = [
  row('onnx-community/Llama-3.2-1B-Instruct@main', {
    state: 'loading',
    stage: 'download',
    progress: { current: 745_000_000, total: 1_660_000_000 },
    subscribers: 2,
  }),
  row('HuggingFaceTB/SmolLM2-135M-Instruct@main', { sizeBytes: 134_000_000, expiresAt: NOW + 272_000 }),
  row('onnx-community/Qwen2.5-0.5B-Instruct@main', { sizeBytes: 483_000_000, chats: 1 }),
  row('Xenova/gpt2@main', { state: 'on-disk', subscribers: null }),
  row('onnx-community/Jan-nano-ONNX@main', { state: 'unloaded', note: 'idle timeout' }),
];
const NAMES = ['Llama-3.2-1B-Instruct', 'SmolLM2-135M-Instruct', 'Qwen2.5-0.5B-Instruct', 'gpt2', 'Jan-nano-ONNX'];

t.test('labels: @main goes when every row is at main, stays when revisions tell rows apart', async (t) => {
  t.same(modelLabels(['Xenova/gpt2@main', 'onnx-community/Qwen2.5-0.5B-Instruct@main']), [
    'Xenova/gpt2',
    'onnx-community/Qwen2.5-0.5B-Instruct',
  ]);
  t.same(
    modelLabels([
      'HuggingFaceTB/SmolLM2-135M-Instruct@main',
      'HuggingFaceTB/SmolLM2-135M-Instruct@refs/pr/10',
      'Xenova/gpt2@0123456789abcdef0123456789abcdef01234567',
    ]),
    [
      'HuggingFaceTB/SmolLM2-135M-Instruct@main',
      'HuggingFaceTB/SmolLM2-135M-Instruct@refs/pr/10',
      'Xenova/gpt2@0123456',
    ],
    'a commit hash is shortened as git does',
  );
});

t.test('a cut id loses the middle of its org first, its revision next, its name last', async (t) => {
  const id = 'onnx-community/Qwen2.5-0.5B-Instruct';
  t.equal(fitModel(id, 36), id, 'whole where it fits');
  t.equal(fitModel(id, 28), 'onn…ty/Qwen2.5-0.5B-Instruct', 'the org cut in its middle');
  t.equal(fitModel(id, 23), '…/Qwen2.5-0.5B-Instruct', 'down to a mark');
  t.equal(fitModel(`${id}@refs/pr/10`, 27), '…/Qwen2.5-0.5B-Instruct@re…', 'then the revision, keeping its @');
  t.equal(fitModel(id, 14), '…/Qwen2.5-0.5…', 'the name only when nothing else is left');
  t.notMatch(fitModel('acme/model@main', 11), /^acme\/…@main$/, 'never the name for @main');
  t.equal(fitModel('acme/model@main', 11), '…/model@ma…');
});

for (const width of [58, 118, 78]) {
  t.test(`a busy server's table at ${width} columns`, async (t) => {
    const lines = text(tableLines(BUSY, width, 20, NOW));
    t.ok(
      lines.every((l) => [...l].length <= width),
      'no line wider than the pane',
    );
    const [header, ...rows] = lines;
    t.match(header, /^MODEL +STATE +PROGRESS/, 'the header');
    t.notMatch(header, /STAGE/, 'no column of its own for the stage');
    for (const name of NAMES) {
      t.ok(
        rows.some((r) => r.includes(name)),
        `${name} whole`,
      );
    }
    t.notOk(
      lines.some((l) => l.includes('@main')),
      'no @main: every row is at main',
    );
    t.ok(
      rows.some((r) => /Llama-3\.2-1B-Instruct +loading +download .*44%/.test(r)),
      'the load, its stage and figure',
    );
    t.ok(
      rows.some((r) => r.includes('idle timeout')),
      'the unload reason under its row',
    );
    // At 58 (a third of 180) the columns stand one space apart, rather than give these up.
    t.match(header, /SUBS .*SIZE/, 'subscribers and size');
    if (width >= 78) {
      t.ok(
        rows.some((r) => /SmolLM2-135M-Instruct +resident +0 +134 MB +in 5m/.test(r)),
        'a resident model: no followers, its size, when it unloads',
      );
      t.ok(
        rows.some((r) => /Llama-3\.2-1B-Instruct .*44% +2\b/.test(r)),
        'the load has its two followers',
      );
    }
    if (width >= 118) {
      t.ok(
        rows.some((r) => r.includes('onnx-community/Llama-3.2-1B-Instruct')),
        'with room, the whole id',
      );
      t.match(header, /CHATS/, 'and the chats');
      t.ok(
        rows.some((r) => /\[█+░+\] +44%/.test(r)),
        'and a progress bar',
      );
    }
  });
}

t.test('empty columns give their room away', async (t) => {
  const idle = [
    row('onnx-community/Qwen2.5-0.5B-Instruct@main', { sizeBytes: 483_000_000 }),
    row('Xenova/gpt2@main', { state: 'on-disk', subscribers: null }),
  ];
  const [header, ...rows] = text(tableLines(idle, 60, 10, NOW));
  t.equal(header, 'MODEL                                 STATE     SUBS  SIZE', 'no progress, chats or unload column');
  t.match(
    rows[0],
    /^onnx-community\/Qwen2\.5-0\.5B-Instruct {2}resident {2}0 {5}483 MB$/,
    'the whole id in 60 columns',
  );
  t.match(
    text(tableLines(idle, 56, 10, NOW))[1],
    /^onnx-…nity\/Qwen2\.5-0\.5B-Instruct {2}resident {2}0 {5}483 MB$/,
    'in 56, the org gives way',
  );
});

t.test('rows that do not fit are counted, not dropped without a word', async (t) => {
  const lines = text(tableLines(BUSY, 78, 4, NOW));
  t.equal(lines.length, 4);
  t.equal(lines[3], '+3 more');
});

function liveServer(root: string, models: readonly { model: string; size?: number; state?: string }[]): ServerState {
  let s = reduceServer(createServerState(root), {
    type: 'feed-status',
    at: NOW - 60_000,
    status: { state: 'live', since: NOW - 60_000 },
  });
  s = reduceServer(s, {
    type: 'feed',
    at: NOW - 60_000,
    update: {
      type: 'snapshot',
      models: models.map((m) => ({
        model: m.model,
        state: m.state === 'on-disk' ? 'on-disk' : 'resident',
        stage: null,
        progress: null,
        subscribers: m.state === 'on-disk' ? null : 0,
        sizeBytes: m.size ?? null,
      })),
    },
  });
  return s;
}

function deadServer(root: string): ServerState {
  const live = liveServer(root, [{ model: 'Xenova/gpt2@main', size: 501_000_000 }]);
  return reduceServer(live, {
    type: 'feed-status',
    at: NOW - 5_000,
    status: {
      state: 'reconnecting',
      failure: { kind: 'network', message: 'connect ECONNREFUSED 10.0.0.3:8000' },
      retryAt: NOW + 3_000,
    },
  });
}

t.test('an unreachable server is one line that says since when, what is tried, and why', async (t) => {
  const line = serverDownLine(deadServer('http://10.0.0.3:8000'), NOW, 80);
  t.ok(line);
  const shown = text([line ?? []])[0] ?? '';
  t.match(shown, /^✗ http:\/\/10\.0\.0\.3:8000 unreachable since \d\d:\d\d:\d\d · retry in 3s · connect ECONN/);
  t.ok([...shown].length <= 80);
  t.equal(serverDownLine(liveServer('http://a:1', []), NOW, 80), null, 'a live server has a pane');
});

t.test('the ready event gives a model loaded while watched its size; the load ending drops SUBS to 0', async (t) => {
  let s = liveServer('http://a:1', []);
  const load = (event: object, at = NOW): void => {
    s = reduceServer(s, { type: 'feed', at, update: { type: 'load', event: event as never, subscribers: null } });
  };
  s = reduceServer(s, {
    type: 'feed',
    at: NOW,
    update: {
      type: 'snapshot',
      models: [
        {
          model: 'o/m@main',
          state: 'loading',
          stage: 'download',
          progress: { current: 1, total: 10 },
          subscribers: 2,
          sizeBytes: null,
        },
      ],
    },
  });
  t.equal(s.rows['o/m@main']?.subscribers, 2);
  load({ status: 'ready', model: 'o/m@main', cached: false, size_bytes: 1_111_915, dtype: 'fp32' });
  t.match(s.rows['o/m@main'], { state: 'resident', subscribers: 0, sizeBytes: 1_111_915 });
  s = reduceServer(s, {
    type: 'feed',
    at: NOW + 1000,
    update: { type: 'expiry', model: 'o/m@main', expiresAt: null, expiresInMs: 300_000 },
  });
  t.equal(s.rows['o/m@main']?.expiresAt, NOW + 301_000, 'the countdown from the expiry event, by this clock');
  const pane = text(serverPaneContent(s, [], { width: 78, height: 8, now: NOW + 61_000 }).lines);
  t.ok(
    pane.some((l) => /^o\/m +resident +0 +1\.11 MB +in 4m$/.test(l)),
    pane.join('\n'),
  );
});

t.test('at 80×24 with three servers, one unreachable, every server and its models are in sight', async (t) => {
  const servers = [
    liveServer('http://gpu-a:8000', [
      { model: 'onnx-community/Qwen2.5-0.5B-Instruct@main', size: 483_000_000 },
      { model: 'Xenova/gpt2@main', state: 'on-disk' },
    ]),
    liveServer('http://gpu-b:8000', [{ model: 'HuggingFaceTB/SmolLM2-135M-Instruct@main', size: 134_000_000 }]),
    deadServer('http://gpu-c:8000'),
  ];
  const sessions = [
    createSessionState({
      id: 's1',
      tag: 's1',
      server: 'http://gpu-a:8000',
      model: 'onnx-community/Qwen2.5-0.5B-Instruct',
    }),
    createSessionState({
      id: 's2',
      tag: 's2',
      server: 'http://gpu-b:8000',
      model: 'HuggingFaceTB/SmolLM2-135M-Instruct',
    }),
    createSessionState({ id: 's3', tag: 's3', server: 'http://gpu-c:8000', model: 'Xenova/gpt2' }),
  ];
  const view = toViewModel({
    sessions,
    ui: { ...createUiState(), serverView: true },
    log: createEventLog(100),
    size: { cols: 80, rows: 24 },
    now: NOW,
    notice: null,
    defaultServer: 'http://x',
    servers,
  });
  const panes = view.cells.filter((c) => c.id.startsWith('server:'));
  t.equal(panes.length, 3);
  const [a, b, c] = panes;
  t.equal(c?.rect.height, 1, 'the unreachable server: one row');
  t.equal(c?.bare, true, 'without a border');
  t.match(text(c?.lines ?? [])[0], /^✗ http:\/\/gpu-c:8000 unreachable/);
  for (const pane of [a, b]) {
    t.equal(pane?.rect.width, 80, 'a live pane has the whole width');
    t.ok(pane && pane.rect.top + pane.rect.height <= (c?.rect.top ?? 0), 'above the unreachable line');
  }
  const shown = [...text(a?.lines ?? []), ...text(b?.lines ?? [])].join('\n');
  t.match(shown, /Qwen2\.5-0\.5B-Instruct +resident/, 'gpu-a’s resident model');
  t.match(shown, /gpt2 +on-disk/, 'and the one on its disk');
  t.match(shown, /SmolLM2-135M-Instruct +resident/, 'gpu-b’s model');
  t.notOk(
    view.charts.some((chart) => chart.id.includes('gpu-c')),
    'no charts for the unreachable server',
  );
  t.notOk(
    view.charts.some((chart) => chart.series.every((s) => s.percents.every((p) => p === 0))),
    'no chart that does not move',
  );
});

t.test('a polled list: counts only where the server gives them, the countdown from when it was asked', async (t) => {
  const upstream = reduceServer(createServerState('http://a:1'), {
    type: 'polled',
    at: NOW,
    models: [{ id: 'org/chat@main', state: null, sizeBytes: null, subscribers: null }],
  });
  t.match(
    upstream.rows['org/chat@main'],
    { state: 'unknown', subscribers: null, chats: 0, expiresAt: null },
    'a list without states (transformers serve’s disk cache) says nothing of memory: unknown, never resident',
  );
  t.equal(
    text(tableLines(Object.values(upstream.rows), 78, 5, NOW))[0],
    'MODEL     STATE',
    'a server that counts nothing: no SUBS column of made-up zeros',
  );
  const modeldeck = reduceServer(createServerState('http://a:1'), {
    type: 'polled',
    at: NOW + 200,
    askedAt: NOW,
    models: [{ id: 'org/chat@main', state: 'resident', sizeBytes: 1_111_915, subscribers: 1, expiresInMs: 300_000 }],
  });
  t.match(modeldeck.rows['org/chat@main'], { subscribers: 0, chats: 1, expiresAt: NOW + 300_000 });
});

t.test('at 180 columns three live servers stand side by side, every model named whole', async (t) => {
  const servers = [
    liveServer('http://gpu-a:8000', [
      { model: 'onnx-community/Qwen2.5-0.5B-Instruct@main', size: 483_000_000 },
      { model: 'onnx-community/Llama-3.2-1B-Instruct@main', size: 1_660_000_000 },
    ]),
    liveServer('http://gpu-b:8000', [{ model: 'HuggingFaceTB/SmolLM2-135M-Instruct@main', size: 134_000_000 }]),
    liveServer('http://gpu-c:8000', [{ model: 'Xenova/gpt2@main', state: 'on-disk' }]),
  ];
  const view = toViewModel({
    sessions: [],
    ui: { ...createUiState(), serverView: true },
    log: createEventLog(100),
    size: { cols: 180, rows: 50 },
    now: NOW,
    notice: null,
    defaultServer: 'http://x',
    servers,
  });
  const panes = view.cells.filter((c) => c.id.startsWith('server:'));
  t.same(
    panes.map((p) => p.rect.width),
    [60, 60, 60],
    'three panes of 60',
  );
  const shown = panes.flatMap((p) => text(p.lines));
  for (const name of [
    'onnx-community/Qwen2.5-0.5B-Instruct',
    'onnx-community/Llama-3.2-1B-Instruct',
    'HuggingFaceTB/SmolLM2-135M-Instruct',
    'Xenova/gpt2',
  ]) {
    t.ok(
      shown.some((l) => new RegExp(`^${name.replace(/\./g, '\\.')} +(resident|on-disk)`).test(l)),
      `${name} whole, beside its state`,
    );
  }
  t.ok(
    shown.some((l) => /Llama-3\.2-1B-Instruct +resident +0 +1\.66 GB$/.test(l)),
    'with its size',
  );
  t.equal(view.charts.length, 0, 'no chart where nothing moves');
});
