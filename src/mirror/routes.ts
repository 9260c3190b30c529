/**
 * The Hub URLs the mirror answers, parsed into plain data. Pure: deciding where a revision name ends and a file path
 * begins needs the filesystem, so file routes carry every way of splitting and the server tries them in order.
 */

/** One way of reading `{revision}/{path…}`. */
export interface RevisionSplit {
  /** Decoded revision name (may contain `/`). */
  readonly revision: string;
  /** Decoded repo-relative path; '' for the top of the tree. */
  readonly path: string;
}

/**
 * A request the mirror understands.
 *
 * - `resolve`: `/{org}/{name}/resolve/{revision}/{path…}`, a file.
 * - `tree`: `/api/models/{org}/{name}/tree/{revision}[/{path…}]`, a listing (`recursive=true|True|1` for the whole
 *   tree; `cursor=N` for a later page).
 * - `info`: `/api/models/{org}/{name}` (revision `main`) or `/api/models/{org}/{name}/revision/{revision}`.
 * - `paths-info`: `POST /api/models/{org}/{name}/paths-info/{revision}`, entries of the paths its body names.
 * - `unknown`: anything else (404). `bad`: a URL that cannot be decoded (400).
 */
export type MirrorRoute =
  | { readonly kind: 'resolve'; readonly org: string; readonly name: string; readonly splits: readonly RevisionSplit[] }
  | {
      readonly kind: 'tree';
      readonly org: string;
      readonly name: string;
      readonly splits: readonly RevisionSplit[];
      readonly recursive: boolean;
      /** `cursor=N` of a `Link: rel="next"` the mirror sent: the index of the page's first entry. 0 without one. */
      readonly cursor: number;
    }
  | {
      readonly kind: 'info';
      readonly org: string;
      readonly name: string;
      readonly revision: string;
      readonly blobs: boolean;
    }
  | { readonly kind: 'paths-info'; readonly org: string; readonly name: string; readonly revision: string }
  | { readonly kind: 'unknown' }
  | { readonly kind: 'bad'; readonly reason: string };

/**
 * Parse a request target (`/org/name/resolve/main/config.json?x=y`). Each segment is percent-decoded on its own, so
 * an encoded revision (`refs%2Fpr%2F1`) stays one segment; unencoded, `refs/pr/1` is offered as one of the splits.
 * Splits list the shortest revision first.
 */
export function parseMirrorRoute(target: string): MirrorRoute {
  const url = toUrl(target);
  const raw = url.pathname.split('/').slice(1);
  let segments: string[];
  try {
    segments = raw.map((segment) => decodeURIComponent(segment));
  } catch {
    return { kind: 'bad', reason: 'malformed percent-encoding in the URL path' };
  }
  // huggingface_hub sends Python's `True`; others `true` or `1`.
  const flag = (name: string): boolean => ['true', '1'].includes((url.searchParams.get(name) ?? '').toLowerCase());

  if (segments[0] === 'api' && segments[1] === 'models') {
    const [, , org, name, action, ...rest] = segments;
    if (org === undefined || name === undefined) return { kind: 'unknown' };
    if (action === undefined || (action === '' && rest.length === 0))
      return { kind: 'info', org, name, revision: 'main', blobs: flag('blobs') };
    if (action === 'revision' && rest.length > 0)
      return { kind: 'info', org, name, revision: rest.join('/'), blobs: flag('blobs') };
    if (action === 'paths-info') return { kind: 'paths-info', org, name, revision: rest.join('/') || 'main' };
    if (action === 'tree' && rest.length > 0) {
      const cursor = url.searchParams.get('cursor') ?? '0';
      if (!/^\d{1,9}$/.test(cursor)) return { kind: 'bad', reason: `invalid cursor ${JSON.stringify(cursor)}` };
      return {
        kind: 'tree',
        org,
        name,
        splits: splitsOf(rest, true),
        recursive: flag('recursive'),
        cursor: Number(cursor),
      };
    }
    return { kind: 'unknown' };
  }
  const [org, name, action, ...rest] = segments;
  if (org !== undefined && name !== undefined && action === 'resolve' && rest.length >= 2) {
    return { kind: 'resolve', org, name, splits: splitsOf(rest, false) };
  }
  return { kind: 'unknown' };
}

/** The decoded URL path of a request target, or the raw one if it cannot be decoded. For fault matching. */
export function decodedPathname(target: string): string {
  const pathname = toUrl(target).pathname;
  try {
    return decodeURIComponent(pathname);
  } catch {
    return pathname;
  }
}

// Prefixing rather than resolving against a base keeps `//x/y` a path instead of a host named `x`.
function toUrl(target: string): URL {
  if (target.startsWith('/')) return new URL(`http://mirror.invalid${target}`);
  try {
    return new URL(target);
  } catch {
    return new URL(`http://mirror.invalid/${target}`);
  }
}

function splitsOf(rest: readonly string[], allowEmptyPath: boolean): RevisionSplit[] {
  const splits: RevisionSplit[] = [];
  const last = allowEmptyPath ? rest.length : rest.length - 1;
  for (let i = 1; i <= last; i += 1) {
    splits.push({ revision: rest.slice(0, i).join('/'), path: rest.slice(i).join('/') });
  }
  return splits;
}
