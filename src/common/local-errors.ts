/**
 * The one catalogue of modeldeck's local errors: the ones a command meets on this machine rather than on the wire (a
 * command line that cannot be run, the dashboard's `--config` file, the demo models, the mirror's options and faults,
 * an address a server cannot bind). `src/protocol/errors.ts` is the same for the codes the server sends.
 *
 * Every local error is built from one row of {@link LOCAL_ERRORS} (as fastify builds its own from `lib/errors.js`):
 * its code, its message (a template: each `%s` takes the next argument) and the exit status the CLI ends with when
 * the error reaches it. One spelling: `MD_<AREA>_<WHAT>` in UPPER_SNAKE_CASE. The codes are for the code that
 * catches an error and for tests; a person reads the message (`modeldeck: …`), which never shows the code.
 */

/** The CLI's exit statuses: 0 success, 1 a failure, 2 a command line (or a file it names) that cannot be used. */
export const EXIT_STATUS = { ok: 0, failure: 1, usage: 2 } as const;

/** One row of the catalogue. */
export interface LocalErrorSpec {
  /** The message; each `%s` is replaced by the next argument the error is built with. */
  readonly message: string;
  /** What the CLI exits with when this error ends a command. */
  readonly exit: typeof EXIT_STATUS.failure | typeof EXIT_STATUS.usage;
}

/** Every local error, by code. */
export const LOCAL_ERRORS = {
  // A command line that cannot be run. The message names the flag and what it takes; it is written where the flag is
  // read, so it is the whole template.
  MD_USAGE: { message: '%s', exit: EXIT_STATUS.usage },

  // A server's keys (--api-key, --watch-key and their variables), checked before it starts. The first argument names
  // where the key came from; no message ever shows a key.
  MD_KEY_EMPTY: { message: '%s is empty: a key needs at least one character', exit: EXIT_STATUS.usage },
  MD_KEY_CHARACTERS: {
    message:
      '%s has a space, a control character or a character outside printable ASCII (character %s of %s): a key travels in an HTTP header, "Authorization: Bearer KEY", so it must be printable ASCII without spaces',
    exit: EXIT_STATUS.usage,
  },
  MD_KEY_REUSED: {
    message: '%s is also the full key (%s): a key is either a watch key or the full key; give the watch key its own',
    exit: EXIT_STATUS.usage,
  },
  MD_KEY_WATCH_WITHOUT_FULL: {
    message:
      '%s given without a full key: a server with only watch keys could never load a model (every route but the reading ones would answer 403); set MODELDECK_API_KEY (or --api-key) too',
    exit: EXIT_STATUS.usage,
  },

  // An address a server cannot bind (host, port). The CLI turns each into advice naming --host or --port.
  MD_LISTEN_PORT_IN_USE: { message: 'cannot listen on %s:%s: port-in-use', exit: EXIT_STATUS.usage },
  MD_LISTEN_NO_SUCH_ADDRESS: { message: 'cannot listen on %s:%s: no-such-address', exit: EXIT_STATUS.usage },
  MD_LISTEN_NOT_PERMITTED: { message: 'cannot listen on %s:%s: not-permitted', exit: EXIT_STATUS.usage },

  // The dashboard's --config file.
  MD_CONFIG_READ: { message: 'cannot read --config %s: %s', exit: EXIT_STATUS.usage },
  MD_CONFIG_JSON: { message: '%s is not valid JSON: %s', exit: EXIT_STATUS.usage },
  // The message names the file, the entry and the field, and what the format expects there.
  MD_CONFIG_SHAPE: { message: '%s', exit: EXIT_STATUS.usage },
  MD_CONFIG_ENV: {
    message: '%s: the environment variable %s (named by "apiKeyEnv") is not set',
    exit: EXIT_STATUS.usage,
  },

  // The demo models.
  MD_DEMO_UNKNOWN_MODEL: { message: 'unknown demo model(s) %s; choose from %s', exit: EXIT_STATUS.usage },
  MD_DEMO_BIG_ENDIAN: {
    message: 'demo models are written from little-endian memory; use an LE host',
    exit: EXIT_STATUS.failure,
  },

  // The mirror.
  MD_MIRROR_ROOT: { message: 'mirror root %s is not a directory', exit: EXIT_STATUS.usage },
  // Options a program gave startMirror (the command line checks its own first): a bug of that program.
  MD_MIRROR_OPTIONS: { message: '%s', exit: EXIT_STATUS.failure },
  // A fault (MirrorFault) that cannot be injected; the message names the field.
  MD_MIRROR_FAULT: { message: '%s', exit: EXIT_STATUS.usage },
  // A --fault spec that cannot be parsed (the spec, what is wrong, the syntax).
  MD_MIRROR_FAULT_SPEC: { message: 'bad --fault %s: %s (syntax %s)', exit: EXIT_STATUS.usage },
} as const satisfies Readonly<Record<string, LocalErrorSpec>>;

/** A code of the catalogue. */
export type LocalErrorCode = keyof typeof LOCAL_ERRORS;

/** One argument per `%s` of a template. */
type TemplateArgs<T extends string> = T extends `${string}%s${infer Rest}`
  ? [string | number, ...TemplateArgs<Rest>]
  : [];

/** The arguments `code`'s message takes, in order. */
export type LocalErrorArgs<C extends LocalErrorCode> = TemplateArgs<(typeof LOCAL_ERRORS)[C]['message']>;

/** `template` with each `%s` replaced by the next of `args` (an argument's own `%s` stays as it is). */
function fill(template: string, args: readonly (string | number)[]): string {
  return template
    .split('%s')
    .map((part, i) => (i === 0 ? part : `${String(args[i - 1])}${part}`))
    .join('');
}

/**
 * An error of the catalogue: `new LocalError(code, ...args)` has the row's message filled with `args`, the code and
 * the row's exit status. Each area names its own subclass (`UsageError`, `ConfigError`, …) over its own codes.
 */
export class LocalError<C extends LocalErrorCode = LocalErrorCode> extends Error {
  override readonly name: string = 'LocalError';
  /** The row's code. */
  readonly code: C;
  /** The CLI's exit status when this error ends a command. */
  readonly exitStatus: LocalErrorSpec['exit'];
  constructor(code: C, ...args: LocalErrorArgs<C>) {
    const spec: LocalErrorSpec = LOCAL_ERRORS[code];
    super(fill(spec.message, args));
    this.code = code;
    this.exitStatus = spec.exit;
  }
}

/** The exit status a command ends with when `error` reaches the top: its row's, or 1 for anything else. */
export function exitStatusOf(error: unknown): LocalErrorSpec['exit'] {
  return error instanceof LocalError ? error.exitStatus : EXIT_STATUS.failure;
}
