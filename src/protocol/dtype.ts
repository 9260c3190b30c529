/**
 * The ONNX weights variants (dtypes) a load may ask for: the vocabulary of `POST /load_model`'s optional `dtype`,
 * of `modeldeck serve --dtype` and of the clients that send it. Pure; which files each one means is the server's
 * (`src/server/fetch/model-files.ts`).
 */

/** ONNX weight precisions transformers.js knows (its `DATA_TYPES`, without `auto`). */
export type OnnxDtype =
  'fp32' | 'fp16' | 'q8' | 'int8' | 'uint8' | 'q4' | 'q4f16' | 'q2' | 'q2f16' | 'q1' | 'q1f16' | 'bnb4';

/** Every dtype, in the order error messages list them. */
export const DTYPE_NAMES: readonly OnnxDtype[] = [
  'fp32',
  'fp16',
  'q8',
  'int8',
  'uint8',
  'q4',
  'q4f16',
  'bnb4',
  'q2',
  'q2f16',
  'q1',
  'q1f16',
];

/** The entry of a dtype preference list that stands for the default choice (config, then the default order). */
export const AUTO_DTYPE = 'auto';

/** True when `name` is a dtype transformers.js knows. */
export function isOnnxDtype(name: string): name is OnnxDtype {
  return (DTYPE_NAMES as readonly string[]).includes(name);
}

/**
 * Parses a dtype preference: a string (`"q4"`, or a comma-separated list `"q4,q8,fp32"`) or a list of strings.
 * Every entry must be a dtype transformers.js knows or `auto`; the problem names the valid values.
 */
export function parseDtypePreference(
  input: unknown,
): { readonly ok: true; readonly value: string[] } | { readonly ok: false; readonly problem: string } {
  const entries = typeof input === 'string' ? input.split(',') : Array.isArray(input) ? (input as unknown[]) : null;
  const valid = `valid values: ${[...DTYPE_NAMES, AUTO_DTYPE].join(', ')}`;
  if (entries === null || entries.length === 0) {
    return {
      ok: false,
      problem: `dtype must be a string or a list of strings, got ${describeValue(input)} (${valid})`,
    };
  }
  const list: string[] = [];
  for (const entry of entries) {
    const name = typeof entry === 'string' ? entry.trim() : entry;
    if (typeof name !== 'string' || (name !== AUTO_DTYPE && !isOnnxDtype(name))) {
      return { ok: false, problem: `unknown dtype ${describeValue(name)} (${valid})` };
    }
    if (!list.includes(name)) list.push(name);
  }
  return { ok: true, value: list };
}

function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null) return 'null';
  if (Array.isArray(value)) return value.length === 0 ? 'an empty list' : 'an array';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${String(value)}`;
}
