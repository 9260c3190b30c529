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

import { WIRE_STAGES, parseLoadEvent, type LoadEvent } from './events.js';
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
    summary: 'a stage comes after a later one (queued, processor, config, download, weights), or comes back',
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
 *
 * The stream's own state (which frame, whether it ended) lives here; each kind of promise has a check of its own
 * with its own memory: the terminal event, the heartbeat gaps, the JSON's format, the model named, and the stages
 * with their progress.
 */
export function createLoadStreamLint(options: LoadStreamLintOptions): LoadStreamLint {
  const strict = options.strict ?? false;
  let index = -1;
  let ended = false;

  // About the frame being fed, unless the finding says otherwise (the end of the stream).
  function report(rule: LintRule, message: string, frame: number | null = index): void {
    const spec = LOAD_STREAM_RULES[rule];
    const severity: LintSeverity = spec.modeldeckOnly && !strict ? 'note' : spec.severity;
    options.onFinding({ rule, severity, message, frame });
  }
  const terminal = createTerminalCheck(report);
  const checkGap = createHeartbeatCheck(options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS, report);
  const checkFormat = createFormatCheck(report);
  const checkModel = createModelCheck(options.model, report);
  const checkStage = createStageCheck(report);

  function feed(frame: LintFrame): void {
    if (ended) return;
    index++;
    checkGap(frame.at, frame.kind === 'comment', terminal.seen());
    if (frame.kind === 'comment') return;
    const { data } = frame;
    if (frame.event !== undefined && frame.event !== 'message') {
      report('event-type', `the frame has "event: ${frame.event}"; the protocol sends data lines only`);
    }
    // One JSON parse per frame on the common path: the event reader's `raw` serves the format checks too.
    const parsed = parseLoadEvent(data);
    if (!parsed.ok) {
      checkUnreadable(data, parsed.error);
      return;
    }
    checkFormat(data, parsed.raw);
    const event = parsed.event;
    checkModel(event.model);
    if (terminal.event(event, index) && event.status === 'loading') checkStage(event.stage, event.progress);
  }

  /** A frame that is not a load event: why (not JSON, an unknown status, a missing field), and where it came. */
  function checkUnreadable(data: string, error: string): void {
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
      report('malformed-event', `${error}: ${preview(data)}`);
    }
    terminal.unreadable();
  }

  function end(): void {
    if (ended) return;
    ended = true;
    terminal.end(index + 1);
  }

  return { feed, end };
}

/** How a check reports a finding: on the frame being fed, unless `frame` says otherwise (`null`: the stream's end). */
type Report = (rule: LintRule, message: string, frame?: number | null) => void;

/**
 * The terminal event: exactly one, last, and a `ready` with `cached: true` only when no loading event came before it
 * (a resident model gets one frame).
 */
function createTerminalCheck(report: Report) {
  let terminalAt: number | null = null;
  let loadingSeen = 0;
  return {
    /** The terminal event has come. */
    seen: (): boolean => terminalAt !== null,
    /** The event of frame `index`; true when it came before any terminal event (so its stage counts). */
    event(event: LoadEvent, index: number): boolean {
      if (terminalAt !== null) {
        if (event.status === 'loading') {
          report('after-terminal', `a "loading" event came after the terminal event (frame ${terminalAt})`);
        } else {
          report('two-terminals', `a second terminal event ("${event.status}") after the one in frame ${terminalAt}`);
        }
        return false;
      }
      switch (event.status) {
        case 'loading':
          loadingSeen++;
          return true;
        case 'ready':
          terminalAt = index;
          if (event.cached && loadingSeen > 0) {
            report(
              'cached-after-loading',
              `"ready" says cached: true after ${loadingSeen} loading event(s); a resident model gets one frame`,
            );
          }
          return true;
        case 'error':
          terminalAt = index;
          return true;
        default: {
          const never: never = event;
          throw new TypeError(`unknown status ${JSON.stringify(never)}`);
        }
      }
    },
    /** A frame that is not a load event: after the terminal one, it should not be there at all. */
    unreadable(): void {
      if (terminalAt !== null) report('after-terminal', `an event came after the terminal one (frame ${terminalAt})`);
    },
    /** The stream ended after `frames` frames. */
    end(frames: number): void {
      if (terminalAt === null) {
        report('no-terminal', `the stream ended after ${frames} frame(s) without "ready" or "error"`, null);
      }
    },
  };
}

/**
 * modeldeck's heartbeats: a gap between two timed frames longer than twice `heartbeatMs`, before the terminal event,
 * is `no-heartbeat`. Frames without a time are not timed.
 */
function createHeartbeatCheck(heartbeatMs: number, report: Report) {
  let lastAt: number | undefined;
  return (at: number | undefined, isComment: boolean, afterTerminal: boolean): void => {
    if (at === undefined) return;
    if (lastAt !== undefined && !afterTerminal) {
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
  };
}

/** How the JSON is written: `status` and `model` first on every frame, and (once per stream) Python's spacing. */
function createFormatCheck(report: Report) {
  let judged = false;
  return (data: string, raw: unknown): void => {
    if (!isObject(raw)) return;
    const keys = Object.keys(raw);
    if (keys[0] !== 'status' || keys[1] !== 'model') {
      report(
        'field-order',
        `the fields come as ${keys.slice(0, 3).join(', ')}…; the protocol puts status, model first`,
      );
    }
    // Judged on the first frame with two fields or more: a sender formats all its frames alike.
    if (!judged && keys.length > 1) {
      judged = true;
      if (data === JSON.stringify(raw)) {
        report('compact-json', 'the JSON is compact (no space after "," and ":"); reported once per stream');
      }
    }
  };
}

/**
 * The model each event names: a normalised `id@revision`, the one requested (or, when that is not known, the one
 * the first event named). Reported once per stream.
 */
function createModelCheck(requested: string | undefined, report: Report) {
  let expectedModel: string | undefined;
  if (requested !== undefined) {
    const ref = parseModelId(requested);
    if (ref.ok) expectedModel = ref.ref.key;
  }
  let firstModel: string | undefined;
  let reported = false;
  let lastGood: string | undefined;
  return (model: string): void => {
    // Every frame names the same model: validate a name once.
    if (model === lastGood) return;
    const ref = parseModelId(model);
    if (!ref.ok || ref.ref.key !== model || !model.includes('@')) {
      if (!reported) {
        reported = true;
        report('model-not-normalised', `"model" is ${JSON.stringify(model)}, not a normalised id@revision`);
      }
      return;
    }
    const expected = expectedModel ?? firstModel;
    firstModel ??= model;
    if (expected !== undefined && model !== expected) {
      if (!reported) {
        reported = true;
        report('model-mismatch', `"model" is ${model}, expected ${expected}`);
      }
      return;
    }
    lastGood = model;
  };
}

/**
 * The stages in their order (none comes back or after a later one) and each stage's progress: never backwards,
 * within its total, and for `download` a total fixed from the stage's first event.
 */
function createStageCheck(report: Report) {
  let stage: string | undefined;
  let stageRank = -1;
  const passedStages = new Set<string>();
  let lastCurrent: number | undefined;
  let downloadTotal: number | null | undefined;
  let reportedNull = false;

  function enter(name: string): void {
    if (passedStages.has(name)) {
      report('stage-order', `stage "${name}" came back after "${stage ?? ''}"`);
    } else if (WIRE_STAGES.includes(name)) {
      const rank = WIRE_STAGES.indexOf(name);
      if (rank < stageRank) report('stage-order', `stage "${name}" came after "${WIRE_STAGES[stageRank] ?? ''}"`);
      stageRank = Math.max(stageRank, rank);
    } else {
      report('unknown-stage', `stage "${name}" is not one of ${WIRE_STAGES.join(', ')}`);
    }
    if (stage !== undefined) passedStages.add(stage);
    stage = name;
    lastCurrent = undefined;
    downloadTotal = undefined;
  }

  function progress(name: string, current: number, total: number | null): void {
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

  return (name: string, p: { current: number; total: number | null } | undefined): void => {
    if (name !== stage) enter(name);
    if (p !== undefined) progress(name, p.current, p.total);
  };
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
