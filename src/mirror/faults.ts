/**
 * Injected faults: what they are, which request they hit, how many times, and the `--fault` text syntax. Pure except
 * for the counters a fault table keeps.
 */
import { LocalError } from '../common/local-errors.js';

/** Fields every fault has: what it matches and how often it fires. */
export interface FaultTarget {
  /**
   * Which requests it hits. A repo-relative file path (`config.json`) or a glob over one (`onnx/*`; `*` and `?` stay
   * inside one path segment, `**` crosses them), matched against `/resolve/` requests. A pattern that starts with `/`
   * is matched against the decoded URL path of any request instead (`/api/models/**`), so API listings can fail too.
   */
  readonly path: string;
  /** Only this repository (`org/name`, globs allowed). Default: any. */
  readonly repo?: string;
  /** Fire for the first `times` matching requests, then behave normally (a retry succeeds). Default: forever. */
  readonly times?: number;
}

/**
 * Answer with this status and a Hub-like JSON error body instead of the real response. Applies to GET and HEAD. A 429
 * says when to come back as the Hub does: `Retry-After` and `RateLimit: "resolvers";r=0;t=…`.
 */
export interface StatusFault extends FaultTarget {
  readonly kind: 'status';
  /** HTTP status, 400–599. */
  readonly status: number;
  /** Seconds a 429 or 503 asks to wait (`Retry-After`); default 1 for a 429, none for others. */
  readonly retryAfter?: number;
}

/** Send the headers and `afterBytes` bytes of the body, then reset the connection (TCP RST). GET only. */
export interface ResetFault extends FaultTarget {
  readonly kind: 'reset';
  /** Body bytes sent before the reset. */
  readonly afterBytes: number;
}

/**
 * Send the full `Content-Length` but only `bytes` bytes of the body, then close the connection cleanly (FIN), so the
 * client sees a short body. GET only.
 */
export interface TruncateFault extends FaultTarget {
  readonly kind: 'truncate';
  /** Body bytes sent before the close. */
  readonly bytes: number;
}

/**
 * Send `afterBytes` bytes of the body, then nothing more; the socket stays open until the client goes away or the
 * mirror closes. GET only.
 */
export interface StallFault extends FaultTarget {
  readonly kind: 'stall';
  /** Body bytes sent before going silent. */
  readonly afterBytes: number;
}

/**
 * Send the whole body, but with the byte at offset `afterBytes` inverted (every bit flipped): corruption in transit,
 * which only a checksum notices. GET only.
 */
export interface FlipFault extends FaultTarget {
  readonly kind: 'flip';
  /** Offset of the byte to flip. */
  readonly afterBytes: number;
}

/**
 * A fault the mirror can inject. A fault is checked only once the request's repository and revision are found (a
 * missing one is still a plain 404) and after the token check; faults on body bytes apply to GET bodies only (a HEAD
 * has none) and never to error bodies. The first matching fault with firings left wins.
 *
 * The byte counts of body faults are offsets into the file: a response with a `Range` is hit only when its range holds
 * that offset (a fault at byte 50,000,000 hits the one part of a parallel download that covers it, cut at that byte),
 * while a whole-file response is hit as if it started at 0 (a count past its end sends it all, then acts).
 */
export type MirrorFault = StatusFault | ResetFault | TruncateFault | StallFault | FlipFault;

/** The kinds of {@link MirrorFault}. */
export type FaultKind = MirrorFault['kind'];

/** What a request offers to be matched against. */
export interface FaultSubject {
  /** The decoded URL path, e.g. `/org/name/resolve/main/onnx/model.onnx`. */
  readonly pathname: string;
  /** The repository the request is about, if any (`org/name`). */
  readonly repo?: string;
  /** For `/resolve/` requests: the repo-relative file path. */
  readonly path?: string;
}

/** The faults in force and how many times each has fired. */
export interface FaultTable {
  /**
   * The first fault of one of `kinds` that matches and has firings left, counting this one; `undefined` if none.
   * Faults of other kinds are neither returned nor counted.
   */
  take(
    subject: FaultSubject,
    kinds: readonly FaultKind[],
    accept?: (fault: MirrorFault) => boolean,
  ): MirrorFault | undefined;
  /** Replace the faults; counters start again from zero. */
  set(faults: readonly MirrorFault[]): void;
}

/** Create a fault table, validating each fault (throws {@link FaultSpecError} on a bad one). */
export function createFaultTable(faults: readonly MirrorFault[] = []): FaultTable {
  let entries: { fault: MirrorFault; fired: number; path: RegExp; repo: RegExp | undefined }[] = [];
  const table: FaultTable = {
    take(subject, kinds, accept) {
      for (const entry of entries) {
        if (!kinds.includes(entry.fault.kind)) continue;
        if (entry.fault.times !== undefined && entry.fired >= entry.fault.times) continue;
        if (!matches(entry, subject)) continue;
        if (accept !== undefined && !accept(entry.fault)) continue;
        entry.fired += 1;
        return entry.fault;
      }
      return undefined;
    },
    set(next) {
      entries = next.map((fault) => {
        validateFault(fault);
        return {
          fault,
          fired: 0,
          path: globToRegExp(fault.path),
          repo: fault.repo === undefined ? undefined : globToRegExp(fault.repo),
        };
      });
    },
  };
  table.set(faults);
  return table;
}

function matches(
  entry: { path: RegExp; repo: RegExp | undefined; fault: MirrorFault },
  subject: FaultSubject,
): boolean {
  if (entry.repo !== undefined && (subject.repo === undefined || !entry.repo.test(subject.repo))) return false;
  const target = entry.fault.path.startsWith('/') ? subject.pathname : subject.path;
  return target !== undefined && entry.path.test(target);
}

/**
 * Turn a glob into an anchored RegExp: `*` and `?` stay within a path segment, `**` crosses segments, and `**\/` may
 * also match nothing (so `**\/*.onnx` matches `model.onnx`). Everything else is literal.
 */
export function globToRegExp(glob: string): RegExp {
  let source = '';
  for (let i = 0; i < glob.length; i += 1) {
    const c = glob[i] as string;
    if (c === '*' && glob[i + 1] === '*') {
      if (glob[i + 2] === '/') {
        source += '(?:.*/)?';
        i += 2;
      } else {
        source += '.*';
        i += 1;
      }
    } else if (c === '*') {
      source += '[^/]*';
    } else if (c === '?') {
      source += '[^/]';
    } else {
      source += c.replace(/[\\^$.|+()[\]{}]/g, '\\$&');
    }
  }
  return new RegExp(`^${source}$`);
}

/** A fault or fault spec that cannot be used; the message names the problem. */
export class FaultSpecError<
  C extends 'MD_MIRROR_FAULT' | 'MD_MIRROR_FAULT_SPEC' = 'MD_MIRROR_FAULT' | 'MD_MIRROR_FAULT_SPEC',
> extends LocalError<C> {
  override readonly name = 'FaultSpecError';
}

function validateFault(fault: MirrorFault): void {
  if (typeof fault.path !== 'string' || fault.path === '')
    throw new FaultSpecError('MD_MIRROR_FAULT', 'a fault needs a non-empty path pattern');
  if (fault.times !== undefined && !(Number.isInteger(fault.times) && fault.times >= 0)) {
    throw new FaultSpecError('MD_MIRROR_FAULT', `fault times must be a whole number >= 0, got ${String(fault.times)}`);
  }
  switch (fault.kind) {
    case 'status':
      if (!(Number.isInteger(fault.status) && fault.status >= 400 && fault.status <= 599)) {
        throw new FaultSpecError(
          'MD_MIRROR_FAULT',
          `status fault needs a status from 400 to 599, got ${String(fault.status)}`,
        );
      }
      if (fault.retryAfter !== undefined && !(Number.isInteger(fault.retryAfter) && fault.retryAfter >= 0)) {
        throw new FaultSpecError(
          'MD_MIRROR_FAULT',
          `retryAfter must be a whole number of seconds >= 0, got ${String(fault.retryAfter)}`,
        );
      }
      return;
    case 'reset':
    case 'stall':
    case 'flip':
      checkCount(fault.kind, fault.afterBytes);
      return;
    case 'truncate':
      checkCount(fault.kind, fault.bytes);
      return;
    default: {
      // Reachable from untyped callers only.
      const unknown: never = fault;
      throw new FaultSpecError(
        'MD_MIRROR_FAULT',
        `unknown fault kind ${JSON.stringify((unknown as { kind: unknown }).kind)}`,
      );
    }
  }
}

function checkCount(kind: FaultKind, bytes: number): void {
  if (!(Number.isInteger(bytes) && bytes >= 0))
    throw new FaultSpecError('MD_MIRROR_FAULT', `${kind} fault needs a byte count >= 0, got ${String(bytes)}`);
}

/** The `--fault` syntax, for help text. */
export const FAULT_SPEC_SYNTAX = 'KIND:N:[REPO:]PATTERN[:xTIMES]';

/**
 * Parse a `--fault` spec: `KIND:N:[REPO:]PATTERN[:xTIMES]`, where KIND is `status` (N = HTTP status), `reset`, `stall`
 * (N = body bytes sent first), `truncate` (N = body bytes sent in all) or `flip` (N = offset of the byte inverted); REPO is an `org/name` (optional); PATTERN is
 * as in {@link FaultTarget.path} and cannot contain `:`; `xTIMES` limits the fault to the first TIMES matching
 * requests. Examples: `status:503:onnx/*`, `reset:1000:org/tiny:onnx/model.onnx:x1`, `stall:0:tokenizer.json`.
 * Throws {@link FaultSpecError} naming the problem.
 */
export function parseFaultSpec(spec: string): MirrorFault {
  const fields = spec.split(':');
  const [kind, count, ...rest] = fields;
  const bad = (why: string): FaultSpecError =>
    new FaultSpecError('MD_MIRROR_FAULT_SPEC', JSON.stringify(spec), why, FAULT_SPEC_SYNTAX);
  if (kind === undefined || count === undefined || rest.length === 0) throw bad('expected at least KIND:N:PATTERN');
  let times: number | undefined;
  const last = rest[rest.length - 1] as string;
  if (rest.length > 1 && /^x\d+$/.test(last)) {
    times = Number(last.slice(1));
    rest.pop();
  }
  if (rest.length > 2) throw bad('too many fields (patterns cannot contain ":")');
  const [repo, path] = rest.length === 2 ? rest : [undefined, rest[0]];
  if (path === undefined || path === '') throw bad('empty PATTERN');
  if (repo === '') throw bad('empty REPO');
  if (!/^\d+$/.test(count)) throw bad(`N must be a whole number, got ${JSON.stringify(count)}`);
  const n = Number(count);
  const target = { path, ...(repo === undefined ? {} : { repo }), ...(times === undefined ? {} : { times }) };
  let fault: MirrorFault;
  switch (kind) {
    case 'status':
      fault = { kind, status: n, ...target };
      break;
    case 'reset':
    case 'stall':
    case 'flip':
      fault = { kind, afterBytes: n, ...target };
      break;
    case 'truncate':
      fault = { kind, bytes: n, ...target };
      break;
    default:
      throw bad(`unknown KIND ${JSON.stringify(kind)}; use status, reset, truncate, stall or flip`);
  }
  try {
    validateFault(fault);
  } catch (error) {
    throw bad((error as Error).message);
  }
  return fault;
}
