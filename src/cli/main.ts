import { EXIT_STATUS, exitStatusOf } from '../common/local-errors.js';
import { VERSION } from '../common/version.js';
import { UsageError } from './args.js';
import { helpFor } from './help-text.js';

export const MAIN_USAGE = `Usage: modeldeck [command] [options]

With no command, opens the dashboard: several chat sessions loading models side by side, with
progress gauges and the raw event log. Without --server it starts an embedded demo (demo models,
a throttled local mirror and a server, all on loopback). See 'modeldeck dashboard --help'.

Commands:
  dashboard            the full-screen dashboard (the default command)
  load MODEL           load a model on a server and print its progress (for scripts and CI)
  pull MODEL           download a model into a server's disk cache without loading it
  unload MODEL         unload a model from a server's memory (or cancel its load)
  rm MODEL             delete a model from a server's disk cache
  ps                   list what each server holds: resident, loading, queued, on disk; sizes, expiries
  check URL            check a /load_model server against the protocol (a pass / fail table)
  replay FILE          open the dashboard on a log saved with Ctrl-S, with its original timing
  serve                run the modeldeck server (POST /load_model, chat completions)
  mirror DIR           serve a directory of model repositories in the Hugging Face Hub's URL layout
  demo-models DIR      generate the small demo models that transformers.js loads and runs

Options:
  -h, --help           show this help (each command has its own --help)
  -v, --version        print the version

Run 'modeldeck COMMAND --help' for a command's options.`;

type Command = (argv: readonly string[]) => Promise<number>;

// Commands load lazily so that `--help` and quick commands do not pay for transformers.js or blessed.
const commands: Readonly<Record<string, () => Promise<Command>>> = {
  dashboard: async () => (await import('./dashboard.js')).runDashboardCommand,
  load: async () => (await import('./load.js')).runLoadCommand,
  pull: async () => (await import('./pull.js')).runPullCommand,
  unload: async () => (await import('./model-commands.js')).runUnloadCommand,
  rm: async () => (await import('./model-commands.js')).runRmCommand,
  ps: async () => (await import('./ps.js')).runPsCommand,
  check: async () => (await import('./check.js')).runCheckCommand,
  replay: async () => (await import('./replay.js')).runReplayCommand,
  serve: async () => (await import('./serve.js')).runServeCommand,
  mirror: async () => (await import('./mirror.js')).runMirrorCommand,
  'demo-models': async () => (await import('./demo-models.js')).runDemoModelsCommand,
};

/** Runs the CLI; resolves with the process exit status. */
export async function main(argv: readonly string[]): Promise<number> {
  const [first, ...rest] = argv;
  try {
    if (first === '-h' || first === '--help' || first === 'help') {
      process.stdout.write(helpFor(MAIN_USAGE, process.stdout));
      return 0;
    }
    if (first === '-v' || first === '--version') {
      process.stdout.write(`modeldeck ${VERSION}\n`);
      return 0;
    }
    // No command, or options first (`modeldeck --server URL --model ID`): the dashboard.
    if (first === undefined || first.startsWith('-')) {
      return await (await import('./dashboard.js')).runDashboardCommand(argv);
    }
    const load = commands[first];
    if (!load) {
      throw new UsageError(`unknown command '${first}'; commands: ${Object.keys(commands).join(', ')}`);
    }
    return await (
      await load()
    )(rest);
  } catch (error) {
    process.stderr.write(`modeldeck: ${error instanceof Error ? error.message : String(error)}\n`);
    const status = exitStatusOf(error);
    // A usage error is the user's to fix, and its message says how: a stack would only hide it.
    if (status !== EXIT_STATUS.usage && process.env['MODELDECK_DEBUG']) {
      process.stderr.write(`${(error as Error)?.stack ?? ''}\n`);
    }
    return status;
  }
}
