/** The `code` Node puts on system errors, wherever a fetch, a socket or a file system call buried it. */

/** The `code` of an error or of its chain of causes (undici wraps socket errors in `TypeError: fetch failed`). */
export function errorCodeOf(error: unknown): string | undefined {
  for (let current = error, depth = 0; current !== undefined && current !== null && depth < 5; depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}
