/**
 * Failing to bind an address is the user's to fix (`--host`, `--port`), not a bug: the servers (modeldeck's and the
 * mirror's) name the reason here and the command line turns it into advice.
 */

/** Why an address could not be bound. */
export type ListenErrorReason = 'port-in-use' | 'no-such-address' | 'not-permitted';

/** A failure to bind `host:port`, with a reason a command line can turn into advice. */
export class ListenError extends Error {
  override readonly name = 'ListenError';
  constructor(
    readonly reason: ListenErrorReason,
    readonly host: string,
    readonly port: number,
    options?: { cause?: unknown },
  ) {
    super(`cannot listen on ${host}:${port}: ${reason}`, options);
  }
}

/** The {@link ListenErrorReason} of a `listen()` failure, if it is one the user can fix. */
export function listenErrorReason(error: unknown): ListenErrorReason | undefined {
  switch ((error as NodeJS.ErrnoException | undefined)?.code) {
    case 'EADDRINUSE':
      return 'port-in-use';
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'no-such-address';
    case 'EACCES':
      return 'not-permitted';
    default:
      return undefined;
  }
}
