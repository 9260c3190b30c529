// What the tests of the server view's keys share: a server that logs who asked what, another client, and readings
// of the dashboard's screen.
import type { IncomingMessage } from 'node:http';
import type { Dashboard } from '../../src/tui/dashboard.js';
import { ROWS } from './dashboard.js';
import { startTestServer, type TestServer } from './stack.js';
import { until } from './until.js';

/** A server over `hubUrl` whose every request is logged as `METHOD /path who`: the `x-client` header, or `dash`. */
export async function loggedServer(hubUrl: string): Promise<TestServer & { requests: string[] }> {
  const srv = await startTestServer({ hubUrl, heartbeatMs: 300 });
  const requests: string[] = [];
  srv.app.server.on('request', (req: IncomingMessage) =>
    requests.push(`${req.method ?? ''} ${req.url ?? ''} ${String(req.headers['x-client'] ?? 'dash')}`),
  );
  return Object.assign(srv, { requests });
}

/** Another client of the server: its requests say so. */
export const other: typeof fetch = (input, init) =>
  fetch(input, { ...init, headers: { ...(init?.headers as Record<string, string>), 'x-client': 'other' } });

/** What `GET /v1/models` says of each model: `id@rev status`, sorted. */
export async function listed(url: string): Promise<string[]> {
  const body = (await (await other(`${url}/v1/models`)).json()) as { data: { id: string; status: string }[] };
  return body.data.map((m) => `${m.id} ${m.status}`).sort();
}

/** The screen's last line. */
export const statusBar = (dash: Dashboard): string => dash.screenText().split('\n')[ROWS - 1] ?? '';

/** The screen's text with borders and the line breaks of a dialog's wrapping folded into single spaces. */
export const flat = (dash: Dashboard): string => dash.screenText().replace(/[│┌┐└┘─\s]+/g, ' ');

/** The screen's line that shows `model`'s row in the server view (its `STATE` after it). */
export const rowLine = (dash: Dashboard, model: string): string | undefined =>
  dash
    .screenText()
    .split('\n')
    .find((line) => new RegExp(`${model}\\s+(loading|resident|on-disk|unloaded|failed|unknown)`).test(line));

/** Moves the cursor to `model`'s row (Home, then `j` until the status bar's hint names it); resolves with the hint. */
export async function selectRow(dash: Dashboard, input: NodeJS.WritableStream, model: string): Promise<string> {
  input.write('\x1b[H');
  for (let i = 0; i < 10; i++) {
    const hint = await until('the hint', () => (statusBar(dash).startsWith('[servers') ? statusBar(dash) : undefined));
    if (hint.includes(` ${model} on `)) return hint;
    input.write('j');
    await until('the cursor moved', () => dash.ui().serverCursor !== null);
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error(`no row of ${model}: ${statusBar(dash)}`);
}
