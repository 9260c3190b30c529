// A loopback HTTP proxy in front of a real hub (the mirror) that holds the requests a test names until it lets them
// go, so that a test can keep a load at a known point (its listing sent, no answer yet) while other loads arrive.
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** The proxy and its gate. */
export interface GateProxy {
  /** `http://127.0.0.1:PORT`: give it to the server as its hub. */
  readonly url: string;
  /** Requests held so far (their URL paths), in arrival order, released or not. */
  readonly held: string[];
  /** Lets every held request through, and every later one that `hold` matches. */
  open(): void;
  close(): Promise<void>;
}

/** Starts a proxy to `target` that holds each request whose path `hold` matches until {@link GateProxy.open}. */
export async function startGateProxy(target: string, hold: (path: string) => boolean): Promise<GateProxy> {
  const upstream = new URL(target);
  const held: string[] = [];
  const waiting: (() => void)[] = [];
  let opened = false;
  const forward = (req: IncomingMessage, res: ServerResponse): void => {
    const out = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: upstream.host },
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    out.on('error', () => res.destroy());
    req.pipe(out);
  };
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (opened || !hold(path)) return forward(req, res);
    held.push(path);
    waiting.push(() => forward(req, res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    held,
    open() {
      opened = true;
      for (const go of waiting.splice(0)) go();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
