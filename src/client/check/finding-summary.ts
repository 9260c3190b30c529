/**
 * The lint's findings on one stream, told once per rule with how often it fired: a server that breaks a promise on
 * every frame (a growing download total, fields out of order) is one cause, not a line per frame.
 */

import type { LintFinding, LintRule, LintSeverity } from '../../protocol/lint.js';

/** One rule's findings on one stream. */
export interface FindingSummary {
  readonly rule: LintRule;
  readonly severity: LintSeverity;
  /** The first finding's sentence, with its figures. */
  readonly message: string;
  /** How many times the stream showed it. */
  readonly count: number;
  /** The frame of the first time (`null`: the end of the stream). */
  readonly firstFrame: number | null;
  /** The frame of the last time (`null`: the end of the stream). */
  readonly lastFrame: number | null;
}

/** Groups one stream's findings by rule and severity, in the order each first appeared. */
export function summariseFindings(findings: readonly LintFinding[]): FindingSummary[] {
  const byRule = new Map<string, FindingSummary>();
  for (const f of findings) {
    const key = `${f.severity} ${f.rule}`;
    const seen = byRule.get(key);
    byRule.set(
      key,
      seen === undefined
        ? { rule: f.rule, severity: f.severity, message: f.message, count: 1, firstFrame: f.frame, lastFrame: f.frame }
        : { ...seen, count: seen.count + 1, lastFrame: f.frame },
    );
  }
  return [...byRule.values()];
}

/**
 * One summary as a line of the report, after the check's name: `note total-changed (frame 3): …` for a finding seen
 * once, `note total-changed, 45 times (frames 3–47), the first: …` for one seen on many frames.
 */
export function describeFinding(f: FindingSummary): string {
  const where = (frame: number | null): string => (frame === null ? 'the end' : String(frame));
  if (f.count === 1) {
    return `${f.severity} ${f.rule}${f.firstFrame === null ? '' : ` (frame ${f.firstFrame})`}: ${f.message}`;
  }
  return `${f.severity} ${f.rule}, ${f.count} times (frames ${where(f.firstFrame)}–${where(f.lastFrame)}), the first: ${f.message}`;
}
