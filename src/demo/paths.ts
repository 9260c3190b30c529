/**
 * Where `modeldeck demo-models` writes by default.
 */
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';

/**
 * Default directory for generated demo models (a directory of repositories, `{dir}/{org}/{name}/`):
 * `$XDG_CACHE_HOME/modeldeck/demo-models` when `XDG_CACHE_HOME` is set to an absolute path (the XDG spec says to
 * ignore relative ones), else `{os temp dir}/modeldeck-demo-models`. Both are stable across runs of the same user, and
 * the contents can always be regenerated in seconds, which is why a cache or temp location is the right home.
 */
export function defaultDemoDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env['XDG_CACHE_HOME'];
  if (xdg !== undefined && xdg !== '' && isAbsolute(xdg)) return join(xdg, 'modeldeck', 'demo-models');
  return join(tmpdir(), 'modeldeck-demo-models');
}
