/**
 * Failing to bind an address is the user's to fix (`--host`, `--port`), not a bug: the servers (modeldeck's and the
 * mirror's) name the reason here and the command line turns it into advice.
 */

import { LocalError } from './local-errors.js';

/** Why an address could not be bound: its code in the local error catalogue. */
export type ListenErrorReason = 'MD_LISTEN_PORT_IN_USE' | 'MD_LISTEN_NO_SUCH_ADDRESS' | 'MD_LISTEN_NOT_PERMITTED';

/** A failure to bind `host:port`, with a reason (`code`) a command line can turn into advice. */
export class ListenError extends LocalError<ListenErrorReason> {
  override readonly name = 'ListenError';
  constructor(
    reason: ListenErrorReason,
    readonly host: string,
    readonly port: number,
    options?: { cause?: unknown },
  ) {
    super(reason, host, port);
    // As `new Error(message, {cause})` sets it: an own property that is not enumerable.
    if (options !== undefined && 'cause' in options) {
      Object.defineProperty(this, 'cause', { value: options.cause, writable: true, configurable: true });
    }
  }
}

/** The {@link ListenErrorReason} of a `listen()` failure, if it is one the user can fix. */
export function listenErrorReason(error: unknown): ListenErrorReason | undefined {
  switch ((error as NodeJS.ErrnoException | undefined)?.code) {
    case 'EADDRINUSE':
      return 'MD_LISTEN_PORT_IN_USE';
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'MD_LISTEN_NO_SUCH_ADDRESS';
    case 'EACCES':
      return 'MD_LISTEN_NOT_PERMITTED';
    default:
      return undefined;
  }
}
