// The dashboard as a person runs it: `modeldeck --server URL --model ID` in a real terminal (tmux), read back with
// capture-pane. The server view shows a load that another client started, live from the feed, with its chart, and
// q ends the dashboard. Skipped, with the reason, where tmux is not installed.
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { subscribeLoad } from '../src/client/load-subscription.js';
import { demoModelsDir } from './helpers/demo.js';
import { startTestMirror, startTestServer } from './helpers/stack.js';
import { until } from './helpers/until.js';

const TINY = 'modeldeck/tiny-chat';
const TEN = 'modeldeck/chat-10m';
const bin = fileURLToPath(new URL('../bin/modeldeck.js', import.meta.url));
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
        return new RegExp(`${TEN}@main\\s+loading`).test(text) ? text : undefined;
      },
      30_000,
    );
    t.match(loading, new RegExp(`${TINY}@main\\s+resident`), 'this dashboard’s own model, resident');
    t.match(loading, /[▁▂▃▄▅▆▇█]{8,}/, 'a throughput chart is drawn');
    t.ok((await other).ok, 'the other client’s load finished');
    await until('the other model resident', () => new RegExp(`${TEN}@main\\s+resident`).test(screen()), 30_000);

    // With no load running and no transcript, q quits at once; were it to ask, y confirms.
    tmux('send-keys', '-t', session, 'q');
    await new Promise((resolve) => setTimeout(resolve, 500));
    if (spawnSync('tmux', ['has-session', '-t', session]).status === 0 && /quit\?/.test(screen())) {
      tmux('send-keys', '-t', session, 'y');
    }
    await until('the dashboard gone', () => spawnSync('tmux', ['has-session', '-t', session]).status !== 0, 15_000);
    t.pass('quit');
  },
);
