import { readFile } from 'node:fs/promises';
import t from 'tap';
import {
  LOAD_STREAM_RULES,
  createLoadStreamLint,
  type LintFinding,
  type LintFrame,
  type LintRule,
  type LoadStreamLintOptions,
} from '../src/protocol/lint.js';
import { demoModelsDir } from './helpers/demo.js';
import { loadModel, type LoadTranscript } from './helpers/sse-client.js';
import { startTestMirror, startTestServer } from './helpers/stack.js';
import { until } from './helpers/until.js';
import { startUpstreamStandin } from './helpers/upstream-standin.js';
import { repoPath } from './helpers/repo.js';

const M = 'org/model@main';

/** Lints a whole stream of frames (strings are `data:` payloads) and returns every finding. */
function lint(
  frames: readonly (LintFrame | string)[],
  options: Omit<LoadStreamLintOptions, 'onFinding'> = {},
): LintFinding[] {
  const findings: LintFinding[] = [];
  const linter = createLoadStreamLint({ ...options, onFinding: (f) => findings.push(f) });
  for (const frame of frames) linter.feed(typeof frame === 'string' ? { kind: 'event', data: frame } : frame);
  linter.end();
  return findings;
}

const faults = (findings: readonly LintFinding[]): LintRule[] =>
  findings.filter((f) => f.severity === 'fault').map((f) => f.rule);
const notes = (findings: readonly LintFinding[]): LintRule[] =>
  findings.filter((f) => f.severity === 'note').map((f) => f.rule);

const loading = (stage: string, progress?: { current: number; total: number | null }): string =>
  JSON.stringify({ status: 'loading', model: M, stage, ...(progress ? { progress } : {}) }).replace(/([,:])/g, '$1 ');
const ready = (cached = false): string => `{"status": "ready", "model": "${M}", "cached": ${String(cached)}}`;

/** A clean fresh load in modeldeck's shape, to break one promise at a time. */
const CLEAN = [
  loading('processor'),
  loading('config'),
  loading('download', { current: 0, total: 100 }),
  loading('download', { current: 100, total: 100 }),
  loading('weights', { current: 0, total: 3 }),
  loading('weights', { current: 3, total: 3 }),
  ready(),
];

const queued = (position: number): string =>
  `{"status": "loading", "model": "${M}", "stage": "queued", ` +
  `"queue": {"position": ${position}, "reason": "load_slot", "running": 2, "held_by": ["a/b@main", "c/d@main"]}}`;

t.test('a load that waited its turn: queued first, its place as often as it moves, then the stages', async (t) => {
  t.same(
    lint([queued(2), queued(1), ...CLEAN], { strict: true, model: 'org/model' }),
    [],
    'no finding, not even a note',
  );
  t.same(lint([queued(1), `{"status": "error", "model": "${M}", "message": "busy", "code": "MODELS_BUSY"}`]), []);
  t.same(
    lint([queued(1), ready(true)]).map((f) => f.rule),
    ['cached-after-loading'],
    'a wait is a loading event',
  );
});

t.test('a clean stream has no findings, in strict mode too', async (t) => {
  t.same(lint(CLEAN), []);
  t.same(lint(CLEAN, { strict: true, model: 'org/model' }), []);
  t.same(lint([ready(true)], { strict: true }), [], 'a resident model: one frame');
  t.same(lint([`{"status": "error", "model": "${M}", "message": "no such repo"}`]), [], 'an error ends a stream too');
});

// Each case: a crafted stream, the rule that must fire (as a fault), and the frame it must point at.
const cases: { name: string; rule: LintRule; frames: (LintFrame | string)[]; frame: number | null; strict?: true }[] = [
  { name: 'a frame that is not JSON', rule: 'not-json', frames: ['{"status": "load', ready()], frame: 0 },
  {
    name: 'a loading event without a stage',
    rule: 'malformed-event',
    frames: [`{"status": "loading", "model": "${M}"}`, ready()],
    frame: 0,
  },
  {
    name: 'an unknown status',
    rule: 'unknown-status',
    frames: [`{"status": "done", "model": "${M}"}`, ready()],
    frame: 0,
  },
  {
    name: 'a model without its revision',
    rule: 'model-not-normalised',
    frames: ['{"status": "ready", "model": "org/model", "cached": false}'],
    frame: 0,
  },
  {
    name: 'another model than the one requested',
    rule: 'model-mismatch',
    frames: ['{"status": "ready", "model": "org/other@main", "cached": false}'],
    frame: 0,
  },
  {
    name: 'config after download',
    rule: 'stage-order',
    frames: [loading('download', { current: 1, total: 2 }), loading('config'), ready()],
    frame: 1,
  },
  {
    name: 'queued after a loading stage: a load waits before it runs, never after',
    rule: 'stage-order',
    frames: [loading('processor'), queued(1), ready()],
    frame: 1,
  },
  {
    name: 'a stage that comes back',
    rule: 'stage-order',
    frames: [loading('x-warmup'), loading('weights'), loading('x-warmup'), ready()],
    frame: 2,
  },
  {
    name: 'progress going backwards',
    rule: 'progress-backwards',
    frames: [loading('weights', { current: 2, total: 3 }), loading('weights', { current: 1, total: 3 }), ready()],
    frame: 1,
  },
  {
    name: 'progress past its total',
    rule: 'progress-over-total',
    frames: [loading('weights', { current: 4, total: 3 }), ready()],
    frame: 0,
  },
  {
    name: 'negative progress',
    rule: 'progress-over-total',
    frames: [loading('weights', { current: -1, total: 3 }), ready()],
    frame: 0,
  },
  {
    name: 'a download total that changes (strict)',
    rule: 'total-changed',
    frames: [loading('download', { current: 1, total: 10 }), loading('download', { current: 5, total: 20 }), ready()],
    frame: 1,
    strict: true,
  },
  {
    name: 'two terminal events',
    rule: 'two-terminals',
    frames: [ready(), `{"status": "error", "model": "${M}", "message": "late"}`],
    frame: 1,
  },
  {
    name: 'an event after the terminal one',
    rule: 'after-terminal',
    frames: [ready(), loading('weights')],
    frame: 1,
  },
  { name: 'no terminal event before the end', rule: 'no-terminal', frames: [loading('processor')], frame: null },
  { name: 'an empty stream', rule: 'no-terminal', frames: [], frame: null },
  {
    name: 'cached: true after loading events',
    rule: 'cached-after-loading',
    frames: [loading('weights', { current: 1, total: 1 }), ready(true)],
    frame: 1,
  },
  {
    name: 'a long quiet stretch without a heartbeat (strict)',
    rule: 'no-heartbeat',
    frames: [
      { kind: 'event', data: loading('download', { current: 1, total: 9 }), at: 0 },
      { kind: 'comment', text: 'keep-alive', at: 5_000 },
      { kind: 'event', data: loading('download', { current: 9, total: 9 }), at: 20_000 },
      { kind: 'event', data: ready(), at: 20_001 },
    ],
    frame: 2,
    strict: true,
  },
];

for (const c of cases) {
  t.test(`${c.rule}: ${c.name}`, async (t) => {
    const findings = lint(c.frames, { model: 'org/model', ...(c.strict ? { strict: true } : {}) });
    const hit = findings.find((f) => f.rule === c.rule);
    t.ok(hit, `${c.rule} fires: ${JSON.stringify(findings)}`);
    t.equal(hit?.severity, 'fault', 'as a fault');
    t.equal(hit?.frame, c.frame, 'on the frame that shows it');
    t.match(hit?.message, /\w+ \w+/, 'with a sentence');
  });
}

t.test('every rule is exercised and documented', async (t) => {
  const noteRules: LintRule[] = ['total-null', 'unknown-stage', 'field-order', 'compact-json', 'event-type'];
  const covered = new Set<string>([...cases.map((c) => c.rule), ...noteRules]);
  t.same(
    Object.keys(LOAD_STREAM_RULES).filter((r) => !covered.has(r)),
    [],
    'no rule without a test',
  );
});

t.test('findings come as frames are fed, not only at the end', async (t) => {
  const seen: LintRule[] = [];
  const linter = createLoadStreamLint({ onFinding: (f) => seen.push(f.rule) });
  linter.feed({ kind: 'event', data: 'nope' });
  t.same(seen, ['not-json']);
  linter.feed({ kind: 'event', data: ready() });
  linter.end();
  linter.end();
  linter.feed({ kind: 'event', data: ready() });
  t.same(seen, ['not-json'], 'end() twice reports nothing new; frames after end() are ignored');
});

t.test("upstream's quirks are notes, never faults", async (t) => {
  // As upstream `transformers serve` writes a fresh load: Python separators, a download total that is null until
  // the first file announces its size and then grows as files are discovered, no heartbeats over a long download.
  const upstream: LintFrame[] = [
    { kind: 'event', data: loading('processor'), at: 0 },
    { kind: 'event', data: loading('config'), at: 10 },
    { kind: 'event', data: loading('download', { current: 0, total: null }), at: 20 },
    { kind: 'event', data: loading('download', { current: 500, total: 1000 }), at: 40 },
    { kind: 'event', data: loading('download', { current: 1500, total: 3000 }), at: 30_000 },
    { kind: 'event', data: loading('download', { current: 3000, total: 3000 }), at: 30_010 },
    { kind: 'event', data: loading('weights', { current: 136, total: 272 }), at: 30_020 },
    { kind: 'event', data: loading('weights', { current: 272, total: 272 }), at: 30_030 },
    { kind: 'event', data: ready(), at: 30_040 },
  ];
  const findings = lint(upstream, { model: 'org/model' });
  t.same(faults(findings), [], 'no faults');
  t.same(
    [...new Set(notes(findings))].sort(),
    ['no-heartbeat', 'total-changed', 'total-null'],
    'the total that is null and grows, and the missing heartbeat, are notes',
  );
  const strict = lint(upstream, { model: 'org/model', strict: true });
  t.same([...new Set(faults(strict))].sort(), ['no-heartbeat', 'total-changed'], "modeldeck's own promises, strict");
  t.ok(notes(strict).includes('total-null'), 'a null total stays a note even when strict (clients must tolerate it)');

  const tolerant = lint(
    [
      { kind: 'event', data: `{"model":"${M}","status":"loading","stage":"warmup","extra":1}`, event: 'progress' },
      { kind: 'comment', text: 'hello' },
      { kind: 'event', data: `{"status":"ready","model":"${M}","cached":false}` },
    ],
    { strict: true },
  );
  t.same(faults(tolerant), [], 'unknown fields, stages, event types, comments, compact JSON: no faults');
  t.same(notes(tolerant).sort(), ['compact-json', 'event-type', 'field-order', 'unknown-stage']);
});

const MODEL = 'modeldeck/tiny-chat';

/** The frames of a recorded transcript, in arrival order. */
function framesOf(tr: LoadTranscript): LintFrame[] {
  return tr.frames.map((f) =>
    f.kind === 'event' ? { kind: 'event', data: tr.raw[f.index] as string } : { kind: 'comment', text: f.text },
  );
}

t.test("silent on modeldeck's real streams: fresh, resident, from disk, a late joiner, an error", async (t) => {
  const mirror = await startTestMirror(await demoModelsDir(), { throttle: 2_000_000 });
  t.teardown(() => mirror.close());
  const server = await startTestServer({ hubUrl: mirror.url, heartbeatMs: 100 });
  t.teardown(() => server.close());

  let late: Promise<LoadTranscript> | undefined;
  const fresh = await loadModel(server.url, MODEL, {
    onEvent: (e) => {
      if (late === undefined && e.status === 'loading' && e.stage === 'download') late = loadModel(server.url, MODEL);
    },
  });
  await until('the late joiner to start', () => late);
  const joined = await (late as Promise<LoadTranscript>);
  const resident = await loadModel(server.url, MODEL);
  const missing = await loadModel(server.url, 'modeldeck/no-such-model');
  const second = await startTestServer({ hubUrl: mirror.url, cacheDir: server.cacheDir });
  t.teardown(() => second.close());
  const fromDisk = await loadModel(second.url, MODEL);

  for (const [name, tr] of Object.entries({ fresh, joined, resident, missing, fromDisk })) {
    t.ok(tr.events.length > 0, `${name}: recorded ${tr.frames.length} frames`);
    const model = name === 'missing' ? 'modeldeck/no-such-model' : MODEL;
    t.same(
      lint(framesOf(tr), { model, strict: true }),
      [],
      `${name}: no findings at all, held to modeldeck's promises`,
    );
  }
  t.ok(
    fresh.events.some((e) => e.status === 'loading' && e.stage === 'download'),
    'the fresh load had a download',
  );
  t.equal(missing.events.at(-1)?.status, 'error', 'the missing model ended in an error event');
});

t.test('silent on streams of the upstream stand-in, but for its known quirks as notes', async (t) => {
  const upstream = await startUpstreamStandin({ models: [MODEL], frameMs: 20 });
  t.teardown(() => upstream.close());
  let late: Promise<LoadTranscript> | undefined;
  const fresh = await loadModel(upstream.url, MODEL, {
    onEvent: (e) => {
      if (late === undefined && e.status === 'loading' && e.stage === 'download') late = loadModel(upstream.url, MODEL);
    },
  });
  const joined = await (late as Promise<LoadTranscript>);
  const resident = await loadModel(upstream.url, MODEL);
  const missing = await loadModel(upstream.url, 'org/missing');

  t.equal(fresh.raw[0], `{"status": "loading", "model": "${MODEL}@main", "stage": "processor"}`, 'Python separators');
  t.same(fresh.comments, [], 'no heartbeats');
  t.notOk(
    joined.events.some((e) => e.status === 'loading' && e.stage === 'processor'),
    'the late joiner gets nothing about passed stages',
  );
  t.same(resident.events, [{ status: 'ready', model: `${MODEL}@main`, cached: true }]);
  t.equal(missing.events.at(-1)?.status, 'error');
  for (const [name, tr] of Object.entries({ fresh, joined, resident, missing })) {
    const model = name === 'missing' ? 'org/missing' : MODEL;
    const findings = lint(framesOf(tr), { model });
    t.same(faults(findings), [], `${name}: no faults`);
    t.ok(
      notes(findings).every((r) => r === 'total-null' || r === 'total-changed'),
      `${name}: only the known quirks as notes (${notes(findings).join(', ')})`,
    );
  }
  t.ok(faults(lint(framesOf(fresh), { model: MODEL, strict: true })).includes('total-changed'), 'strict: a fault');
});

t.test('docs/protocol.md lists every rule with its severity', async (t) => {
  const doc = await readFile(repoPath('docs', 'protocol.md'), 'utf8');
  for (const [rule, spec] of Object.entries(LOAD_STREAM_RULES)) {
    const severity = spec.modeldeckOnly && spec.severity === 'fault' ? 'modeldeck: fault' : spec.severity;
    t.match(doc, new RegExp(`^\\| \`${rule}\` +\\| ${severity} +\\|`, 'm'), `${rule}: ${severity}`);
  }
});
