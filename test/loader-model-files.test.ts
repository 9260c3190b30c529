import t from 'tap';
import { resolveServeConfig, serverOptions } from '../src/cli/serve.js';
import { parseDtypePreference } from '../src/protocol/dtype.js';
import type { HubFile } from '../src/server/fetch/hub-client.js';
import {
  DEFAULT_DTYPE_ORDER,
  externalDataPath,
  SIZE_GUARD_RATIO,
  hasOnnxWeights,
  onnxPath,
  selectConfigFiles,
  selectTokenizerFiles,
  selectWeightFiles,
} from '../src/server/fetch/model-files.js';

const files = (...paths: string[]): HubFile[] => paths.map((path, i) => ({ path, size: 100 + i }));
const base = ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'README.md', 'special_tokens_map.json'];

t.test('file names follow transformers.js', async (t) => {
  t.equal(onnxPath('fp32'), 'onnx/model.onnx');
  t.equal(onnxPath('q8'), 'onnx/model_quantized.onnx');
  t.equal(onnxPath('q4'), 'onnx/model_q4.onnx');
  t.equal(onnxPath('fp16'), 'onnx/model_fp16.onnx');
  t.equal(onnxPath('q4f16'), 'onnx/model_q4f16.onnx');
  t.equal(externalDataPath('onnx/model.onnx', 0), 'onnx/model.onnx_data');
  t.equal(externalDataPath('onnx/model.onnx', 2), 'onnx/model.onnx_data_2');
});

t.test('tokenizer and config files', async (t) => {
  const listing = files(...base, 'generation_config.json');
  const tokenizer = selectTokenizerFiles(listing);
  t.same(tokenizer.ok && tokenizer.value.map((f) => f.path), ['tokenizer.json', 'tokenizer_config.json']);
  const config = selectConfigFiles(listing);
  t.same(config.ok && config.value.map((f) => f.path), ['config.json', 'generation_config.json']);
  const noGeneration = selectConfigFiles(files(...base));
  t.same(
    noGeneration.ok && noGeneration.value.map((f) => f.path),
    ['config.json'],
    'generation_config.json is optional',
  );
  const noTokenizer = selectTokenizerFiles(files('config.json', 'tokenizer.json'));
  t.same(noTokenizer, {
    ok: false,
    problem: 'has no tokenizer_config.json, needed for a tokenizer for transformers.js',
  });
  t.notOk(selectConfigFiles(files('tokenizer.json')).ok, 'config.json is required');
});

t.test('the default dtype order suits a CPU: 8-bit, then 4-bit, then fp32, fp16 last', async (t) => {
  t.same(DEFAULT_DTYPE_ORDER, ['q8', 'int8', 'uint8', 'q4', 'q4f16', 'bnb4', 'fp32', 'fp16']);
  const cases: {
    name: string;
    onnx: string[];
    config?: unknown;
    requested?: string[];
    dtype?: string;
    problem?: RegExp;
  }[] = [
    { name: 'q8 first', onnx: ['onnx/model.onnx', 'onnx/model_quantized.onnx', 'onnx/model_q4.onnx'], dtype: 'q8' },
    { name: 'then int8', onnx: ['onnx/model.onnx', 'onnx/model_int8.onnx', 'onnx/model_uint8.onnx'], dtype: 'int8' },
    { name: 'then q4', onnx: ['onnx/model_fp16.onnx', 'onnx/model.onnx', 'onnx/model_q4.onnx'], dtype: 'q4' },
    { name: 'then q4f16', onnx: ['onnx/model_fp16.onnx', 'onnx/model_q4f16.onnx'], dtype: 'q4f16' },
    { name: 'then fp32', onnx: ['onnx/model_fp16.onnx', 'onnx/model.onnx'], dtype: 'fp32' },
    { name: 'fp16 when alone', onnx: ['onnx/model_fp16.onnx'], dtype: 'fp16' },
    { name: 'anything known last', onnx: ['onnx/model_q2.onnx'], dtype: 'q2' },
    {
      name: 'the config wins over the default order',
      onnx: ['onnx/model.onnx', 'onnx/model_quantized.onnx', 'onnx/model_q4.onnx'],
      config: { 'transformers.js_config': { dtype: 'q4' } },
      dtype: 'q4',
    },
    {
      name: 'a per-session config map',
      onnx: ['onnx/model.onnx', 'onnx/model_fp16.onnx'],
      config: { 'transformers.js_config': { dtype: { model: 'fp16' } } },
      dtype: 'fp16',
    },
    {
      name: 'a config dtype that is absent falls back',
      onnx: ['onnx/model.onnx', 'onnx/model_quantized.onnx'],
      config: { 'transformers.js_config': { dtype: 'q4' } },
      dtype: 'q8',
    },
    {
      name: 'the requested list wins over the config',
      onnx: ['onnx/model.onnx', 'onnx/model_q4.onnx'],
      config: { 'transformers.js_config': { dtype: 'q4' } },
      requested: ['fp32'],
      dtype: 'fp32',
    },
    {
      name: 'a requested list falls back to its next entry present',
      onnx: ['onnx/model.onnx', 'onnx/model_quantized.onnx'],
      requested: ['q4', 'fp32', 'q8'],
      dtype: 'fp32',
    },
    {
      name: 'auto in a list stands for the default choice',
      onnx: ['onnx/model_fp16.onnx', 'onnx/model_q4f16.onnx'],
      requested: ['q4', 'auto'],
      dtype: 'q4f16',
    },
    {
      name: 'a requested list none of which is present',
      onnx: ['onnx/model.onnx', 'onnx/model_fp16.onnx'],
      requested: ['q4', 'q8'],
      problem: /has none of the dtypes asked for \(q4, q8\); available: fp32 \(\d+ B\), fp16 \(\d+ B\)\. .*add auto/,
    },
    {
      name: 'neither model*.onnx nor decoder_model_merged*.onnx',
      onnx: ['onnx/decoder_model.onnx', 'onnx/encoder_model.onnx'],
      problem: /no onnx\/model\*\.onnx or onnx\/decoder_model_merged\*\.onnx/,
    },
  ];
  for (const c of cases) {
    const selection = selectWeightFiles(files(...base, ...c.onnx), c.config ?? {}, c.requested);
    if (c.problem === undefined) t.equal(selection.ok && selection.value.dtype, c.dtype, c.name);
    else t.match(selection.ok ? '' : selection.problem, c.problem, c.name);
  }
});

/** A listing with the given sizes: `[path, bytes]`. */
const sized = (...entries: [string, number][]): HubFile[] => [
  ...files(...base),
  ...entries.map(([path, size]) => ({ path, size })),
];
const GB = 1e9;
const MB = 1e6;

t.test('the real repositories choose the small variant of comparable quality', async (t) => {
  const jan = sized(
    ['onnx/model_fp16.onnx', 722e3],
    ['onnx/model_fp16.onnx_data', 2.05 * GB],
    ['onnx/model_fp16.onnx_data_1', 2.07 * GB],
    ['onnx/model_fp16.onnx_data_2', 2.07 * GB],
    ['onnx/model_fp16.onnx_data_3', 1.87 * GB],
    ['onnx/model_q4f16.onnx', 59.8 * MB],
    ['onnx/model_q4f16.onnx_data', 2.1 * GB],
    ['onnx/model_q4f16.onnx_data_1', 677 * MB],
  );
  const janChoice = selectWeightFiles(jan, {});
  t.equal(janChoice.ok && janChoice.value.dtype, 'q4f16', 'Jan-nano: q4f16 (2.8 GB), not fp16 (8.1 GB)');
  t.equal(janChoice.ok && janChoice.value.externalDataChunks, 2);
  const qwen = sized(
    ['onnx/model.onnx', 1.99 * GB],
    ['onnx/model_bnb4.onnx', 764 * MB],
    ['onnx/model_fp16.onnx', 997 * MB],
    ['onnx/model_int8.onnx', 512 * MB],
    ['onnx/model_quantized.onnx', 512 * MB],
    ['onnx/model_uint8.onnx', 512 * MB],
    ['onnx/model_q4.onnx', 786 * MB],
    ['onnx/model_q4f16.onnx', 483 * MB],
  );
  const qwenChoice = selectWeightFiles(qwen, {});
  t.equal(qwenChoice.ok && qwenChoice.value.dtype, 'q8', 'Qwen2.5-0.5B: q8 (512 MB), not fp32 (1.99 GB)');
  const llama = sized(
    ['onnx/model.onnx', 524e3],
    ['onnx/model.onnx_data', 4.94 * GB],
    ['onnx/model_fp16.onnx', 532e3],
    ['onnx/model_fp16.onnx_data', 2.47 * GB],
    ['onnx/model_q4.onnx', 1.66 * GB],
    ['onnx/model_quantized.onnx', 1.24 * GB],
  );
  const llamaChoice = selectWeightFiles(llama, { 'transformers.js_config': { dtype: 'q4' } });
  t.equal(llamaChoice.ok && llamaChoice.value.dtype, 'q4', 'Llama-3.2-1B: its config says q4');
  const smol = sized(
    ['onnx/model.onnx', 654 * MB],
    ['onnx/model_fp16.onnx', 327 * MB],
    ['onnx/model_q4.onnx', 200 * MB],
    ['onnx/model_q4f16.onnx', 134 * MB],
  );
  const smolChoice = selectWeightFiles(smol, { 'transformers.js_config': { kv_cache_dtype: { q4f16: 'float16' } } });
  t.equal(smolChoice.ok && smolChoice.value.dtype, 'q4', 'SmolLM2-135M: q4, kv_cache_dtype is no dtype');
});

t.test('the default order passes over a variant several times bigger than one of its class', async (t) => {
  const listing = sized(
    ['onnx/model_q4.onnx', 900 * MB],
    ['onnx/model_q4f16.onnx', 200 * MB],
    ['onnx/model.onnx', 1 * GB],
  );
  const choice = selectWeightFiles(listing, {});
  t.equal(choice.ok && choice.value.dtype, 'q4f16', `q4 is ${SIZE_GUARD_RATIO}+ times q4f16: q4f16`);
  const close = selectWeightFiles(sized(['onnx/model_q4.onnx', 300 * MB], ['onnx/model_q4f16.onnx', 200 * MB]), {});
  t.equal(close.ok && close.value.dtype, 'q4', 'a smaller difference keeps the order');
  const asked = selectWeightFiles(listing, {}, ['q4']);
  t.equal(asked.ok && asked.value.dtype, 'q4', 'asked for, the bigger one is loaded');
  const fullOnly = selectWeightFiles(sized(['onnx/model.onnx', 2 * GB], ['onnx/model_fp16.onnx', 1 * GB]), {});
  t.equal(fullOnly.ok && fullOnly.value.dtype, 'fp32', 'fp32 at twice fp16 stays ahead: fp16 is slow on CPU');
});

t.test('legacy decoder_model_merged layouts', async (t) => {
  const legacy = selectWeightFiles(
    files(...base, 'onnx/decoder_model_merged.onnx', 'onnx/decoder_model_merged_quantized.onnx'),
    {},
  );
  t.ok(legacy.ok);
  if (!legacy.ok) return;
  t.equal(legacy.value.modelFileName, 'decoder_model_merged');
  t.equal(legacy.value.dtype, 'q8');
  t.same(
    legacy.value.files.map((f) => f.path),
    ['onnx/decoder_model_merged_quantized.onnx'],
  );
  const both = selectWeightFiles(
    files(...base, 'onnx/decoder_model_merged.onnx', 'onnx/model.onnx', 'onnx/decoder_with_past_model.onnx'),
    {},
  );
  t.same(
    both.ok && [both.value.modelFileName, both.value.files.map((f) => f.path)],
    ['model', ['onnx/model.onnx']],
    'the current set wins when a repository has both',
  );
});

t.test('dtype preferences are parsed strictly', async (t) => {
  t.same(parseDtypePreference('q4, q8,fp32'), { ok: true, value: ['q4', 'q8', 'fp32'] });
  t.same(parseDtypePreference(['q4f16', 'auto', 'q4f16']), { ok: true, value: ['q4f16', 'auto'] });
  for (const bad of ['fp8', 'q4,,q8', '', 42, null, [], ['q4', 7], { dtype: 'q4' }]) {
    const parsed = parseDtypePreference(bad);
    t.match(
      parsed.ok ? '' : parsed.problem,
      /valid values: fp32, fp16, q8, int8, uint8, q4, q4f16, bnb4, q2, q2f16, q1, q1f16, auto\)/,
      JSON.stringify(bad),
    );
  }
});

t.test('external data chunks in order, stopping at the first gap', async (t) => {
  const listing = files(
    ...base,
    'onnx/model.onnx',
    'onnx/model.onnx_data',
    'onnx/model.onnx_data_1',
    'onnx/model.onnx_data_3',
    'onnx/model_quantized.onnx_data',
  );
  const selection = selectWeightFiles(listing, {});
  t.ok(selection.ok);
  if (!selection.ok) return;
  t.same(
    selection.value.files.map((f) => f.path),
    ['onnx/model.onnx', 'onnx/model.onnx_data', 'onnx/model.onnx_data_1'],
  );
  t.equal(selection.value.externalDataChunks, 2);
  t.same(
    selection.value.files.map((f) => f.size),
    [105, 106, 107],
    'sizes come from the listing',
  );
});

t.test('hasOnnxWeights looks for any .onnx under onnx/', async (t) => {
  t.ok(hasOnnxWeights(files('onnx/decoder_model_merged.onnx')));
  t.notOk(
    hasOnnxWeights(files(...base, 'model.safetensors', 'model.onnx')),
    'a top-level model.onnx is not where transformers.js looks',
  );
});

t.test('serve --dtype is a preference list; a bad entry is a usage error naming the valid values', async (t) => {
  const resolve = (argv: string[]) => resolveServeConfig(argv, { HF_HOME: '/nonexistent/hf' });
  t.equal(resolve([])?.dtype, undefined, 'no flag: the default choice');
  t.same(resolve(['--dtype', 'q4,q8,fp32'])?.dtype, ['q4', 'q8', 'fp32']);
  t.same(resolve(['--dtype', 'q4f16,auto'])?.dtype, ['q4f16', 'auto']);
  const config = resolve(['--dtype', 'q4,auto']);
  const loader = config && serverOptions(config).loader;
  t.same(loader && 'dtype' in loader ? loader.dtype : undefined, ['q4', 'auto'], 'handed to the loader');
  for (const bad of ['fp8', 'q4,', '']) {
    t.throws(() => resolve(['--dtype', bad]), {
      name: 'UsageError',
      message: /^--dtype: .*valid values: fp32, fp16, .*, auto\), got/,
    });
  }
});
