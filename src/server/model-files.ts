/**
 * Which files of a Hub repository transformers.js 4.3.1 needs to run it as a causal language model. Pure functions
 * over the repository listing and `config.json`; nothing here touches the network or the disk.
 *
 * What transformers.js reads, from its sources: `AutoTokenizer` reads `tokenizer.json` and `tokenizer_config.json`
 * (the chat template lives in the latter; it never reads `special_tokens_map.json` or `chat_template.jinja`),
 * `AutoConfig` reads `config.json`, and a decoder-only model reads `onnx/model{suffix}.onnx`, its external data
 * chunks `…onnx_data`, `…onnx_data_1`, … and, optionally, `generation_config.json`.
 */

import type { HubFile } from './hub-client.js';

/** ONNX weight precisions transformers.js knows (its `DATA_TYPES`, without `auto`). */
export type OnnxDtype =
  'fp32' | 'fp16' | 'q8' | 'int8' | 'uint8' | 'q4' | 'q4f16' | 'q2' | 'q2f16' | 'q1' | 'q1f16' | 'bnb4';

/** File-name suffix per dtype: transformers.js `utils/dtypes.js` `DEFAULT_DTYPE_SUFFIX_MAPPING`. */
export const DTYPE_SUFFIX: Readonly<Record<OnnxDtype, string>> = {
  fp32: '',
  fp16: '_fp16',
  int8: '_int8',
  uint8: '_uint8',
  q8: '_quantized',
  q4: '_q4',
  q2: '_q2',
  q1: '_q1',
  q4f16: '_q4f16',
  q2f16: '_q2f16',
  q1f16: '_q1f16',
  bnb4: '_bnb4',
};

/** The order in which dtypes are tried when neither the loader option nor the model's config names one. */
export const DEFAULT_DTYPE_PREFERENCE: readonly OnnxDtype[] = ['fp32', 'q8', 'q4', 'fp16'];

/** Files the tokenizer needs; both are required. */
export const TOKENIZER_FILES: readonly string[] = ['tokenizer.json', 'tokenizer_config.json'];

/** Where transformers.js looks for a decoder-only model's weights (its `subfolder` and `model_file_name` defaults). */
const WEIGHTS_DIR = 'onnx';
const WEIGHTS_BASE = 'model';

/** transformers.js refuses more external data chunks than this (`MAX_EXTERNAL_DATA_CHUNKS`). */
const MAX_EXTERNAL_DATA_CHUNKS = 100;

/** True when `name` is a dtype transformers.js knows. */
export function isOnnxDtype(name: string): name is OnnxDtype {
  return Object.hasOwn(DTYPE_SUFFIX, name);
}

/** Path of the main ONNX file for `dtype`, e.g. `onnx/model_quantized.onnx` for `q8`. */
export function onnxPath(dtype: OnnxDtype): string {
  return `${WEIGHTS_DIR}/${WEIGHTS_BASE}${DTYPE_SUFFIX[dtype]}.onnx`;
}

/** True when the listing has at least one `.onnx` file under `onnx/`. */
export function hasOnnxWeights(listing: readonly HubFile[]): boolean {
  return listing.some((file) => file.path.startsWith(`${WEIGHTS_DIR}/`) && file.path.endsWith('.onnx'));
}

/** Result of a selection: the files, or a problem to report. */
export type Selection<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly problem: string };

/** The tokenizer files from the listing; a problem names the missing ones. */
export function selectTokenizerFiles(listing: readonly HubFile[]): Selection<HubFile[]> {
  return requireFiles(listing, TOKENIZER_FILES, 'a tokenizer for transformers.js');
}

/** `config.json` (required) and `generation_config.json` (when the repository has one). */
export function selectConfigFiles(listing: readonly HubFile[]): Selection<HubFile[]> {
  const required = requireFiles(listing, ['config.json'], 'a config.json');
  if (!required.ok) return required;
  const generation = listing.find((file) => file.path === 'generation_config.json');
  return { ok: true, value: generation === undefined ? required.value : [...required.value, generation] };
}

/** The chosen weights. */
export interface WeightSelection {
  /** The precision chosen; passed to transformers.js as `dtype`. */
  readonly dtype: OnnxDtype;
  /** The ONNX file first, then its external data chunks in order. */
  readonly files: readonly HubFile[];
  /** How many `_data` chunks the ONNX file has; passed to transformers.js as `use_external_data_format`. */
  readonly externalDataChunks: number;
}

/**
 * Chooses the ONNX weights: the `requested` dtype if given (it must be present), else the config's
 * `transformers.js_config.dtype` if present, else the first present of {@link DEFAULT_DTYPE_PREFERENCE}.
 * External data chunks are the consecutive `…onnx_data`, `…onnx_data_1`, … present in the listing.
 */
export function selectWeightFiles(
  listing: readonly HubFile[],
  config: unknown,
  requested?: string,
): Selection<WeightSelection> {
  const byPath = new Map(listing.map((file) => [file.path, file]));
  const available = (Object.keys(DTYPE_SUFFIX) as OnnxDtype[]).filter((dtype) => byPath.has(onnxPath(dtype)));
  if (available.length === 0) {
    return { ok: false, problem: `has no ${WEIGHTS_DIR}/${WEIGHTS_BASE}*.onnx weights for transformers.js` };
  }
  let dtype: OnnxDtype | undefined;
  if (requested !== undefined) {
    if (!isOnnxDtype(requested)) {
      const known = Object.keys(DTYPE_SUFFIX).join(', ');
      return { ok: false, problem: `cannot be loaded with dtype ${requested}: transformers.js knows ${known}` };
    }
    if (!available.includes(requested)) {
      return {
        ok: false,
        problem: `has no ${onnxPath(requested)} for dtype ${requested}; available: ${available.join(', ')}`,
      };
    }
    dtype = requested;
  } else {
    const configured = configDtype(config);
    dtype =
      configured !== undefined && available.includes(configured)
        ? configured
        : DEFAULT_DTYPE_PREFERENCE.find((candidate) => available.includes(candidate));
    // A repository with only exotic precisions (say q4f16 alone) is still loadable.
    dtype ??= available[0];
  }
  if (dtype === undefined) return { ok: false, problem: 'has no usable ONNX weights' };

  const main = byPath.get(onnxPath(dtype));
  if (main === undefined) return { ok: false, problem: `has no ${onnxPath(dtype)}` };
  const files: HubFile[] = [main];
  for (let chunk = 0; chunk < MAX_EXTERNAL_DATA_CHUNKS; chunk += 1) {
    const data = byPath.get(externalDataPath(main.path, chunk));
    if (data === undefined) break;
    files.push(data);
  }
  return { ok: true, value: { dtype, files, externalDataChunks: files.length - 1 } };
}

/** transformers.js's name for external data chunk `index` of `onnxFile` (`getExternalDataChunkNames`). */
export function externalDataPath(onnxFile: string, index: number): string {
  return `${onnxFile}_data${index === 0 ? '' : `_${index}`}`;
}

/** The dtype `config.json` asks for in `transformers.js_config.dtype` (a string, or a per-session map's `model`). */
function configDtype(config: unknown): OnnxDtype | undefined {
  if (typeof config !== 'object' || config === null) return undefined;
  const custom = (config as Record<string, unknown>)['transformers.js_config'];
  if (typeof custom !== 'object' || custom === null) return undefined;
  const dtype = (custom as Record<string, unknown>)['dtype'];
  const value = typeof dtype === 'object' && dtype !== null ? (dtype as Record<string, unknown>)[WEIGHTS_BASE] : dtype;
  return typeof value === 'string' && isOnnxDtype(value) ? value : undefined;
}

function requireFiles(listing: readonly HubFile[], paths: readonly string[], what: string): Selection<HubFile[]> {
  const byPath = new Map(listing.map((file) => [file.path, file]));
  const missing = paths.filter((path) => !byPath.has(path));
  if (missing.length > 0) return { ok: false, problem: `has no ${missing.join(' or ')}, needed for ${what}` };
  return { ok: true, value: paths.map((path) => byPath.get(path)).filter((file) => file !== undefined) };
}
