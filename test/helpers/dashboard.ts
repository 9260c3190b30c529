// What the headless dashboard tests share: a fake terminal, a dashboard on it torn down with the test, the text of
// one session cell, a chat-ready dashboard on an OpenAI-compatible stand-in, and a modeldeck server that can be killed
// the way a process dies.
import { mkdtemp, rm } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import type { Test } from 'tap';
import { startServer, type StartServerOptions } from '../../src/server/start.js';
import { startDashboard, type Dashboard } from '../../src/tui/dashboard.js';
import { gridLayout, screenLayout } from '../../src/tui/screen-layout.js';
import { until } from './until.js';
import { startUpstreamStandin, type UpstreamStandin } from './upstream-standin.js';

/** The size of every fake terminal here. */
export const COLS = 140;
export const ROWS = 44;

/** A fake terminal: streams that say they are a TTY of COLS×ROWS (or the size given). */
export function terminal(size: { cols: number; rows: number } = { cols: COLS, rows: ROWS }): {
  input: PassThrough;
  output: PassThrough;
} {
  const input = Object.assign(new PassThrough(), { isTTY: true, setRawMode: () => input });
  const output = Object.assign(new PassThrough(), { isTTY: true, columns: size.cols, rows: size.rows });
  output.resume();
  return { input, output };
}

/** The text inside session cell `index` of `count`, from the screen (its border excluded). */
export function cellText(dash: Dashboard, index: number, count: number): string {
  const rect = gridLayout(count, screenLayout({ cols: COLS, rows: ROWS }).sessions)[index];
  if (!rect) throw new Error(`no cell ${index}`);
  return dash
    .screenText()
    .split('\n')
    .slice(rect.top + 1, rect.top + rect.height - 1)
    .map((line) => [...line.padEnd(COLS)].slice(rect.left + 1, rect.left + rect.width - 1).join(''))
    .join('\n');
}

/** A real dashboard with `options` on a fake terminal of COLS×ROWS, shut down when `t` ends. */
export function openDashboard(
  t: Test,
  options: Omit<NonNullable<Parameters<typeof startDashboard>[0]>, 'input' | 'output'>,
): { dash: Dashboard; input: PassThrough; output: PassThrough } {
  const { input, output } = terminal();
  const dash = startDashboard({ ...options, input, output });
  t.teardown(() => dash.shutdown());
  return { dash, input, output };
}

/** Resolves once the cell of a dashboard's only session shows it ready (`ms` as for `until`). */
export function untilReady(dash: Dashboard, ms?: number): Promise<boolean> {
  return until('ready', () => cellText(dash, 0, 1).includes('✓ ready'), ms);
}

/**
 * A dashboard with one session of `org/chat` on an OpenAI-compatible stand-in (which streams 'Hello', ' there', '!'),
 * ready to chat; both go when `t` ends.
 */
export async function standinChatDashboard(
  t: Test,
): Promise<{ dash: Dashboard; input: PassThrough; upstream: UpstreamStandin }> {
  const upstream = await startUpstreamStandin({ models: ['org/chat'] });
  t.teardown(() => upstream.close());
  const { dash, input } = openDashboard(t, { sessions: [{ server: upstream.url, model: 'org/chat' }] });
  await untilReady(dash);
  return { dash, input, upstream };
}

/**
 * A modeldeck server on 127.0.0.1 (port 0 unless given) loading from `hubUrl`, with its own temporary cache unless
 * given one, counting its `/load_model` requests; `serve` adds the server's own options (`--model-timeout`,
 * `--max-models`, `--max-loads`, a loader of the test's own).
 */
export async function startKillableServer(
  hubUrl: string,
  options: {
    apiKey?: string;
    port?: number;
    cacheDir?: string;
    serve?: Partial<Pick<StartServerOptions, 'idleTimeoutMs' | 'maxModels' | 'maxLoads' | 'loader'>>;
  } = {},
) {
  const cacheDir = options.cacheDir ?? (await mkdtemp(join(tmpdir(), 'modeldeck-tui-cache-')));
  const { app, port } = await startServer({
    port: options.port ?? 0,
    loader: { hubUrl, cacheDir },
    heartbeatMs: 300,
    ...(options.apiKey ? { apiKey: options.apiKey } : {}),
    ...options.serve,
  });
  const requests: string[] = [];
  app.server.on('request', (req: IncomingMessage) => requests.push(`${req.method ?? ''} ${req.url ?? ''}`));
  let closed = false;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    cacheDir,
    loadRequests: () => requests.filter((r) => r === 'POST /load_model').length,
    /** Drops every connection at once, as a killed process would, then stops. */
    async kill() {
      closed = true;
      app.server.closeAllConnections();
      await app.close();
    },
    async close(removeCache = true) {
      if (!closed) await app.close();
      closed = true;
      if (removeCache) await rm(cacheDir, { recursive: true, force: true });
    },
  };
}
