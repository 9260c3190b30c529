/**
 * `modeldeck check`: a conformance run against any `/load_model` server (modeldeck, upstream `transformers serve`, a
 * third party). Each check talks to the server over HTTP, records what came back, and judges it against
 * docs/protocol.md, with the load streams judged by the protocol's lint. Known differences of upstream are "n/a" or
 * notes, never failures, unless the run is `strict` (held to modeldeck's own promises).
 */

import { parseChatStreamData } from '../../protocol/chat.js';
import { parseLoadEvent, type LoadEvent } from '../../protocol/events.js';
import { createLoadStreamLint, DEFAULT_HEARTBEAT_MS, type LintFinding } from '../../protocol/lint.js';
import { parseModelId } from '../../protocol/model-id.js';
import { serviceRoot } from '../server-url.js';
import { recordAnswer, type RecordedAnswer, type RecordedFrame } from './record-stream.js';
import { judgeAccess, probeAccess, type AccessJudgement, type AccessReport } from './access-check.js';
import { summariseFindings, type FindingSummary } from './finding-summary.js';

/** `n/a`: the check could not apply (with the reason), which is not a failure. */
export type CheckStatus = 'pass' | 'fail' | 'n/a';

/** The checks, in the order they run. */
export const CHECKS = [
  ['health', 'GET /health answers {"status": "ok"}'],
  ['access', 'which routes the key may use (each asked with a GET, which changes nothing)'],
  ['load', 'a load (fresh or resident) keeps every promise of the stream'],
  ['concurrent', 'a second subscriber of the same load gets its events and one terminal event'],
  ['late-joiner', 'a client that joins a running load is not left blind'],
  ['second-load', 'a resident model answers one frame, ready with cached: true'],
  ['unknown-model', 'a model the hub does not have ends in an error event'],
  ['bad-request', 'malformed JSON and a missing model get a 4xx with a JSON body'],
  ['heartbeats', 'quiet stretches of a stream carry keep-alive comments'],
  ['chat-stream', 'a streamed chat: role first, finish_reason, then [DONE] or the end'],
  ['models', 'GET /v1/models answers an OpenAI model list'],
] as const;

/** The name of a check. */
export type CheckId = (typeof CHECKS)[number][0];

/** The outcome of one check. */
export interface CheckResult {
  readonly id: CheckId;
  readonly title: string;
  readonly status: CheckStatus;
  /** Why it passed, failed or did not apply: one sentence. */
  readonly reason: string;
  /** The lint's findings on the stream this check read (faults and notes), once per rule with their count. */
  readonly findings: readonly FindingSummary[];
}

/**
 * What the run did about the model being resident when it began, which every client of the server shares:
 * `not-resident`, it was not (the run loaded it, and it stays resident); `kept`, it was and was left so (the
 * concurrency checks are n/a); `unloaded`, it was, and `--unload` unloaded it to watch a real load (every client saw
 * it go) before the run loaded it again; `unload-refused`, `--unload` asked and the server said no (`answer`).
 */
export type Residency =
  | { readonly state: 'not-resident' }
  | { readonly state: 'kept' }
  | { readonly state: 'unloaded' }
  | { readonly state: 'unload-refused'; readonly answer: string };

/** Why a run stopped before its last check, and the checks that did not run. */
export interface CheckStop {
  /** Short: `the server cannot be reached`, `the server needs an API key`. The failing check says the rest. */
  readonly reason: string;
  readonly notRun: readonly CheckId[];
}

/** The checks that load, unload or chat: they need a key that may use `POST /load_model`. */
const WRITE_CHECKS = [
  'load',
  'concurrent',
  'late-joiner',
  'second-load',
  'unknown-model',
  'bad-request',
  'heartbeats',
  'chat-stream',
] as const satisfies readonly CheckId[];

/** The whole run. */
export interface CheckReport {
  readonly server: string;
  /** The model the run loaded; `null` for an access check alone ({@link runAccessCheck}). */
  readonly model: string | null;
  readonly strict: boolean;
  readonly results: readonly CheckResult[];
  /** Which routes the key may use, route by route (the access check's findings); `null` when it did not run. */
  readonly access: AccessReport | null;
  /** Whether the run was allowed to unload a resident model (`--unload`). */
  readonly unload: boolean;
  /** What the run did about the model being resident; `null` when no load check ran. */
  readonly residency: Residency | null;
  /** Why the run ended before its last check; `null` when every check ran (or was n/a, with why). */
  readonly stopped: CheckStop | null;
  /** No check failed. */
  readonly ok: boolean;
}

/** Options of {@link runConformance}. */
export interface ConformanceOptions {
  /** The server's base URL (a trailing `/v1` is dropped: `/load_model` lives at the service root). */
  readonly server: string;
  /** A model the server can load, `org/name[@rev]`. */
  readonly model: string;
  readonly apiKey?: string | undefined;
  /** Holds the server to modeldeck's own promises too (fixed totals, heartbeats, late-joiner state, `[DONE]`). */
  readonly strict?: boolean;
  /** The heartbeat interval the server promises, in ms (default 5000). */
  readonly heartbeatMs?: number;
  /** Longest wait for one answer, in ms (default 300,000: a first load may download a model). */
  readonly timeoutMs?: number;
  /**
   * Unload the model first when it is resident (POST /unload_model), to watch a real load (default false: that
   * unloads it for every client of the server, so only when asked).
   */
  readonly unload?: boolean;
  readonly fetch?: typeof fetch;
  /** Monotonic milliseconds. */
  readonly now?: () => number;
  /** Called as each check completes, in order. */
  readonly onResult?: (result: CheckResult) => void;
}

interface LintedStream {
  readonly answer: RecordedAnswer;
  readonly events: readonly LoadEvent[];
  readonly findings: readonly LintFinding[];
  readonly terminal: LoadEvent | undefined;
}

/** Runs every check against the server; resolves with the report (it never throws for what a server does). */
export async function runConformance(options: ConformanceOptions): Promise<CheckReport> {
  const model = parseModelId(options.model);
  if (!model.ok) throw new TypeError(model.message);
  const results: CheckResult[] = [];
  const run = createCheckRun(options, (result) => {
    results.push(result);
    options.onResult?.(result);
  });
  const unload = options.unload ?? false;
  const end = (access: AccessReport | null, residency: Residency | null, stopped?: string): CheckReport =>
    reportOf(run, { model: options.model, planned: CHECKS, results, access, unload, residency, stopped });

  // A server that cannot be reached is one line, not a row of refused connections for every check.
  if (!(await checkHealth(run))) return end(null, null, UNREACHABLE);
  const access = await checkAccess(run, options);
  // No key where one is needed, or one the server does not take: the access line says so; the rest would be 401s.
  if (access.status === 'fail') return end(access.report, null, keyStop(access.report));
  // A key that may not load makes these n/a, with why: the reading checks still run.
  let residency: Residency | null = null;
  if (access.noWrites !== undefined) for (const id of WRITE_CHECKS) run.record(id, 'n/a', access.noWrites);
  else residency = await runWriteChecks(run, options, unload);

  if (access.noReads !== undefined) run.record('models', 'n/a', access.noReads);
  else {
    const list = await run.request('/v1/models', { headers: run.headers() });
    run.record('models', ...judgeModels(list, model.ref.key));
  }
  return end(access.report, residency);
}

/** The stop of a run whose server did not answer `/health` at all. */
const UNREACHABLE = 'the server cannot be reached';

/** The stop of a run whose access check failed: a 401, for want of a key or for a key the server does not take. */
function keyStop(access: AccessReport): string {
  return access.keyGiven ? 'the server does not take this key' : 'the server needs an API key';
}

/** Options of {@link runAccessCheck}: a conformance run's, without a model. */
export type AccessCheckOptions = Omit<ConformanceOptions, 'model' | 'strict' | 'heartbeatMs' | 'unload'>;

/**
 * The health and access checks alone: which routes the key may use, asked in ways that change nothing (no model is
 * loaded, unloaded or chatted with).
 */
export async function runAccessCheck(options: AccessCheckOptions): Promise<CheckReport> {
  const results: CheckResult[] = [];
  const run = createCheckRun({ ...options, model: '' }, (result) => {
    results.push(result);
    options.onResult?.(result);
  });
  const planned = CHECKS.filter(([id]) => id === 'health' || id === 'access');
  const base = { model: null, planned, results, unload: false, residency: null };
  if (!(await checkHealth(run))) return reportOf(run, { ...base, access: null, stopped: UNREACHABLE });
  const access = await checkAccess(run, options);
  return reportOf(run, { ...base, access: access.report });
}

/** What a run found, for {@link reportOf}: the checks it meant to run and those it ran, and why it stopped if it did. */
interface RunOutcome {
  readonly model: string | null;
  readonly planned: readonly (readonly [CheckId, string])[];
  readonly results: readonly CheckResult[];
  readonly access: AccessReport | null;
  readonly unload: boolean;
  readonly residency: Residency | null;
  readonly stopped?: string | undefined;
}

function reportOf(run: CheckRun, outcome: RunOutcome): CheckReport {
  const { results, stopped } = outcome;
  const ran = new Set(results.map((r) => r.id));
  const notRun = outcome.planned.map(([id]) => id).filter((id) => !ran.has(id));
  return {
    server: run.root,
    model: outcome.model,
    strict: run.strict,
    results,
    access: outcome.access,
    unload: outcome.unload,
    residency: outcome.residency,
    stopped: stopped === undefined ? null : { reason: stopped, notRun },
    ok: results.every((r) => r.status !== 'fail'),
  };
}

/** The access check: every route asked with a GET, judged; the judgement says which checks the key cannot run. */
async function checkAccess(
  run: CheckRun,
  options: AccessCheckOptions,
): Promise<AccessJudgement & { report: AccessReport }> {
  const report = await probeAccess({
    root: run.root,
    apiKey: options.apiKey,
    fetch: options.fetch ?? fetch,
    timeoutMs: options.timeoutMs ?? 300_000,
  });
  const judgement = judgeAccess(report);
  run.record('access', judgement.status, judgement.reason);
  return { ...judgement, report };
}

/** The checks that load, unload and chat, in order; resolves with what they did about the model's residency. */
async function runWriteChecks(run: CheckRun, options: ConformanceOptions, unload: boolean): Promise<Residency> {
  const { a, b, c, residency } = await checkLoads(run, unload);
  const loaded = a.terminal?.status === 'ready';
  if (!loaded) run.record('second-load', 'n/a', 'the model did not load, so it cannot be resident');
  else {
    const again = await run.load(options.model);
    run.record('second-load', ...judgeSecondLoad(again), again.findings);
  }

  const missing = await run.load(`modeldeck-check/no-such-model-${Math.random().toString(36).slice(2, 10)}`);
  run.record('unknown-model', ...judgeUnknown(missing), missing.findings);

  const malformed = await run.postJson('/load_model', '{"model": ');
  const noModel = await run.postJson('/load_model', '{}');
  run.record(
    'bad-request',
    ...judgeBadRequests([
      ['malformed JSON', malformed],
      ['no "model"', noModel],
    ]),
  );

  // Over every load stream read so far.
  run.record('heartbeats', ...judgeHeartbeats([a, b, ...(c ? [c] : [])], run.heartbeatMs, run.strict));

  if (!loaded) run.record('chat-stream', 'n/a', 'the model did not load, so there is nothing to chat with');
  else run.record('chat-stream', ...judgeChat(await chat(run), run.strict));
  return residency;
}

/** What every check of one run shares: the server, the promises it is held to, its requests, where results go. */
interface CheckRun {
  readonly root: string;
  /** The model as given. */
  readonly model: string;
  readonly strict: boolean;
  readonly heartbeatMs: number;
  /** The bearer key when there is one, and `extra`. */
  headers(extra?: Record<string, string>): Record<string, string>;
  request(path: string, init: RequestInit, onFrame?: (f: RecordedFrame) => void): Promise<RecordedAnswer>;
  postJson(path: string, body: string, onFrame?: (f: RecordedFrame) => void): Promise<RecordedAnswer>;
  /** `POST /load_model` for `name`, its stream read by the lint. */
  load(name: string, onFrame?: (f: RecordedFrame) => void): Promise<LintedStream>;
  record(id: CheckId, status: CheckStatus, reason: string, findings?: readonly LintFinding[]): void;
}

function createCheckRun(options: ConformanceOptions, onResult: (result: CheckResult) => void): CheckRun {
  const root = serviceRoot(options.server);
  const strict = options.strict ?? false;
  const heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
  const recordOptions = {
    fetch: options.fetch ?? fetch,
    now: options.now ?? (() => performance.now()),
    timeoutMs: options.timeoutMs ?? 300_000,
  };
  const titles = new Map<string, string>(CHECKS);
  const headers = (extra: Record<string, string> = {}): Record<string, string> => ({
    ...(options.apiKey !== undefined ? { authorization: `Bearer ${options.apiKey}` } : {}),
    ...extra,
  });
  const request: CheckRun['request'] = (path, init, onFrame) =>
    recordAnswer(`${root}${path}`, init, { ...recordOptions, ...(onFrame ? { onFrame } : {}) });
  const postJson: CheckRun['postJson'] = (path, body, onFrame) =>
    request(
      path,
      { method: 'POST', headers: headers({ 'content-type': 'application/json', accept: '*/*' }), body },
      onFrame,
    );
  return {
    root,
    model: options.model,
    strict,
    heartbeatMs,
    headers,
    request,
    postJson,
    load: async (name, onFrame) =>
      lintAnswer(await postJson('/load_model', JSON.stringify({ model: name }), onFrame), name, strict, heartbeatMs),
    record: (id, status, reason, findings = []) =>
      onResult({ id, title: titles.get(id) ?? id, status, reason, findings: summariseFindings(findings) }),
  };
}

/** GET /health, judged; resolves false when no answer came at all (the run stops there). */
async function checkHealth(run: CheckRun): Promise<boolean> {
  const health = await run.request('/health', { headers: run.headers() });
  if (health.status === 0) {
    const why = health.error ?? 'no answer';
    run.record(
      'health',
      'fail',
      health.timedOut === true
        ? `${run.root} did not answer: ${why}; is it overloaded, or is the URL that of something else?`
        : `cannot reach ${run.root}: ${why}; is the server running, and is the URL right?`,
    );
    return false;
  }
  const body = readJson(health.body);
  if (health.status === 200 && isObject(body) && body['status'] === 'ok') {
    run.record('health', 'pass', `200 ${oneLine(health.body)}`);
  } else run.record('health', 'fail', `${health.status} ${oneLine(health.body)}; expected 200 {"status": "ok"}`);
  return true;
}

/** The load streams the load checks read: two subscribers at once, and a late joiner if a first frame came. */
interface LoadStreams {
  readonly a: LintedStream;
  readonly b: LintedStream;
  readonly c: LintedStream | undefined;
}

/**
 * load, concurrent and late-joiner: two subscribers at once and a third after the first frame. A model already
 * resident answers one frame; it is unloaded first, to watch a real load, only when `unload` says so (`--unload`),
 * as that unloads it for every client of the server.
 */
async function checkLoads(run: CheckRun, unload: boolean): Promise<LoadStreams & { residency: Residency }> {
  let streams = await concurrentLoad(run);
  let residency: Residency = { state: isResidentAnswer(streams.a) ? 'kept' : 'not-resident' };
  if (residency.state === 'kept' && unload) {
    const unloaded = await run.postJson('/unload_model', JSON.stringify({ model: run.model }));
    if (unloaded.status >= 200 && unloaded.status < 300) {
      residency = { state: 'unloaded' };
      streams = await concurrentLoad(run);
    } else {
      residency = {
        state: 'unload-refused',
        answer: unloaded.status ? String(unloaded.status) : describeNoAnswer(unloaded),
      };
    }
  }
  const { a, b, c } = streams;
  run.record('load', ...judgeLoad(a, run.root), a.findings);
  if (isResidentAnswer(a)) {
    const why = `the model was already in server memory${residentNote(residency)}, so no load ran to share`;
    run.record('concurrent', 'n/a', why, b.findings);
    run.record('late-joiner', 'n/a', why, c?.findings ?? []);
  } else {
    run.record('concurrent', ...judgeConcurrent(a, b), b.findings);
    run.record('late-joiner', ...judgeLateJoiner(c, run.strict), c?.findings ?? []);
  }
  return { ...streams, residency };
}

/** Why a model is still resident when the load checks ran, for their n/a reasons. */
function residentNote(residency: Residency): string {
  switch (residency.state) {
    case 'kept':
      return ' and was left there (--unload unloads it first, for every client of the server)';
    case 'unload-refused':
      return ` (--unload: POST /unload_model answered ${residency.answer})`;
    case 'unloaded':
      return ' again right after --unload unloaded it (another client loaded it)';
    case 'not-resident':
      return '';
    default: {
      const never: never = residency;
      throw new TypeError(`unknown residency ${JSON.stringify(never)}`);
    }
  }
}

function describeNoAnswer(answer: RecordedAnswer): string {
  return `nothing (${answer.error ?? 'no answer'})`;
}

async function concurrentLoad(run: CheckRun): Promise<LoadStreams> {
  let late: Promise<LintedStream> | undefined;
  const onFirst = (frame: RecordedFrame): void => {
    if (late === undefined && frame.kind === 'event') late = run.load(run.model);
  };
  const [a, b] = await Promise.all([run.load(run.model, onFirst), run.load(run.model)]);
  return { a, b, c: await late };
}

function chat(run: CheckRun): Promise<RecordedAnswer> {
  return run.postJson(
    '/v1/chat/completions',
    JSON.stringify({
      model: run.model,
      messages: [{ role: 'user', content: 'Say hello.' }],
      stream: true,
      max_tokens: 16,
    }),
  );
}

type Verdict = [CheckStatus, string];

function lintAnswer(answer: RecordedAnswer, model: string, strict: boolean, heartbeatMs: number): LintedStream {
  const findings: LintFinding[] = [];
  const events: LoadEvent[] = [];
  if (!answer.isStream) return { answer, events, findings, terminal: undefined };
  const lint = createLoadStreamLint({ model, strict, heartbeatMs, onFinding: (f) => findings.push(f) });
  for (const frame of answer.frames) {
    lint.feed(frame);
    if (frame.kind !== 'event') continue;
    const parsed = parseLoadEvent(frame.data);
    if (parsed.ok) events.push(parsed.event);
  }
  lint.end();
  const terminal = events.find((e) => e.status !== 'loading');
  return { answer, events, findings, terminal };
}

function isResidentAnswer(s: LintedStream): boolean {
  return s.events.length === 1 && s.terminal?.status === 'ready' && s.terminal.cached;
}

/** The first fault's rule and sentence, or `undefined` when there is none. */
function firstFault(s: LintedStream): string | undefined {
  const faults = s.findings.filter((f) => f.severity === 'fault');
  const first = faults[0];
  if (first === undefined) return undefined;
  const more = faults.length > 1 ? ` (and ${faults.length - 1} more)` : '';
  return `${first.rule}: ${first.message}${more}`;
}

/** Why an answer is not the event stream a load or a streamed chat must get; `undefined` when it is one. */
function notStream(answer: RecordedAnswer): string | undefined {
  if (answer.status === 0) return `no answer: ${answer.error ?? 'unknown error'}`;
  if (!answer.isStream) {
    const got = `${answer.status} ${answer.contentType ?? 'without a content type'}`;
    return `expected text/event-stream, got ${got}: ${oneLine(answer.body)}`;
  }
  if (answer.status !== 200) return `answered ${answer.status} with an event stream; expected 200`;
  return undefined;
}

function stagePath(events: readonly LoadEvent[]): string {
  const labels: string[] = [];
  for (const e of events) {
    const label = e.status === 'loading' ? e.stage : e.status;
    if (labels.at(-1) !== label) labels.push(label);
  }
  return labels.join(' → ');
}

function judgeLoad(s: LintedStream, root: string): Verdict {
  const bad = notStream(s.answer);
  if (bad !== undefined) return ['fail', `POST ${root}/load_model: ${bad}`];
  const fault = firstFault(s);
  if (fault !== undefined) return ['fail', fault];
  if (s.answer.error !== undefined) return ['fail', `the stream broke: ${s.answer.error}`];
  if (s.terminal?.status === 'error') return ['fail', `the load failed: ${s.terminal.message}`];
  if (isResidentAnswer(s)) return ['pass', 'resident: one frame, ready with cached: true'];
  return ['pass', `${stagePath(s.events)} (${s.answer.frames.length} frames)`];
}

function judgeConcurrent(a: LintedStream, b: LintedStream): Verdict {
  const bad = notStream(b.answer);
  if (bad !== undefined) return ['fail', `the second subscriber: ${bad}`];
  const fault = firstFault(b);
  if (fault !== undefined) return ['fail', `the second subscriber: ${fault}`];
  if (b.terminal?.status !== a.terminal?.status) {
    return [
      'fail',
      `the subscribers ended differently: ${a.terminal?.status ?? 'none'} and ${b.terminal?.status ?? 'none'}`,
    ];
  }
  if (b.terminal?.status === 'ready' && b.terminal.cached && b.events.length === 1 && a.events.length > 1) {
    return ['fail', 'the second subscriber got "cached: true" while the first watched the load'];
  }
  return ['pass', `both subscribers: ${stagePath(b.events)}, one terminal event each`];
}

function judgeLateJoiner(c: LintedStream | undefined, strict: boolean): Verdict {
  if (c === undefined) return ['n/a', 'the first subscriber got no frame, so no one could join late'];
  const bad = notStream(c.answer);
  if (bad !== undefined) return ['fail', `the late joiner: ${bad}`];
  const fault = firstFault(c);
  if (fault !== undefined) return ['fail', `the late joiner: ${fault}`];
  if (isResidentAnswer(c)) return ['n/a', 'the load finished before the late joiner joined (it got cached: true)'];
  const first = c.events[0];
  if (first?.status === 'loading')
    return ['pass', `its first frame was the current stage (${first.stage}), then live events`];
  if (strict) return ['fail', 'it got only the terminal event, nothing about the stage that was running'];
  return ['pass', 'it got the terminal event only (upstream sends nothing about passed stages)'];
}

function judgeSecondLoad(s: LintedStream): Verdict {
  const bad = notStream(s.answer);
  if (bad !== undefined) return ['fail', bad];
  const fault = firstFault(s);
  if (fault !== undefined) return ['fail', fault];
  if (isResidentAnswer(s)) return ['pass', 'one frame: ready, cached: true'];
  return [
    'fail',
    `expected one frame, ready with cached: true; got ${stagePath(s.events)} (${s.events.length} events)`,
  ];
}

function judgeUnknown(s: LintedStream): Verdict {
  const bad = notStream(s.answer);
  if (bad !== undefined) return ['fail', `${bad} (a stream ending in an error event was due)`];
  const fault = firstFault(s);
  if (fault !== undefined) return ['fail', fault];
  if (s.terminal?.status !== 'error') return ['fail', `expected an error event, got ${s.terminal?.status ?? 'none'}`];
  const code = s.terminal.code !== undefined ? ` [${s.terminal.code}]` : ' (no code: upstream sends none)';
  return ['pass', `error: ${clip(s.terminal.message, 60)}${code}`];
}

function judgeBadRequests(cases: readonly (readonly [string, RecordedAnswer])[]): Verdict {
  const seen: string[] = [];
  for (const [name, answer] of cases) {
    if (answer.status === 0) return ['fail', `${name}: no answer: ${answer.error ?? ''}`];
    if (answer.status < 400 || answer.status >= 500) {
      return ['fail', `${name}: answered ${answer.status}; expected a 4xx (${oneLine(answer.body)})`];
    }
    if (!isObject(readJson(answer.body))) {
      return ['fail', `${name}: ${answer.status} without a JSON object body: ${oneLine(answer.body)}`];
    }
    seen.push(`${name} → ${answer.status}`);
  }
  return ['pass', `${seen.join(', ')}, JSON bodies`];
}

function judgeHeartbeats(streams: readonly LintedStream[], heartbeatMs: number, strict: boolean): Verdict {
  const comments = streams.reduce((n, s) => n + s.answer.frames.filter((f) => f.kind === 'comment').length, 0);
  const gaps = streams.flatMap((s) => s.findings.filter((f) => f.rule === 'no-heartbeat'));
  const longest = Math.max(0, ...streams.map((s) => longestGap(s.answer.frames)));
  const interval = `${heartbeatMs / 1000} s`;
  if (gaps.length > 0) {
    const message = gaps[0]?.message ?? '';
    if (strict) return ['fail', `no-heartbeat: ${message}`];
    return ['n/a', `no heartbeats: ${message} (upstream sends none; a note, not a failure)`];
  }
  if (comments > 0) return ['pass', `${comments} keep-alive comment(s); longest silence ${formatMs(longest)}`];
  return [
    'n/a',
    `no stretch was quiet for more than twice the interval (${interval}; longest ${formatMs(longest)}), so none were due`,
  ];
}

function longestGap(frames: readonly RecordedFrame[]): number {
  let longest = 0;
  for (let i = 1; i < frames.length; i++) {
    longest = Math.max(longest, (frames[i]?.at ?? 0) - (frames[i - 1]?.at ?? 0));
  }
  return longest;
}

function judgeChat(answer: RecordedAnswer, strict: boolean): Verdict {
  const bad = notStream(answer);
  if (bad !== undefined) return ['fail', `POST /v1/chat/completions: ${bad}`];
  const data = answer.frames.filter((f) => f.kind === 'event').map((f) => f.data);
  let chunks = 0;
  let finish: string | null = null;
  let done = false;
  for (const [i, payload] of data.entries()) {
    if (done) return ['fail', `a frame came after [DONE]: ${oneLine(payload)}`];
    const frame = parseChatStreamData(payload);
    switch (frame.kind) {
      case 'done':
        done = true;
        break;
      case 'error':
        return ['fail', `the stream reported an error: ${frame.error.message}`];
      case 'invalid':
        return ['fail', `frame ${i}: ${frame.message}`];
      case 'chunk': {
        const choice = frame.chunk.choices[0];
        if (chunks === 0 && choice?.delta.role !== 'assistant') {
          return ['fail', `the first chunk has no delta.role "assistant": ${clip(oneLine(payload), 80)}`];
        }
        chunks++;
        if (choice?.finish_reason) finish = choice.finish_reason;
        break;
      }
      default: {
        const never: never = frame;
        throw new TypeError(`unknown chat frame ${JSON.stringify(never)}`);
      }
    }
  }
  if (answer.error !== undefined) return ['fail', `the stream broke: ${answer.error}`];
  if (chunks === 0) return ['fail', 'the stream had no chunk'];
  if (finish === null) return ['fail', `no chunk of ${chunks} carried a finish_reason`];
  if (!done && strict) return ['fail', `${chunks} chunks, finish_reason ${finish}, but no [DONE] at the end`];
  const end = done ? 'then [DONE]' : 'then the end, no [DONE] (as upstream)';
  return ['pass', `role first, ${chunks} chunks, finish_reason ${finish}, ${end}`];
}

function judgeModels(answer: RecordedAnswer, key: string): Verdict {
  if (answer.status === 0) return ['fail', `no answer: ${answer.error ?? ''}`];
  const body = readJson(answer.body);
  if (answer.status !== 200 || !isObject(body) || !Array.isArray(body['data'])) {
    return [
      'fail',
      `${answer.status} ${clip(oneLine(answer.body), 80)}; expected 200 {"object": "list", "data": [...]}`,
    ];
  }
  const data = body['data'] as unknown[];
  if (!data.every((m) => isObject(m) && typeof m['id'] === 'string')) {
    return ['fail', 'an entry of "data" has no string "id"'];
  }
  const id = key.replace(/@main$/, '');
  const listed = data.some((m) => isObject(m) && (m['id'] === key || m['id'] === id));
  return ['pass', `${data.length} model(s)${listed ? `, ${key} among them` : ` (${key} not among them)`}`];
}

function readJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function oneLine(text: string): string {
  return clip(text.replace(/\s+/g, ' ').trim(), 100) || '(empty body)';
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

function formatMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}
