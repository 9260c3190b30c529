/** The text forms of a {@link CheckReport}: a table for people, JSON for scripts. */

import type { AccessReport, AccessVerdict } from './access-check.js';
import type { CheckReport, Residency } from './conformance.js';
import { describeFinding } from './finding-summary.js';

/**
 * The report as a table (check, result, reason), then the routes the key may use (when a key was given), the lint's
 * notes and faults by check (each rule once per stream, with its count), then a summary line. A run that unloaded a
 * model says so first: every client of the server saw it. Plain text, no colour: it is read in terminals, CI logs and
 * bug reports alike.
 */
export function formatCheckTable(report: CheckReport): string {
  const rows = report.results.map((r) => [r.id, r.status, r.reason] as const);
  const width = (i: 0 | 1, title: string): number => Math.max(title.length, ...rows.map((row) => row[i].length));
  const idWidth = width(0, 'CHECK');
  const statusWidth = width(1, 'RESULT');
  const line = (a: string, b: string, c: string): string => `${a.padEnd(idWidth)}  ${b.padEnd(statusWidth)}  ${c}`;
  const what = report.model === null ? ' --access-only' : ` --model ${report.model}`;
  const flags = `${report.strict ? ' --strict' : ''}${report.unload ? ' --unload' : ''}`;
  const out = [`modeldeck check ${report.server}${what}${flags}`, ''];
  const residency = report.residency === null ? undefined : residencyLine(report.residency);
  if (residency !== undefined) out.push(residency, '');
  out.push(line('CHECK', 'RESULT', 'REASON'));
  for (const [id, status, reason] of rows) out.push(line(id, status, reason));
  // Without a key, the access row says it all in one line (the server needs a key, or it needs none).
  if (report.access?.keyGiven) out.push('', ...formatAccess(report.access));
  const findings = report.results.flatMap((r) => r.findings.map((f) => `  ${r.id}: ${describeFinding(f)}`));
  if (findings.length > 0) out.push('', 'Lint findings:', ...findings);
  const count = (s: string): number => report.results.filter((r) => r.status === s).length;
  const summary = [`${count('pass')} passed`, `${count('fail')} failed`];
  if (count('n/a') > 0 || report.stopped === null) summary.push(`${count('n/a')} not applicable`);
  if (report.stopped !== null) summary.push(`${report.stopped.notRun.length} not run (${report.stopped.reason})`);
  out.push('', summary.join(', '));
  return `${out.join('\n')}\n`;
}

/** What the run did to a resident model, when every client of the server saw it (or it asked and was refused). */
function residencyLine(residency: Residency): string | undefined {
  switch (residency.state) {
    case 'unloaded':
      return (
        'The model was resident: --unload unloaded it (POST /unload_model) to watch a real load, for every client\n' +
        'of this server, and the checks loaded it again.'
      );
    case 'unload-refused':
      return `The model was resident: --unload asked the server to unload it, and POST /unload_model answered ${residency.answer}.`;
    case 'kept':
    case 'not-resident':
      return undefined;
    default: {
      const never: never = residency;
      throw new TypeError(`unknown residency ${JSON.stringify(never)}`);
    }
  }
}

const MAY: Readonly<Record<AccessVerdict, string>> = {
  allowed: 'yes',
  denied: 'no',
  'no-key': 'no (key refused)',
  absent: 'no such route',
  unclear: '?',
  'no-answer': '? (no answer)',
};

/** The routes section: each route, what it needs on a modeldeck server, whether this key may use it, and the answer. */
function formatAccess(access: AccessReport): string[] {
  const rows = access.routes.map((r) => [
    `${r.method.padEnd(4)} ${r.path}`,
    r.needs,
    MAY[r.verdict],
    r.status === 0 ? '-' : `${r.status}${r.code ? ` ${r.code}` : ''}`,
  ]);
  const titles = ['ROUTE', 'NEEDS', 'THIS KEY', 'ANSWER TO A GET'];
  const widths = titles.map((title, i) => Math.max(title.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [
    'Routes for this key (each asked with a GET, which changes nothing; a route that takes POST answers 405 to a key',
    'that may use it, 403 to a watch key, 401 to a key the server does not take):',
    line(titles),
    ...rows.map(line),
  ];
}

/** The report as one JSON document. */
export function formatCheckJson(report: CheckReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}
