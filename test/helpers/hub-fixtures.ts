/**
 * Real Hub repositories, laid out for the mirror (`src/mirror/repo-fs.ts`: `root/{org}/{name}/…`) file name for file
 * name, with their real `config.json` structures (`transformers.js_config` with `dtype`, `kv_cache_dtype`,
 * `use_external_data_format`) and `onnx/` variants, external data chunks included (facts:
 * ../shared/reference/hub-repos.md).
 *
 * The variant a load should choose holds tiny-chat's real weights (`writeTinyChatOnnx`), its external data real too;
 * every other weight file is a placeholder whose size keeps its real size's ratio to the loaded variant's, so the
 * listing's sizes compare as on the Hub. A placeholder is not ONNX: a load that fetched and used one would fail, and
 * the tests assert that none is fetched at all. Small root files (README.md, merges.txt, …) are stand-ins of their
 * own name; tokenizer files are tiny-chat's (without its chat template for base models).
 */
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { writeTinyChatOnnx } from '../../src/demo/demo-models.js';
import { demoModelsDir } from './demo.js';

/** What a fixture repository should do on a load. */
export interface HubFixture {
  /** `org/name`, as on the Hub. */
  readonly id: string;
  /** The dtype the default choice picks. */
  readonly dtype: string;
  /** The files a load fetches, repository-relative, sorted. */
  readonly fetched: readonly string[];
  /** Whether the repository has a chat template, in `tokenizer_config.json` or `chat_template.jinja` (false: a base model). */
  readonly chatTemplate: boolean;
}

const KB = 1e3;
const MB = 1e6;
const GB = 1e9;

interface Layout {
  readonly id: string;
  readonly dtype: string;
  /** The loaded variant's main ONNX file, and how many external data chunks it has. */
  readonly real: { readonly path: string; readonly chunks: 0 | 1 | 2 };
  /** `path → real size in bytes` of every other file (weights become placeholders of scaled size). */
  readonly others: Readonly<Record<string, number>>;
  readonly config: (base: Record<string, unknown>) => Record<string, unknown>;
  /** Where the chat template is: in `tokenizer_config.json`, only in a root `chat_template.jinja`, or nowhere. */
  readonly template: 'tokenizer_config' | 'jinja' | 'none';
  /** The real size of the loaded variant (ONNX file plus chunks), for the placeholders' scale. */
  readonly realBytes: number;
}

const TOKENIZER_AND_CONFIG = ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json'];

/** Keys of tiny-chat's llama config replaced by GPT-2's own names. */
function gpt2Config(base: Record<string, unknown>): Record<string, unknown> {
  return {
    activation_function: 'gelu_new',
    architectures: ['GPT2LMHeadModel'],
    bos_token_id: base['bos_token_id'],
    eos_token_id: base['eos_token_id'],
    model_type: 'gpt2',
    n_ctx: base['max_position_embeddings'],
    n_embd: base['hidden_size'],
    n_head: base['num_attention_heads'],
    n_layer: base['num_hidden_layers'],
    n_positions: base['max_position_embeddings'],
    task_specific_params: { 'text-generation': { do_sample: true, max_length: 50 } },
    vocab_size: base['vocab_size'],
  };
}

function withoutJsConfig(base: Record<string, unknown>): Record<string, unknown> {
  const { ['transformers.js_config']: _dropped, ...rest } = base;
  return rest;
}

const LAYOUTS: readonly Layout[] = [
  {
    id: 'HuggingFaceTB/SmolLM2-135M-Instruct',
    dtype: 'q4',
    real: { path: 'onnx/model_q4.onnx', chunks: 0 },
    realBytes: 200 * MB,
    others: {
      '.gitattributes': 1.52 * KB,
      'README.md': 4.33 * KB,
      'merges.txt': 466 * KB,
      'model.safetensors': 269 * MB,
      'runs/Oct31_10-45-03_ip-26-0-160-100/events.out.tfevents.1730371503.ip-26-0-160-100.1.0': 3.05 * MB,
      'special_tokens_map.json': 655,
      'vocab.json': 801 * KB,
      'onnx/model.onnx': 654 * MB,
      'onnx/model_fp16.onnx': 327 * MB,
      'onnx/model_q4f16.onnx': 134 * MB,
    },
    config: (base) => ({
      ...withoutJsConfig(base),
      'transformers.js_config': { kv_cache_dtype: { q4f16: 'float16', fp16: 'float16' } },
    }),
    template: 'tokenizer_config',
  },
  {
    id: 'onnx-community/Llama-3.2-1B-Instruct',
    dtype: 'q4',
    real: { path: 'onnx/model_q4.onnx', chunks: 0 },
    realBytes: 1.66 * GB,
    others: {
      '.gitattributes': 1.52 * KB,
      'README.md': 36.4 * KB,
      'special_tokens_map.json': 296,
      'onnx/model.onnx': 524 * KB,
      'onnx/model.onnx_data': 4.94 * GB,
      'onnx/model_fp16.onnx': 532 * KB,
      'onnx/model_fp16.onnx_data': 2.47 * GB,
      'onnx/model_q4f16.onnx': 1.07 * GB,
      'onnx/model_int8.onnx': 1.24 * GB,
      'onnx/model_quantized.onnx': 1.24 * GB,
      'onnx/model_uint8.onnx': 1.24 * GB,
      'onnx/model_bnb4.onnx': 1.6 * GB,
    },
    config: (base) => ({
      ...withoutJsConfig(base),
      'transformers.js_config': {
        dtype: 'q4',
        use_external_data_format: { 'model.onnx': true, 'model_fp16.onnx': true },
      },
    }),
    template: 'tokenizer_config',
  },
  {
    id: 'onnx-community/Jan-nano-ONNX',
    dtype: 'q4f16',
    real: { path: 'onnx/model_q4f16.onnx', chunks: 2 },
    realBytes: 59.8 * MB + 2.1 * GB + 677 * MB,
    others: {
      '.gitattributes': 1.8 * KB,
      'README.md': 2.1 * KB,
      'added_tokens.json': 707,
      'merges.txt': 1.67 * MB,
      'special_tokens_map.json': 613,
      'vocab.json': 2.78 * MB,
      'onnx/model_fp16.onnx': 722 * KB,
      'onnx/model_fp16.onnx_data': 2.05 * GB,
      'onnx/model_fp16.onnx_data_1': 2.07 * GB,
      'onnx/model_fp16.onnx_data_2': 2.07 * GB,
      'onnx/model_fp16.onnx_data_3': 1.87 * GB,
    },
    config: (base) => ({ ...withoutJsConfig(base), architectures: ['Qwen3ForCausalLM'], model_type: 'qwen3' }),
    template: 'tokenizer_config',
  },
  {
    id: 'Xenova/gpt2',
    dtype: 'int8',
    real: { path: 'onnx/model_int8.onnx', chunks: 0 },
    realBytes: 281 * MB,
    others: {
      '.gitattributes': 1.52 * KB,
      'README.md': 1.42 * KB,
      'merges.txt': 456 * KB,
      'vocab.json': 1.04 * MB,
      'onnx/decoder_model.onnx': 501 * MB,
      'onnx/decoder_model_quantized.onnx': 127 * MB,
      'onnx/decoder_model_merged.onnx': 501 * MB,
      'onnx/decoder_model_merged_quantized.onnx': 127 * MB,
      'onnx/decoder_with_past_model.onnx': 501 * MB,
      'onnx/decoder_with_past_model_quantized.onnx': 127 * MB,
      'onnx/model.onnx': 501 * MB,
      'onnx/model_fp16.onnx': 251 * MB,
      'onnx/model_q4.onnx': 500 * MB,
      'onnx/model_bnb4.onnx': 497 * MB,
    },
    config: gpt2Config,
    template: 'none',
  },
  {
    // Older Xenova conversions have nothing but the merged decoder (transformers.js `model_file_name`).
    id: 'Xenova/phi-1_5_dev',
    dtype: 'q8',
    real: { path: 'onnx/decoder_model_merged_quantized.onnx', chunks: 0 },
    realBytes: 1.42 * GB,
    others: {
      '.gitattributes': 1.52 * KB,
      'README.md': 48,
      'added_tokens.json': 1.08 * KB,
      'merges.txt': 456 * KB,
      'special_tokens_map.json': 99,
      'vocab.json': 798 * KB,
      'onnx/decoder_model_merged.onnx': 1.1 * MB,
      'onnx/decoder_model_merged.onnx_data': 5.67 * GB,
    },
    config: (base) => ({ ...withoutJsConfig(base), architectures: ['PhiForCausalLM'], model_type: 'phi' }),
    template: 'tokenizer_config',
  },
  {
    // Some newer conversions keep the chat template only in a root chat_template.jinja (sizes illustrative).
    id: 'onnx-community/rnj-1-instruct-ONNX',
    dtype: 'q4f16',
    real: { path: 'onnx/model_q4f16.onnx', chunks: 1 },
    realBytes: 5.2 * GB,
    others: {
      '.gitattributes': 1.6 * KB,
      'README.md': 9.1 * KB,
      'special_tokens_map.json': 662,
      'onnx/model_fp16.onnx': 610 * KB,
      'onnx/model_fp16.onnx_data': 16.6 * GB,
    },
    config: withoutJsConfig,
    template: 'jinja',
  },
];

const realFiles = (layout: Layout): string[] => {
  const chunks = Array.from({ length: layout.real.chunks }, (_, i) => `${layout.real.path}_data${i ? `_${i}` : ''}`);
  return [layout.real.path, ...chunks];
};

/** The fixture repositories, and what a load of each should do. */
export const HUB_FIXTURES: readonly HubFixture[] = LAYOUTS.map((layout) => ({
  id: layout.id,
  dtype: layout.dtype,
  fetched: [
    ...TOKENIZER_AND_CONFIG,
    ...(layout.template === 'jinja' ? ['chat_template.jinja'] : []),
    ...realFiles(layout),
  ].sort(),
  chatTemplate: layout.template !== 'none',
}));

/** The weight files of a fixture that must never be fetched (its placeholders under `onnx/`, `model.safetensors`). */
export function unfetchedWeights(id: string): string[] {
  const layout = LAYOUTS.find((l) => l.id === id);
  if (layout === undefined) throw new Error(`no fixture ${id}`);
  return Object.keys(layout.others).filter((path) => path.startsWith('onnx/') || path.endsWith('.safetensors'));
}

/**
 * Lays the fixture repositories out under `root` (a new temporary directory by default) and resolves with it. Every
 * file is written anew; a test removes the directory when done.
 */
export async function layOutHubFixtures(root?: string): Promise<string> {
  const dir = root ?? (await mkdtemp(join(tmpdir(), 'modeldeck-hub-fixtures-')));
  const tiny = join(await demoModelsDir(), 'modeldeck', 'tiny-chat');
  const baseConfig = JSON.parse(await readFile(join(tiny, 'config.json'), 'utf8')) as Record<string, unknown>;
  const tokenizerConfig = JSON.parse(await readFile(join(tiny, 'tokenizer_config.json'), 'utf8')) as Record<
    string,
    unknown
  >;
  const { chat_template: _template, ...baseTokenizerConfig } = tokenizerConfig;
  for (const layout of LAYOUTS) {
    const repo = join(dir, ...layout.id.split('/'));
    const put = async (path: string, data: string | Uint8Array): Promise<void> => {
      await mkdir(dirname(join(repo, path)), { recursive: true });
      await writeFile(join(repo, path), data);
    };
    await put('config.json', JSON.stringify(layout.config(baseConfig), null, 2) + '\n');
    await put('generation_config.json', await readFile(join(tiny, 'generation_config.json')));
    await put('tokenizer.json', await readFile(join(tiny, 'tokenizer.json')));
    await put(
      'tokenizer_config.json',
      JSON.stringify(layout.template === 'tokenizer_config' ? tokenizerConfig : baseTokenizerConfig, null, 2) + '\n',
    );
    if (layout.template === 'jinja') await put('chat_template.jinja', String(tokenizerConfig['chat_template']));
    await mkdir(join(repo, 'onnx'), { recursive: true });
    const written = await writeTinyChatOnnx(join(repo, layout.real.path), layout.real.chunks);
    const demoBytes = Object.values(written).reduce((a, b) => a + b, 0);
    const scale = demoBytes / layout.realBytes;
    for (const [path, size] of Object.entries(layout.others)) {
      const weights = path.startsWith('onnx/') || path.endsWith('.safetensors') || path.startsWith('runs/');
      // Weights keep their size ratio to the loaded variant; small files are stand-ins of at most their real size.
      const bytes = Math.max(1, Math.round(weights ? size * scale : Math.min(size, 4 * KB)));
      await put(path, placeholder(`${layout.id}/${path}`, bytes));
    }
  }
  return dir;
}

/** `bytes` bytes of text naming the file, so no two placeholders are the same blob. */
function placeholder(name: string, bytes: number): Uint8Array {
  const line = Buffer.from(`placeholder for ${name}: never fetched by a load\n`);
  const out = Buffer.alloc(bytes);
  for (let at = 0; at < bytes; at += line.length) line.copy(out, at, 0, Math.min(line.length, bytes - at));
  return out;
}
