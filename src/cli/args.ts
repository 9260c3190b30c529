import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { ListenErrorReason } from '../common/listen.js';
import { LocalError } from '../common/local-errors.js';
import { parseDtypePreference } from '../protocol/dtype.js';

/** A command line that cannot be run as given (`MD_USAGE`); the CLI prints its message and exits with status 2. */
export class UsageError extends LocalError<'MD_USAGE'> {
  override readonly name = 'UsageError';
  constructor(message: string) {
    super('MD_USAGE', message);
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** What {@link parseCommand} returns: the values, the positionals, or that help was asked for. */
export type Parsed<O extends Options> =
  | { readonly help: true }
  | {
      readonly help: false;
      readonly values: ReturnType<typeof parseArgs<{ options: O; strict: true; allowPositionals: true }>>['values'];
      readonly positionals: string[];
    };

/**
 * Parses `argv` strictly against `options` (plus `--help`/`-h`), turning node's parse errors into a
 * {@link UsageError} that names the flag.
 */
export function parseCommand<O extends Options>(argv: readonly string[], options: O): Parsed<O> {
  if (argv.includes('--help') || argv.includes('-h')) return { help: true };
  try {
    const { values, positionals } = parseArgs({
      args: [...argv],
      options,
      strict: true,
      allowPositionals: true,
    });
    return { help: false, values, positionals };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    // node's messages end with a hint about '--' that means nothing to our users.
    throw new UsageError(message.replace(/\. To specify a positional argument.*$/s, '').replace(/\.$/, ''));
  }
}

/** Parses a TCP port (0 picks a free one). */
export function parsePort(value: string, flag = '--port'): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`${flag} must be an integer from 0 to 65535 (0 picks a free port), got '${value}'`);
  }
  return port;
}

/** Parses a non-negative number of seconds. */
export function parseSeconds(value: string, flag: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) {
    throw new UsageError(`${flag} must be a number of seconds, 0 or more, got '${value}'`);
  }
  return n;
}

/** Parses a whole number, 0 or more. */
export function parseCount(value: string, flag: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n)) {
    throw new UsageError(`${flag} must be a whole number, 0 or more, got '${value}'`);
  }
  return n;
}

/** Parses an http(s) base URL, without a trailing slash. */
export function parseHttpUrl(value: string, flag: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`${flag} must be an http:// or https:// URL, got '${value}'`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`${flag} must be an http:// or https:// URL, got '${value}'`);
  }
  return url.href.replace(/\/+$/, '');
}

const SIZE_UNITS: Readonly<Record<string, number>> = {
  '': 1,
  b: 1,
  k: 1e3,
  kb: 1e3,
  kib: 1024,
  m: 1e6,
  mb: 1e6,
  mib: 1024 ** 2,
  g: 1e9,
  gb: 1e9,
  gib: 1024 ** 3,
};

/** A `--dtype` list (`q4,q8,fp32`, `auto`), validated as a load request's `dtype` is. */
export function parseDtypeFlag(text: string): string[] {
  const parsed = parseDtypePreference(text);
  if (!parsed.ok) throw new UsageError(`--dtype: ${parsed.problem}, got '${text}'`);
  return parsed.value;
}

/** Parses a byte count such as `500k`, `5M`, `1.5MiB` or `2000000`. */
export function parseBytes(value: string, flag: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value);
  const unit = SIZE_UNITS[(m?.[2] ?? '').toLowerCase()];
  if (!m || unit === undefined) {
    throw new UsageError(`${flag} must be a byte count like 500k, 5M or 1.5MiB, got '${value}'`);
  }
  return Math.round(Number(m[1]) * unit);
}

/** The advice for an address a server could not bind, as the {@link UsageError} a command prints. */
export function listenUsageError(reason: ListenErrorReason, host: string, port: number | string): UsageError {
  switch (reason) {
    case 'MD_LISTEN_PORT_IN_USE':
      return new UsageError(`port ${port} on ${host} is in use: pick another with --port (0 picks a free one)`);
    case 'MD_LISTEN_NO_SUCH_ADDRESS':
      return new UsageError(`cannot bind to --host ${host}: no such local address`);
    case 'MD_LISTEN_NOT_PERMITTED':
      return new UsageError(`not allowed to bind ${host}:${port}: ports below 1024 need privileges`);
  }
}
