/**
 * Copies of the generated tiny-chat that differ only in where their chat template is kept, as repositories on the Hub
 * keep it: in tokenizer_config.json (as generated), in a root chat_template.jinja, in both, or nowhere (a base model).
 */
import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { demoModelsDir } from './demo.js';

/** Where one copy keeps its chat template. */
interface TemplatePlace {
  /** Whether tokenizer_config.json keeps tiny-chat's template (false: the key is removed). */
  readonly inConfig: boolean;
  /** The root chat_template.jinja, made from tiny-chat's template; no such file without it. */
  readonly jinja?: (template: string) => string;
}

/** Lays out a tiny-chat copy under `root` for each `org/name` of `repos`; resolves with tiny-chat's own template. */
export async function layOutTemplateRepos(
  root: string,
  repos: Readonly<Record<string, TemplatePlace>>,
): Promise<string> {
  const tiny = join(await demoModelsDir(), 'modeldeck', 'tiny-chat');
  const { chat_template: template, ...withoutTemplate } = JSON.parse(
    await readFile(join(tiny, 'tokenizer_config.json'), 'utf8'),
  ) as { chat_template: string };
  for (const [id, place] of Object.entries(repos)) {
    const repo = join(root, id);
    await cp(tiny, repo, { recursive: true });
    if (!place.inConfig) await writeFile(join(repo, 'tokenizer_config.json'), JSON.stringify(withoutTemplate));
    if (place.jinja) await writeFile(join(repo, 'chat_template.jinja'), place.jinja(template));
  }
  return template;
}
