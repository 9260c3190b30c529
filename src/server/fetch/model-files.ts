/**
 * Which files of a Hub repository transformers.js 4.3.1 needs to run it as a causal language model. Pure functions
 * over the repository listing and `config.json`; nothing here touches the network or the disk.
 *
 * What transformers.js reads, from its sources: `AutoTokenizer` reads `tokenizer.json` and `tokenizer_config.json`
 * (a chat template may live in the latter; it never reads `special_tokens_map.json` or `chat_template.jinja`, which
 * newer repositories keep their template in: modeldeck fetches that file when listed and the worker hands it over),
 * `AutoConfig` reads `config.json`, and a decoder-only model reads `onnx/model{suffix}.onnx`, its external data
 * chunks `…onnx_data`, `…onnx_data_1`, … and, optionally, `generation_config.json`.
 */

import { AUTO_DTYPE, isOnnxDtype, type OnnxDtype } from '../../protocol/dtype.js';
import type { HubFile } from './hub-client.js';

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

/**
 * The order in which dtypes are tried when neither the request, `--dtype` nor the model's config names one: one that
 * suits a CPU. 8-bit weights first (a quarter of fp32's bytes, fast integer kernels on CPU, close to fp32's
 * quality), then 4-bit (q4 keeps fp32 activations; q4f16 and bnb4 are smaller still), then fp32, and fp16 last: on
 * CPU, ONNX Runtime runs fp16 slower than fp32. q2 and q1 are never chosen unasked unless they are all there is.
 */
export const DEFAULT_DTYPE_ORDER: readonly OnnxDtype[] = ['q8', 'int8', 'uint8', 'q4', 'q4f16', 'bnb4', 'fp32', 'fp16'];

/** Variants of comparable quality: the default order skips one when another of its class is several times smaller. */
const QUALITY_CLASS: Readonly<Record<OnnxDtype, string>> = {
  fp32: 'full',
  fp16: 'full',
  q8: '8-bit',
  int8: '8-bit',
  uint8: '8-bit',
  q4: '4-bit',
  q4f16: '4-bit',
  bnb4: '4-bit',
  q2: '2-bit',
  q2f16: '2-bit',
  q1: '1-bit',
  q1f16: '1-bit',
};

/** "Several times smaller": the default order passes over a variant this many times as big as one of its class. */
export const SIZE_GUARD_RATIO = 3;

/** Files the tokenizer needs; both are required. */
export const TOKENIZER_FILES: readonly string[] = ['tokenizer.json', 'tokenizer_config.json'];

/** Where transformers.js looks for a decoder-only model's weights (its `subfolder` and `model_file_name` defaults). */
const WEIGHTS_DIR = 'onnx';
const WEIGHTS_BASE = 'model';
/** The file name older conversions (Xenova's) use: loaded with transformers.js's `model_file_name` option. */
const LEGACY_WEIGHTS_BASE = 'decoder_model_merged';

/** transformers.js refuses more external data chunks than this (`MAX_EXTERNAL_DATA_CHUNKS`). */
const MAX_EXTERNAL_DATA_CHUNKS = 100;

/**
 * Path of the main ONNX file for `dtype`, e.g. `onnx/model_quantized.onnx` for `q8` (with `base`
 * `decoder_model_merged`: `onnx/decoder_model_merged_quantized.onnx`).
 */
export function onnxPath(dtype: OnnxDtype, base: string = WEIGHTS_BASE): string {
  return `${WEIGHTS_DIR}/${base}${DTYPE_SUFFIX[dtype]}.onnx`;
}

/** True when the listing has at least one `.onnx` file under `onnx/`. */
export function hasOnnxWeights(listing: readonly HubFile[]): boolean {
  return listing.some((file) => file.path.startsWith(`${WEIGHTS_DIR}/`) && file.path.endsWith('.onnx'));
}

/** Result of a selection: the files, or a problem to report. */
export type Selection<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly problem: string };

/** The tokenizer files from the listing, and `chat_template.jinja` when there is one; a problem names the missing. */
export function selectTokenizerFiles(listing: readonly HubFile[]): Selection<HubFile[]> {
  const required = requireFiles(listing, TOKENIZER_FILES, 'a tokenizer for transformers.js');
  if (!required.ok) return required;
  const template = listing.find((file) => file.path === 'chat_template.jinja');
  return { ok: true, value: template === undefined ? required.value : [...required.value, template] };
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
  /** The file name base: `model`, or `decoder_model_merged` for a legacy layout (transformers.js `model_file_name`). */
  readonly modelFileName: string;
  /** The ONNX file first, then its external data chunks in order. */
  readonly files: readonly HubFile[];
  /** How many `_data` chunks the ONNX file has; passed to transformers.js as `use_external_data_format`. */
  readonly externalDataChunks: number;
}

/** One loadable variant of a listing: its dtype, files and their bytes. */
interface Variant {
  readonly dtype: OnnxDtype;
  readonly files: HubFile[];
  readonly bytes: number;
}

/**
 * Chooses the ONNX weights from the listing alone (nothing is fetched before a repository is known to be loadable).
 *
 * The file base is `model`, or, when the repository has no `onnx/model*.onnx`, the legacy `decoder_model_merged`.
 * With a `preference` list (the request's `dtype`, or `--dtype`), its first entry present wins; `auto` in the list
 * stands for the default choice, and a list none of whose entries is present is a problem naming what is. Without
 * one: the config's `transformers.js_config.dtype` when present, else the first of {@link DEFAULT_DTYPE_ORDER} that
 * is present and not {@link SIZE_GUARD_RATIO} times bigger than another present variant of its quality class, else
 * the smallest variant there is. External data chunks are the consecutive `…onnx_data`, `…onnx_data_1`, … present
 * in the listing; sizes count them.
 */
export function selectWeightFiles(
  listing: readonly HubFile[],
  config: unknown,
  preference?: readonly string[],
): Selection<WeightSelection> {
  const byPath = new Map(listing.map((file) => [file.path, file]));
  const variantsOf = (base: string): Variant[] =>
    (Object.keys(DTYPE_SUFFIX) as OnnxDtype[]).flatMap((dtype) => {
      const main = byPath.get(onnxPath(dtype, base));
      if (main === undefined) return [];
      const files: HubFile[] = [main];
      for (let chunk = 0; chunk < MAX_EXTERNAL_DATA_CHUNKS; chunk += 1) {
        const data = byPath.get(externalDataPath(main.path, chunk));
        if (data === undefined) break;
        files.push(data);
      }
      return [{ dtype, files, bytes: files.reduce((sum, file) => sum + file.size, 0) }];
    });
  let modelFileName = WEIGHTS_BASE;
  let variants = variantsOf(WEIGHTS_BASE);
  if (variants.length === 0) {
    modelFileName = LEGACY_WEIGHTS_BASE;
    variants = variantsOf(LEGACY_WEIGHTS_BASE);
  }
  if (variants.length === 0) {
    return {
      ok: false,
      problem: `has no ${WEIGHTS_DIR}/${WEIGHTS_BASE}*.onnx or ${WEIGHTS_DIR}/${LEGACY_WEIGHTS_BASE}*.onnx weights for transformers.js`,
    };
  }
  const byDtype = new Map(variants.map((variant) => [variant.dtype, variant]));
  const automatic = (): Variant => {
    const configured = configDtype(config);
    const fromConfig = configured === undefined ? undefined : byDtype.get(configured);
    if (fromConfig !== undefined) return fromConfig;
    const ordered = DEFAULT_DTYPE_ORDER.map((dtype) => byDtype.get(dtype)).filter((v) => v !== undefined);
    const guarded = ordered.find(
      (candidate) =>
        !variants.some(
          (other) =>
            QUALITY_CLASS[other.dtype] === QUALITY_CLASS[candidate.dtype] &&
            other.bytes * SIZE_GUARD_RATIO <= candidate.bytes,
        ),
    );
    // A repository with only exotic precisions (say q2 alone) is still loadable: its smallest variant.
    return guarded ?? [...variants].sort((a, b) => a.bytes - b.bytes)[0] ?? variants[0]!;
  };
  let chosen: Variant | undefined;
  if (preference === undefined || preference.length === 0) {
    chosen = automatic();
  } else {
    for (const entry of preference) {
      chosen = entry === AUTO_DTYPE ? automatic() : isOnnxDtype(entry) ? byDtype.get(entry) : undefined;
      if (chosen !== undefined) break;
    }
    if (chosen === undefined) {
      const available = variants.map((variant) => `${variant.dtype} (${describeBytes(variant.bytes)})`).join(', ');
      return {
        ok: false,
        problem:
          `has none of the dtypes asked for (${preference.join(', ')}); available: ${available}. ` +
          `Ask for one of these, or add ${AUTO_DTYPE} to the list to fall back to the default choice`,
      };
    }
  }
  return {
    ok: true,
    value: { dtype: chosen.dtype, modelFileName, files: chosen.files, externalDataChunks: chosen.files.length - 1 },
  };
}

function describeBytes(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(2)} GB`;
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`;
  if (bytes >= 1e3) return `${(bytes / 1e3).toFixed(1)} kB`;
  return `${bytes} B`;
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
