import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEMO_GENERATOR_VERSION, generateDemoModels } from '../../src/demo/demo-models.js';

/**
 * A directory of generated demo models shared by the test files of one machine (generation is idempotent and
 * renames each finished repository into place, so parallel test files never see a half-written model).
 */
export async function demoModelsDir(only: string[] = ['modeldeck/tiny-chat']): Promise<string> {
  const dir = join(tmpdir(), `modeldeck-test-models-v${DEMO_GENERATOR_VERSION}`);
  await generateDemoModels(dir, { only });
  return dir;
}
