/**
 * Writing the open sessions back as a `--config` file (Ctrl-S, and the quit dialog's Save & quit), in the format
 * `config.ts` reads, so that sessions added or edited in the dashboard outlive it. A key is written as the reference
 * it came from (`"apiKeyEnv"`); a key typed into the dashboard or given with `--api-key` is written as the variable
 * that holds the same value, if one does, and otherwise left out (the notes say which); only a key that came as plain
 * text from a config file goes back as `"apiKey"`, and then the file is written readable by its owner only. The text
 * is pure ({@link configFileText}); {@link writeConfigFile} is the one place that touches the disk: a temporary file
 * beside the target, then a rename (or a hard link, which never replaces a file that appeared meanwhile).
 */

import { randomBytes } from 'node:crypto';
import { chmod, link, open, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { KeyOrigin, SessionSpec } from './config.js';

/** One session to write: its spec and its tag (what the notes call it). */
export interface TaggedSpec {
  readonly tag: string;
  readonly spec: SessionSpec;
}

/** A config file's text, and what it leaves out. */
export interface ConfigText {
  /** The JSON, ending in a newline. */
  readonly text: string;
  /** One sentence per session whose key is not in the file, and why. */
  readonly notes: readonly string[];
  /** Some key is written in the clear (it came that way): the file is made readable by its owner only. */
  readonly plainKeys: boolean;
}

/** The variable the dashboard's `--api-key` falls back to, and the first one a typed key is looked for in. */
const DEFAULT_KEY_VARIABLE = 'MODELDECK_API_KEY';

/** The file's text for `sessions`, in screen order; `env` is where a typed key's variable is looked for. */
export function configFileText(sessions: readonly TaggedSpec[], env: NodeJS.ProcessEnv): ConfigText {
  const notes: string[] = [];
  let plainKeys = false;
  const entries = sessions.map(({ tag, spec }) => {
    const key = keyField(spec, env);
    if (key.note !== undefined) notes.push(`${tag}: ${key.note}`);
    if (key.field?.apiKey !== undefined) plainKeys = true;
    // In the order the README shows: the key after the model.
    const { name, server, model, ...rest } = entryOf(spec);
    return { ...(name !== undefined ? { name } : {}), server, model, ...key.field, ...rest };
  });
  return { text: `${JSON.stringify({ sessions: entries }, null, 2)}\n`, notes, plainKeys };
}

/** What a session writes besides its key. */
interface Entry {
  readonly name?: string;
  readonly server: string;
  readonly model: string;
  readonly kind?: string;
  readonly dtype?: string;
  readonly chat?: SessionSpec['chat'];
  readonly readOnly?: true;
}

function entryOf(spec: SessionSpec): Entry {
  const chat = spec.chat !== undefined && Object.keys(spec.chat).length > 0 ? spec.chat : undefined;
  return {
    ...(spec.name !== undefined ? { name: spec.name } : {}),
    server: spec.server,
    model: spec.model,
    ...(spec.kind !== undefined ? { kind: spec.kind } : {}),
    ...(spec.dtype !== undefined && spec.dtype.length > 0 ? { dtype: spec.dtype.join(',') } : {}),
    ...(chat !== undefined ? { chat } : {}),
    ...(spec.readOnly === true ? { readOnly: true as const } : {}),
  };
}

/** How a session's key goes into the file: a reference, the key itself (it came that way), or not at all. */
function keyField(
  spec: SessionSpec,
  env: NodeJS.ProcessEnv,
): { field?: { apiKey?: string; apiKeyEnv?: string }; note?: string } {
  const key = spec.apiKey;
  if (key === undefined) return {};
  const origin: KeyOrigin = spec.keyOrigin ?? { kind: 'typed' };
  if (origin.kind === 'env') return { field: { apiKeyEnv: origin.name } };
  if (origin.kind === 'file') return { field: { apiKey: key } };
  const variable = variableHolding(key, env);
  if (variable !== undefined) return { field: { apiKeyEnv: variable } };
  const how = origin.kind === 'flag' ? 'given with --api-key' : 'typed in the dashboard';
  return {
    note: `its key is not written (${how}, and no environment variable holds it): put it in one and add "apiKeyEnv" by hand`,
  };
}

/** The environment variable whose value is `key` ($MODELDECK_API_KEY first, then by name), if any. */
function variableHolding(key: string, env: NodeJS.ProcessEnv): string | undefined {
  if (env[DEFAULT_KEY_VARIABLE] === key) return DEFAULT_KEY_VARIABLE;
  return Object.keys(env)
    .sort()
    .find((name) => env[name] === key);
}

/**
 * What the file would hold for `sessions`, keys by where they came from: two equal signatures mean writing would
 * change nothing (the dashboard compares the open sessions with what its config file holds).
 */
export function sessionsSignature(specs: readonly SessionSpec[]): string {
  return JSON.stringify(
    specs.map((spec) => ({
      ...entryOf(spec),
      key: spec.apiKey === undefined ? null : (spec.keyOrigin ?? { kind: 'typed' }),
    })),
  );
}

/** How writing went. */
export type WriteOutcome =
  | { readonly ok: true; readonly replaced: boolean }
  /** The file exists and `overwrite` was not given: nothing was written. */
  | { readonly ok: false; readonly exists: true }
  | { readonly ok: false; readonly exists: false; readonly message: string };

/**
 * Writes `text` to `target` whole or not at all: into a temporary file beside it, flushed, then renamed over it
 * (`overwrite`, keeping the file's permissions) or hard-linked to it (never over a file that exists). `private`
 * makes a new file readable by its owner only.
 */
export async function writeConfigFile(
  target: string,
  text: string,
  options: { readonly overwrite: boolean; readonly private: boolean },
): Promise<WriteOutcome> {
  const temp = join(dirname(target), `.${basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  let existing: number | undefined;
  try {
    existing = (await stat(target)).mode & 0o777;
  } catch {
    existing = undefined;
  }
  if (existing !== undefined && !options.overwrite) return { ok: false, exists: true };
  const mode = existing ?? (options.private ? 0o600 : 0o644);
  try {
    const handle = await open(temp, 'wx', mode);
    try {
      await handle.writeFile(text, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await chmod(temp, options.private ? mode & 0o700 : mode);
    if (options.overwrite) {
      await rename(temp, target);
      return { ok: true, replaced: existing !== undefined };
    }
    return await linkNew(temp, target);
  } catch (error) {
    return { ok: false, exists: false, message: (error as NodeJS.ErrnoException).code ?? (error as Error).message };
  } finally {
    await unlink(temp).catch(() => undefined);
  }
}

/** Puts `temp` at `target` only if nothing is there (a file system without hard links: checked, then renamed). */
async function linkNew(temp: string, target: string): Promise<WriteOutcome> {
  try {
    await link(temp, target);
    return { ok: true, replaced: false };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return { ok: false, exists: true };
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS') throw error;
    const there = await stat(target).then(
      () => true,
      () => false,
    );
    if (there) return { ok: false, exists: true };
    await rename(temp, target);
    return { ok: true, replaced: false };
  }
}
