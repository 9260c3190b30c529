/**
 * `X-Request-ID`: the id that ties one request to its log lines and its feed events. A client may send its own; the
 * server echoes it when it is usable and mints one otherwise.
 */

/** The header's name, as the server writes it. */
export const REQUEST_ID_HEADER = 'x-request-id';

/** The longest id the server keeps, in characters. */
const MAX_REQUEST_ID_LENGTH = 128;

/**
 * True when `value` may be echoed as is: 1 to {@link MAX_REQUEST_ID_LENGTH} visible ASCII characters (no space, no
 * control character), so that it is safe in a header, a log line and a JSON field.
 */
export function isUsableRequestId(value: unknown): value is string {
  return typeof value === 'string' && value.length <= MAX_REQUEST_ID_LENGTH && /^[\x21-\x7e]+$/.test(value);
}
