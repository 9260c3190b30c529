// A hand-written HTTP server of a test, on an ephemeral loopback port for the test's life.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Listens on 127.0.0.1:0, closes (open connections too) at `t`'s teardown; resolves with `http://127.0.0.1:PORT`. */
export async function listenForTest(t: { teardown(fn: () => Promise<void>): void }, server: Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}
