import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import t from 'tap';
import { CHECK_USAGE } from '../src/cli/check.js';
import { DASHBOARD_USAGE } from '../src/cli/dashboard.js';
import { DEMO_MODELS_USAGE } from '../src/cli/demo-models.js';
import { fitHelp, helpWidth } from '../src/cli/help-text.js';
import { LOAD_USAGE } from '../src/cli/load.js';
import { MAIN_USAGE } from '../src/cli/main.js';
import { MIRROR_USAGE } from '../src/cli/mirror.js';
import { RM_USAGE, UNLOAD_USAGE } from '../src/cli/model-commands.js';
import { PS_USAGE } from '../src/cli/ps.js';
import { PULL_USAGE } from '../src/cli/pull.js';
import { REPLAY_USAGE } from '../src/cli/replay.js';
import { SERVE_USAGE } from '../src/cli/serve.js';
import { modeldeckBin } from './helpers/repo.js';
import { untracked } from './helpers/untracked.js';

// --help is written wrapped by hand at about 110 columns; on an 80-column terminal (and in a pipe) it is fitted.

const USAGES: Record<string, string> = {
  '': MAIN_USAGE,
  dashboard: DASHBOARD_USAGE,
  serve: SERVE_USAGE,
  load: LOAD_USAGE,
  pull: PULL_USAGE,
  unload: UNLOAD_USAGE,
  rm: RM_USAGE,
  ps: PS_USAGE,
  check: CHECK_USAGE,
  replay: REPLAY_USAGE,
  mirror: MIRROR_USAGE,
  'demo-models': DEMO_MODELS_USAGE,
};

const words = (text: string): string[] => text.split(/\s+/).filter(Boolean);

t.test('every --help fits 80 columns in a pipe, word for word the text as written', async (t) => {
  for (const [command, usage] of Object.entries(USAGES)) {
    const args = command === '' ? ['--help'] : [command, '--help'];
    const { stdout } = await promisify(execFile)(...untracked(process.execPath, [modeldeckBin, ...args]));
    const wide = stdout.split('\n').filter((line) => line.length > 80);
    t.strictSame(wide, [], `modeldeck ${command} --help: no line over 80 columns`);
    t.strictSame(words(stdout), words(usage), `modeldeck ${command} --help: nothing lost or reordered`);
  }
});

t.test('a terminal wide enough gets the text as written; each block is fitted on its own', async (t) => {
  for (const usage of Object.values(USAGES)) t.equal(fitHelp(usage, 200), usage);
  const text = [
    'Usage: modeldeck thing [--alpha A] [--beta B] [--gamma G]',
    '',
    'A sentence long enough that it must be wrapped at forty columns.',
    'Short.',
    '',
    'Options:',
    '  --alpha A    what alpha does, in more words than fit',
    '               and a line that continues it',
    '  --beta B     fits',
    '  {"json": "is left as it is, however wide it may be"}',
  ].join('\n');
  t.equal(
    fitHelp(text, 40),
    [
      'Usage: modeldeck thing [--alpha A]',
      '                       [--beta B]',
      '                       [--gamma G]',
      '',
      'A sentence long enough that it must be',
      'wrapped at forty columns. Short.',
      '',
      'Options:',
      // 25 columns beside the option are too few: the description goes below it.
      '  --alpha A',
      '      what alpha does, in more words',
      '      than fit and a line that continues',
      '      it',
      '  --beta B     fits',
      '  {"json": "is left as it is, however wide it may be"}',
    ].join('\n'),
  );
  t.equal(helpWidth({ isTTY: true, columns: 132 }), 132, "a terminal's width");
  t.equal(helpWidth({}), 80, 'a pipe: 80');
});
