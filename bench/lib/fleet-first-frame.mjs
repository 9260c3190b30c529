/**
 * The first-frame probe of the fleet benchmark, a process of its own so that its start is the dashboard's start: the
 * dashboard command (`modeldeck --config FILE`, through `runDashboardCommand`, the code `bin/modeldeck.js` runs) on a
 * fake terminal of 200×60, its config naming `argv[3]` sessions. Once the terminal receives the frame that shows the
 * last session's tag, it sends the parent that moment (the system-wide monotonic clock, see `monoMs`) and exits.
 *
 * Arguments: the config file, the number of sessions in it.
 */

import { PassThrough } from 'node:stream';

const [configPath, countText] = process.argv.slice(2);
const lastTag = new RegExp(`\\bs${Number(countText)}\\b`);
const monoMs = () => Number(process.hrtime.bigint()) / 1e6;

const input = Object.assign(new PassThrough(), { isTTY: true, setRawMode: () => input });
const output = Object.assign(new PassThrough(), { isTTY: true, columns: 200, rows: 60 });
output.resume();
const write = output.write.bind(output);
let seen = false;
output.write = (chunk, ...rest) => {
  const text = typeof chunk === 'string' ? chunk : chunk.toString('utf8');
  if (!seen && lastTag.test(text)) {
    seen = true;
    const at = monoMs();
    process.send({ type: 'first-frame', at }, () => process.exit(0));
  }
  return write(chunk, ...rest);
};

const { runDashboardCommand } = await import('../../dist/cli/dashboard.js');
await runDashboardCommand(['--config', configPath], { input, output, stderr: process.stderr });
