/**
 * A linter for `/load_model` streams: fed the frames of one stream as the SSE parser dispatches them, one at a time,
 * it reports every promise of docs/protocol.md ("The `/load_model` protocol, as modeldeck speaks it") that the stream
 * breaks, each as a {@link LintFinding} with a rule name and a sentence. Pure: no timers, no I/O; times, when known,
 * come with the frames.
 *
 * Two kinds of promise exist. The protocol's own (upstream keeps them too) are always faults. modeldeck's additions
 * (a download total fixed from the first event, heartbeats, a numeric total) are faults only when the stream is held
 * to modeldeck's promises (`strict`); otherwise they are notes, because upstream `transformers serve` does not keep
 * them and a client must tolerate that.
 */

import { KNOWN_STAGES, isKnownStage, parseLoadEvent, type LoadEvent } from './events.js';
import { parseModelId } from './model-id.js';

/** `fault`: a broken promise. `note`: a tolerated quirk, worth knowing about but not wrong. */
export type LintSeverity = 'fault' | 'note';

/** Every rule the linter knows, with its severity and the sentence that explains it. */
export const LOAD_STREAM_RULES = {
  'not-json': { severity: 'fault', modeldeckOnly: false, summary: "a frame's data is not JSON" },
  'malformed-event': {
    severity: 'fault',
    modeldeckOnly: false,
    summary: 'an event lacks a field its status requires, or a field has the wrong type',
  },
  'unknown-status': { severity: 'fault', modeldeckOnly: false, summary: '`status` is not loading, ready or error' },
  'model-not-normalised': {
    severity: 'fault',
    modeldeckOnly: false,
    summary: '`model` is not the normalised `id@revision`',
  },
  'model-mismatch': {
    severity: 'fault',
    modeldeckOnly: false,
    summary: '`model` names another model than the one requested (or than the first event named)',
  },
  'stage-order': {
    severity: 'fault',
    modeldeckOnly: false,
    summary: 'a stage comes after a later one (processor, config, download, weights), or comes back',
  },
  'progress-backwards': { severity: 'fault', modeldeckOnly: false, summary: '`current` decreases within a stage' },
  'progress-over-total': {
    severity: 'fault',
    modeldeckOnly: false,
    summary: '`current` exceeds `total`, or is negative',
  },
  'total-changed': {
    severity: 'fault',
    modeldeckOnly: true,
    summary: 'the `download` total changes within the stage (upstream grows it as files are discovered)',
  },
  'total-null': {
    severity: 'note',
    modeldeckOnly: true,
    summary: '`progress.total` is null: the sender does not know it (upstream does this)',
  },
  'cached-after-loading': {
    severity: 'fault',
    modeldeckOnly: false,
    summary: '`ready` says `cached: true` after loading events (a resident model gets exactly one frame)',
  },
  'two-terminals': { severity: 'fault', modeldeckOnly: false, summary: 'a second terminal event (ready or error)' },
  'after-terminal': { severity: 'fault', modeldeckOnly: false, summary: 'an event after the terminal one' },
  'no-terminal': { severity: 'fault', modeldeckOnly: false, summary: 'the stream ended without a terminal event' },
  'no-heartbeat': {
    severity: 'fault',
    modeldeckOnly: true,
    summary: 'a quiet stretch longer than the heartbeat interval without a `: keep-alive` comment',
  },
  'unknown-stage': {
    severity: 'note',
    modeldeckOnly: false,
    summary: 'a stage modeldeck does not know (shown by name)',
  },
  'field-order': {
    severity: 'note',
    modeldeckOnly: false,
    summary: '`status` and `model` are not the first two fields',
  },
  'compact-json': {
    severity: 'note',
    modeldeckOnly: false,
    summary: "the JSON has no space after separators (modeldeck and upstream write Python's `, ` and `: `)",
  },
  'event-type': {
    severity: 'note',
    modeldeckOnly: false,
    summary: 'a frame has an `event:` type; clients that read only `data:` lines treat it as any other',
  },
} as const satisfies Record<string, { severity: LintSeverity; modeldeckOnly: boolean; summary: string }>;

/** The name of a lint rule: a key of {@link LOAD_STREAM_RULES}. */
export type LintRule = keyof typeof LOAD_STREAM_RULES;

/** One broken promise or tolerated quirk. */
export interface LintFinding {
  readonly rule: LintRule;
  readonly severity: LintSeverity;
  /** A sentence that says what happened, with the figures. */
  readonly message: string;
  /** The index of the frame (as fed, comments included) it is about; `null` for the end of the stream. */
  readonly frame: number | null;
}

/** One frame as the SSE parser delivers it: an event's fields, or a comment. `at` is its arrival time, in ms. */
export type LintFrame =
  | { readonly kind: 'event'; readonly data: string; readonly event?: string; readonly at?: number }
  | { readonly kind: 'comment'; readonly text: string; readonly at?: number };

/** Options of {@link createLoadStreamLint}. */
export interface LoadStreamLintOptions {
  /** Called once per finding, as soon as the frame that shows it is fed (or at `end()`). */
  onFinding(finding: LintFinding): void;
  /** The model as requested (`org/name[@rev]`); events must name its normalised key. */
  readonly model?: string;
  /**
   * Holds the stream to modeldeck's own promises as well (fixed download total, numeric totals, heartbeats): their
   * rules are faults. When false (the default), they are notes, as upstream does not keep them.
   */
  readonly strict?: boolean;
  /**
   * The server's heartbeat interval, in ms: a gap between frames longer than twice this without a comment is a
   * `no-heartbeat` finding. Only frames with `at` are timed. Default 5000 (modeldeck's interval).
   */
  readonly heartbeatMs?: number;
}

/** An incremental linter over one stream; see {@link createLoadStreamLint}. */
export interface LoadStreamLint {
  /** Checks the next frame of the stream. */
  feed(frame: LintFrame): void;
  /** The stream ended: reports what is missing (a terminal event). Further frames are ignored. */
  end(): void;
}

/** The default heartbeat interval a modeldeck server keeps, in ms. */
export const DEFAULT_HEARTBEAT_MS = 5000;

/**
 * Creates a linter for one `/load_model` stream. Findings go to `onFinding`; nothing throws for bad input. A stream
 * joined late may begin at any stage: only the order of what it does see is checked.
 */
export function createLoadStreamLint(options: LoadStreamLintOptions): LoadStreamLint {
  const strict = options.strict ?? false;
  const heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
  let expectedModel: string | undefined;
  if (options.model !== undefined) {
    const ref = parseModelId(options.model);
    if (ref.ok) expectedModel = ref.ref.key;
  }
  let index = -1;
  let ended = false;
  let terminalAt: number | null = null;
  let loadingSeen = 0;
  let firstModel: string | undefined;
  let stage: string | undefined;
  let stageRank = -1;
  const passedStages = new Set<string>();
  let lastCurrent: number | undefined;
  let downloadTotal: number | null | undefined;
  let lastAt: number | undefined;
  let reportedModel = false;
  let formatJudged = false;
  let lastGoodModel: string | undefined;
  let reportedNull = false;

  function report(rule: LintRule, message: string, frame: number | null = index): void {
    const spec = LOAD_STREAM_RULES[rule];
    const severity: LintSeverity = spec.modeldeckOnly && !strict ? 'note' : spec.severity;
    options.onFinding({ rule, severity, message, frame });
  }

  function checkGap(at: number | undefined, isComment: boolean): void {
    if (at === undefined) return;
    if (lastAt !== undefined && terminalAt === null) {
      const gap = at - lastAt;
      if (gap > 2 * heartbeatMs) {
        report(
          'no-heartbeat',
          `${formatMs(gap)} passed before this ${isComment ? 'comment' : 'frame'} without a heartbeat ` +
            `(the interval is ${formatMs(heartbeatMs)})`,
        );
      }
    }
    lastAt = at;
  }

  function feed(frame: LintFrame): void {
    if (ended) return;
    index++;
    checkGap(frame.at, frame.kind === 'comment');
    if (frame.kind === 'comment') return;
    const { data } = frame;
    if (frame.event !== undefined && frame.event !== 'message') {
      report('event-type', `the frame has "event: ${frame.event}"; the protocol sends data lines only`);
    }
    // One JSON parse per frame on the common path: the event reader's `raw` serves the format checks too.
    const parsed = parseLoadEvent(data);
    if (!parsed.ok) {
      let raw: unknown;
      try {
        raw = JSON.parse(data);
      } catch {
        report('not-json', `the data is not JSON: ${preview(data)}`);
        return;
      }
      checkFormat(data, raw);
      const status = isObject(raw) ? raw['status'] : undefined;
      if (isObject(raw) && status !== undefined && !['loading', 'ready', 'error'].includes(status as string)) {
        report('unknown-status', `"status" is ${preview(JSON.stringify(status))}, not loading, ready or error`);
      } else {
        report('malformed-event', `${parsed.error}: ${preview(data)}`);
      }
      if (terminalAt !== null) report('after-terminal', `an event came after the terminal one (frame ${terminalAt})`);
      return;
    }
    checkFormat(data, parsed.raw);
    checkEvent(parsed.event);
  }

  function checkFormat(data: string, raw: unknown): void {
    if (!isObject(raw)) return;
    const keys = Object.keys(raw);
    if (keys[0] !== 'status' || keys[1] !== 'model') {
      report(
        'field-order',
        `the fields come as ${keys.slice(0, 3).join(', ')}…; the protocol puts status, model first`,
      );
    }
    // Judged on the first frame with two fields or more: a sender formats all its frames alike.
    if (!formatJudged && keys.length > 1) {
      formatJudged = true;
      if (data === JSON.stringify(raw)) {
        report('compact-json', 'the JSON is compact (no space after "," and ":"); reported once per stream');
      }
    }
  }

  function checkEvent(event: LoadEvent): void {
    checkModel(event.model);
    if (terminalAt !== null) {
      if (event.status === 'loading') {
        report('after-terminal', `a "loading" event came after the terminal event (frame ${terminalAt})`);
      } else {
        report('two-terminals', `a second terminal event ("${event.status}") after the one in frame ${terminalAt}`);
      }
      return;
    }
    switch (event.status) {
      case 'loading':
        loadingSeen++;
        checkLoading(event.stage, event.progress);
        return;
      case 'ready':
        terminalAt = index;
        if (event.cached && loadingSeen > 0) {
          report(
            'cached-after-loading',
            `"ready" says cached: true after ${loadingSeen} loading event(s); a resident model gets one frame`,
          );
        }
        return;
      case 'error':
        terminalAt = index;
        return;
      default: {
        const never: never = event;
        throw new TypeError(`unknown status ${JSON.stringify(never)}`);
      }
    }
  }

  function checkModel(model: string): void {
    // Every frame names the same model: validate a name once.
    if (model === lastGoodModel) return;
    const ref = parseModelId(model);
    if (!ref.ok || ref.ref.key !== model || !model.includes('@')) {
      if (!reportedModel) {
        reportedModel = true;
        report('model-not-normalised', `"model" is ${JSON.stringify(model)}, not a normalised id@revision`);
      }
      return;
    }
    const expected = expectedModel ?? firstModel;
    firstModel ??= model;
    if (expected !== undefined && model !== expected) {
      if (!reportedModel) {
        reportedModel = true;
        report('model-mismatch', `"model" is ${model}, expected ${expected}`);
      }
      return;
    }
    lastGoodModel = model;
  }

  function checkLoading(name: string, progress: { current: number; total: number | null } | undefined): void {
    if (name !== stage) {
      if (passedStages.has(name)) {
        report('stage-order', `stage "${name}" came back after "${stage ?? ''}"`);
      } else if (isKnownStage(name)) {
        const rank = KNOWN_STAGES.indexOf(name);
        if (rank < stageRank) report('stage-order', `stage "${name}" came after "${KNOWN_STAGES[stageRank] ?? ''}"`);
        stageRank = Math.max(stageRank, rank);
      } else {
        report('unknown-stage', `stage "${name}" is not one of ${KNOWN_STAGES.join(', ')}`);
      }
      if (stage !== undefined) passedStages.add(stage);
      stage = name;
      lastCurrent = undefined;
      downloadTotal = undefined;
    }
    if (progress === undefined) return;
    const { current, total } = progress;
    if (current < 0) report('progress-over-total', `${name}: current is ${current}, below 0`);
    if (total !== null && current > total)
      report('progress-over-total', `${name}: current ${current} > total ${total}`);
    if (lastCurrent !== undefined && current < lastCurrent) {
      report('progress-backwards', `${name}: current went from ${lastCurrent} back to ${current}`);
    }
    lastCurrent = current;
    if (total === null && !reportedNull) {
      reportedNull = true;
      report('total-null', `${name}: total is null, so no percentage can be shown; reported once per stream`);
    }
    if (name === 'download') {
      if (downloadTotal !== undefined && total !== downloadTotal) {
        report('total-changed', `download: total went from ${String(downloadTotal)} to ${String(total)}`);
      }
      downloadTotal = total;
    }
  }

  function end(): void {
    if (ended) return;
    ended = true;
    if (terminalAt === null) {
      report('no-terminal', `the stream ended after ${index + 1} frame(s) without "ready" or "error"`, null);
    }
  }

  return { feed, end };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function preview(text: string): string {
  const oneLine = JSON.stringify(text);
  return oneLine.length > 60 ? `${oneLine.slice(0, 60)}…` : oneLine;
}

function formatMs(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}
