/** The text forms of a {@link CheckReport}: a table for people, JSON for scripts. */

import type { CheckReport } from './conformance.js';

/**
 * The report as a table (check, result, reason), then the lint's notes and faults by check, then a summary line.
 * Plain text, no colour: it is read in terminals, CI logs and bug reports alike.
 */
export function formatCheckTable(report: CheckReport): string {
  const rows = report.results.map((r) => [r.id, r.status, r.reason] as const);
  const width = (i: 0 | 1, title: string): number => Math.max(title.length, ...rows.map((row) => row[i].length));
  const idWidth = width(0, 'CHECK');
  const statusWidth = width(1, 'RESULT');
  const line = (a: string, b: string, c: string): string => `${a.padEnd(idWidth)}  ${b.padEnd(statusWidth)}  ${c}`;
  const out = [`modeldeck check ${report.server} --model ${report.model}${report.strict ? ' --strict' : ''}`, ''];
  out.push(line('CHECK', 'RESULT', 'REASON'));
  for (const [id, status, reason] of rows) out.push(line(id, status, reason));
  const findings = report.results.flatMap((r) =>
    r.findings.map(
      (f) => `  ${r.id}: ${f.severity} ${f.rule}${f.frame === null ? '' : ` (frame ${f.frame})`}: ${f.message}`,
    ),
  );
  if (findings.length > 0) out.push('', 'Lint findings:', ...new Set(findings));
  const count = (s: string): number => report.results.filter((r) => r.status === s).length;
  out.push('', `${count('pass')} passed, ${count('fail')} failed, ${count('n/a')} not applicable`);
  return `${out.join('\n')}\n`;
}

/** The report as one JSON document. */
export function formatCheckJson(report: CheckReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}
