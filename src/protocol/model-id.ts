/**
 * Model references as the wire carries them: `org/name`, `org/name@revision`, or a legacy one-segment `name`.
 *
 * Every id that reaches a loader, a cache path or a log line goes through {@link parseModelId} first, so the rules
 * here are deliberately strict: what the Hub itself would refuse, and anything that could escape a cache directory,
 * is refused here with a message that names the problem.
 */

/** A model reference, validated and normalised. Structurally the same as the server's `ModelRef`. */
export interface ModelRef {
  /** Hub repository id, `org/name` (or a legacy single-segment `name`). */
  readonly id: string;
  /** Git revision: a branch, tag, `refs/pr/N` or commit sha. {@link DEFAULT_REVISION} when the input named none. */
  readonly revision: string;
  /** `id@revision`, the form every wire event carries in its `model` field. */
  readonly key: string;
}

/** What {@link parseModelId} returns: the reference, or a message fit to show a user. */
export type ParseModelIdResult = { ok: true; ref: ModelRef } | { ok: false; message: string };

/** Longest accepted input, in UTF-16 code units (all accepted characters are ASCII, so also bytes). */
export const MAX_MODEL_ID_LENGTH = 256;

/** The revision an input without `@` refers to. */
export const DEFAULT_REVISION = 'main';

const ID_SEGMENT = /^[A-Za-z0-9._-]+$/;
const REVISION = /^[A-Za-z0-9._/-]+$/;
// Whitespace, C0/C1 controls, and invisible format characters (zero-width space, bidi overrides): all of them make
// an id look like something it is not in a log line or a terminal.
const INVISIBLE = /[\s\p{Cc}\p{Cf}]/u;

/** Builds the `id@revision` key. Does not validate. */
export function modelKey(id: string, revision: string): string {
  return `${id}@${revision}`;
}

/**
 * Parses and validates a model reference.
 *
 * Accepts `org/name`, `org/name@revision` and a legacy `name`; the revision defaults to `main`. Refuses, with a
 * message naming the problem: an empty input, more than {@link MAX_MODEL_ID_LENGTH} characters, whitespace or control
 * characters, backslashes, a leading `/`, `..`, more than two path segments, empty segments, characters outside
 * `[A-Za-z0-9._-]` in the id, segments starting with `.` or `-`, an empty revision after `@`, and revisions with
 * characters outside `[A-Za-z0-9._/-]`, `..`, empty path segments or a leading/trailing `/`.
 */
export function parseModelId(input: string): ParseModelIdResult {
  if (typeof input !== 'string') return fail(`model id must be a string, got ${describeType(input)}`);
  if (input.length === 0) return fail('model id is empty');
  if (input.length > MAX_MODEL_ID_LENGTH) {
    return fail(
      `model id ${quote(input)} is too long: ${input.length} characters, at most ${MAX_MODEL_ID_LENGTH} allowed`,
    );
  }
  const invisible = INVISIBLE.exec(input);
  if (invisible !== null) {
    return fail(
      `model id ${quote(input)} contains whitespace or a control character ` +
        `(${codePoint(invisible[0])} at position ${invisible.index})`,
    );
  }
  if (input.includes('\\')) return fail(`model id ${quote(input)} contains a backslash; use org/name`);
  if (input.startsWith('/')) return fail(`model id ${quote(input)} is an absolute path; use org/name`);

  const at = input.indexOf('@');
  const id = at === -1 ? input : input.slice(0, at);
  const revision = at === -1 ? DEFAULT_REVISION : input.slice(at + 1);

  const idProblem = checkId(id);
  if (idProblem !== undefined) return fail(`model id ${quote(input)} ${idProblem}`);
  if (at !== -1) {
    const revisionProblem = checkRevision(revision);
    if (revisionProblem !== undefined) return fail(`model id ${quote(input)} ${revisionProblem}`);
  }
  return { ok: true, ref: { id, revision, key: modelKey(id, revision) } };
}

function checkId(id: string): string | undefined {
  if (id.length === 0) return "has no repository name before '@'";
  const segments = id.split('/');
  if (segments.includes('..')) return "contains a '..' path segment";
  // The Hub refuses '..' anywhere in a repository id, not only as a whole segment.
  if (id.includes('..')) return "contains '..'";
  if (segments.length > 2) {
    return `has ${segments.length} path segments; expected org/name (the revision goes after '@')`;
  }
  for (const segment of segments) {
    if (segment.length === 0) return 'has an empty path segment; expected org/name';
    if (!ID_SEGMENT.test(segment)) {
      return `has characters other than letters, digits, '.', '_' and '-' in ${quote(segment)}`;
    }
    if (segment.startsWith('.') || segment.startsWith('-')) {
      return `has a path segment starting with '${segment[0]}': ${quote(segment)}`;
    }
  }
  return undefined;
}

function checkRevision(revision: string): string | undefined {
  if (revision.length === 0) return "has an empty revision after '@'";
  if (!REVISION.test(revision)) {
    return `has a revision with characters other than letters, digits, '.', '_', '-' and '/': ${quote(revision)}`;
  }
  if (revision.includes('..')) return `has '..' in its revision ${quote(revision)}`;
  if (revision.startsWith('/') || revision.endsWith('/')) {
    return `has a revision that starts or ends with '/': ${quote(revision)}`;
  }
  if (revision.includes('//')) return `has an empty path segment in its revision ${quote(revision)}`;
  return undefined;
}

function fail(message: string): ParseModelIdResult {
  return { ok: false, message };
}

// Echoes user input safely: JSON quoting escapes control characters, and a cap keeps a 10 kB id out of the message.
function quote(text: string): string {
  const max = 80;
  return JSON.stringify(text.length > max ? `${text.slice(0, max)}…` : text);
}

function codePoint(char: string): string {
  // A regex match is never empty, so there is always a first code point.
  return `U+${(char.codePointAt(0) as number).toString(16).toUpperCase().padStart(4, '0')}`;
}

function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}
