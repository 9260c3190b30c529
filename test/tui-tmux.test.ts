// The dashboard as a person runs it: `modeldeck --server URL --model ID` in a real terminal (tmux), read back with
// capture-pane. The server view shows a load that another client started, live from the feed, with its chart, and
// q ends the dashboard; at 80×24 a reply is in sight, zoom and the paged help work. Skipped, with the reason, where
// tmux is not installed.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { subscribeLoad } from '../src/client/load-subscription.js';
import { demoModelsDir } from './helpers/demo.js';
import { startTestMirror, startTestServer } from './helpers/stack.js';
import { until } from './helpers/until.js';
import { modeldeckBin } from './helpers/repo.js';

const TINY = 'modeldeck/tiny-chat';
const TEN = 'modeldeck/chat-10m';
const bin = modeldeckBin;
const hasTmux = spawnSync('tmux', ['-V']).status === 0;

t.test(
  'in tmux: the server view shows another client’s load live, with its chart; q quits',
  { skip: !hasTmux && 'no tmux on this machine' },
  async (t) => {
    const mirror = await startTestMirror(await demoModelsDir([TINY, TEN]), { throttle: 500_000 });
    t.teardown(() => mirror.close());
    const server = await startTestServer({ hubUrl: mirror.url });
    t.teardown(() => server.close());

    const session = `modeldeck-test-${process.pid}`;
    const tmux = (...args: string[]): string => execFileSync('tmux', args, { encoding: 'utf8' });
    const screen = (): string => tmux('capture-pane', '-p', '-t', session);
    const command = `${process.execPath} ${bin} --server ${server.url} --model ${TINY}`;
    tmux('new-session', '-d', '-s', session, '-x', '150', '-y', '45', '-e', 'NCURSES_NO_UTF8_ACS=1', command);
    t.teardown(() => {
      spawnSync('tmux', ['kill-session', '-t', session]);
    });

    await until('the session ready on screen', () => screen().includes('✓ ready'), 60_000);
    tmux('send-keys', '-t', session, 'v');
    await until('the live feed', () => screen().includes('● live'), 15_000);

    const other = subscribeLoad({ server: server.url, model: TEN });
    const loading = await until(
      'the other client’s load in the server view',
      () => {
        const text = screen();
        return new RegExp(`${TEN}\\s+loading`).test(text) ? text : undefined;
      },
      30_000,
    );
    t.match(loading, new RegExp(`${TINY}\\s+resident`), 'this dashboard’s own model, resident');
    t.match(loading, /[▁▂▃▄▅▆▇█]{8,}/, 'a throughput chart is drawn');
    t.ok((await other).ok, 'the other client’s load finished');
    await until('the other model resident', () => new RegExp(`${TEN}\\s+resident`).test(screen()), 30_000);

    // Q opens the quit dialog on Cancel (the event log is something to lose); ← to Quit, then Enter.
    tmux('send-keys', '-t', session, 'Q');
    await until('the quit dialog', () => /Quit modeldeck\?/.test(screen()));
    tmux('send-keys', '-t', session, 'Left');
    tmux('send-keys', '-t', session, 'Enter');
    await until('the dashboard gone', () => spawnSync('tmux', ['has-session', '-t', session]).status !== 0, 15_000);
    t.pass('quit');
  },
);

t.test(
  'in tmux at 80×24: a streamed reply is in sight, f zooms and returns, the help is paged, Q asks and ← Enter quits',
  { skip: !hasTmux && 'no tmux on this machine' },
  async (t) => {
    const mirror = await startTestMirror(await demoModelsDir([TINY]));
    t.teardown(() => mirror.close());
    const server = await startTestServer({ hubUrl: mirror.url });
    t.teardown(() => server.close());

    const session = `modeldeck-small-${process.pid}`;
    const tmux = (...args: string[]): string => execFileSync('tmux', args, { encoding: 'utf8' });
    const screen = (): string => tmux('capture-pane', '-p', '-t', session);
    const keys = (...k: string[]): string => tmux('send-keys', '-t', session, ...k);
    const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    // Two sessions of one model, so the grid is shared as an operator's would be; short replies.
    const dir = await mkdtemp(join(tmpdir(), 'modeldeck-tmux-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const config = join(dir, 'sessions.json');
    const one = { server: server.url, model: TINY, chat: { maxTokens: 8 } };
    await writeFile(config, JSON.stringify({ sessions: [one, one] }));
    const command = `${process.execPath} ${bin} --config ${config}`;
    tmux('new-session', '-d', '-s', session, '-x', '80', '-y', '24', '-e', 'NCURSES_NO_UTF8_ACS=1', command);
    t.teardown(() => {
      spawnSync('tmux', ['kill-session', '-t', session]);
    });

    await until('both ready on screen', () => (screen().match(/✓ ready in /g) ?? []).length === 2, 60_000);
    keys('Enter');
    keys('-l', 'hello');
    keys('Enter');
    const replied = await until('the reply and its figures on screen', () => {
      const text = screen();
      return /model: \S/.test(text) && text.includes('ttft ') ? text : undefined;
    });
    t.match(replied, 'you: hello', 'the message');
    // Esc, then a pause: an Esc followed at once by f is read as Alt-f.
    keys('Escape');
    await pause(300);
    keys('f');
    const zoomed = await until('zoomed', () => (screen().includes('zoomed · f returns') ? screen() : undefined));
    t.equal((zoomed.match(/s[12] modeldeck\/tiny-chat/g) ?? []).length, 1, 'one session on the screen');
    t.match(zoomed, /weights \d+ \/ \d+ items/, 'with its load detail');
    keys('f');
    await until('the grid again', () => (screen().match(/s[12] modeldeck\/tiny-chat/g) ?? []).length === 2);
    keys('?');
    const help = await until('the help', () => (/page 1 of \d+/.test(screen()) ? screen() : undefined));
    t.match(help, 'Tab / Shift-Tab', 'its first page');
    keys('PageDown');
    await until('its second page', () => /page 2 of \d+/.test(screen()));
    keys('x');
    await until('the help closed', () => !/page \d+ of \d+/.test(screen()));
    t.notMatch(screen(), 'Close s1', 'the key that closed the help did nothing else');
    keys('Q');
    await until('quit asks first (a transcript would be lost)', () => /Quit modeldeck\?/.test(screen()));
    t.match(screen(), 'Quitting drops 1 transcript', 'says what would be lost');
    keys('Left');
    keys('Enter');
    await until('the dashboard gone', () => spawnSync('tmux', ['has-session', '-t', session]).status !== 0, 15_000);
    t.pass('quit');
  },
);
