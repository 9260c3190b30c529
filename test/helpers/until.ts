/**
 * Polls `check` every 40 ms until it returns a truthy value, and resolves with it; rejects with "timed out waiting for
 * {what}" after `ms`. For what a person would wait to read on screen, not for timing assertions.
 */
export async function until<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  ms = 60_000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 40));
  }
}
