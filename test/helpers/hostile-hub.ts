import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A hub in front of a real one (the mirror) that answers some requests its own way, for tests of hubs that misbehave:
 * listings that never end, redirects to other schemes. Every other request goes to the real hub unchanged (its `Host`
 * header too, so the links it writes point back here).
 */
export interface HostileHub {
  readonly url: string;
  /** Every request it got, `METHOD /path?query`, then ` bytes=…` for a ranged one, in order. */
  readonly requests: string[];
  /** Requests whose answer has not closed yet. */
  open(): number;
  close(): Promise<void>;
}

/** Answers `req` itself and returns true, or returns false to pass it to the real hub. */
export type Override = (req: IncomingMessage, res: ServerResponse, url: URL) => boolean;

/** Starts a {@link HostileHub} on 127.0.0.1:0 in front of `upstream`. */
export async function startHostileHub(upstream: string, override: Override): Promise<HostileHub> {
  const requests: string[] = [];
  let open = 0;
  const server = createServer((req, res) => {
    const range = req.headers.range;
    requests.push(`${req.method} ${req.url}${range === undefined ? '' : ` ${range}`}`);
    open += 1;
    res.once('close', () => (open -= 1));
    const url = new URL(req.url ?? '/', 'http://hub.invalid');
    if (override(req, res, url)) return;
    const forwarded = request(`${upstream}${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    forwarded.on('error', () => res.destroy());
    req.pipe(forwarded);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    open: () => open,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A listing entry of a made-up file: `count` of them from `first` on, as the Hub's tree API lists files. */
export function madeUpEntries(
  first: number,
  count: number,
): { type: 'file'; path: string; size: number; oid: string }[] {
  return Array.from({ length: count }, (_, i) => ({
    type: 'file' as const,
    path: `made-up/file-${first + i}.bin`,
    size: 1,
    oid: (first + i).toString(16).padStart(40, '0'),
  }));
}

/**
 * An override: the tree listing of `repo` is `perPage` made-up files a page, and every page has a `next` link (to a
 * new cursor each time), so the listing never ends. Each page waits `delayMs` first.
 */
export function endlessPages(repo: string, perPage: number, delayMs = 0): Override {
  return (req, res, url) => {
    if (!url.pathname.startsWith(`/api/models/${repo}/tree/`)) return false;
    const cursor = Number(url.searchParams.get('cursor') ?? '0');
    const next = new URL(url.pathname, `http://${req.headers.host}`);
    next.search = url.search;
    next.searchParams.set('cursor', String(cursor + 1));
    const send = (): void => {
      res.writeHead(200, { 'content-type': 'application/json', link: `<${next.toString()}>; rel="next"` });
      res.end(JSON.stringify(madeUpEntries(cursor * perPage, perPage)));
    };
    if (delayMs > 0) setTimeout(send, delayMs);
    else send();
    return true;
  };
}

/** An override: the tree listing of `repo` is one page, a JSON array that never ends (written as fast as read). */
export function endlessPage(repo: string): Override {
  return (_req, res, url) => {
    if (!url.pathname.startsWith(`/api/models/${repo}/tree/`)) return false;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('[');
    let n = 0;
    const more = (): void => {
      while (!res.destroyed) {
        const chunk = madeUpEntries(n, 100)
          .map((entry) => JSON.stringify(entry))
          .join(',');
        n += 100;
        if (!res.write(`${chunk},`)) {
          res.once('drain', more);
          return;
        }
      }
    };
    more();
    return true;
  };
}

/** An override: a `GET` whose path is `path` answers `status` with `headers` (a redirect, say), and no body. */
export function answerWith(path: string, status: number, headers: Record<string, string>): Override {
  return (_req, res, url) => {
    if (url.pathname !== path) return false;
    res.writeHead(status, { ...headers, 'content-length': '0' });
    res.end();
    return true;
  };
}

/** Tries each override in turn. */
export function overrides(...each: Override[]): Override {
  return (req, res, url) => each.some((override) => override(req, res, url));
}
