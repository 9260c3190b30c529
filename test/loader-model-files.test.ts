import t from 'tap';
import type { HubFile } from '../src/server/hub-client.js';
import {
  externalDataPath,
  hasOnnxWeights,
  onnxPath,
  selectConfigFiles,
  selectTokenizerFiles,
  selectWeightFiles,
} from '../src/server/model-files.js';

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

t.test('dtype preference', async (t) => {
  const cases: {
    name: string;
    onnx: string[];
    config?: unknown;
    requested?: string;
    dtype?: string;
    problem?: RegExp;
  }[] = [
    { name: 'fp32 first', onnx: ['onnx/model.onnx', 'onnx/model_quantized.onnx', 'onnx/model_q4.onnx'], dtype: 'fp32' },
    { name: 'then q8', onnx: ['onnx/model_fp16.onnx', 'onnx/model_quantized.onnx', 'onnx/model_q4.onnx'], dtype: 'q8' },
    { name: 'then q4', onnx: ['onnx/model_fp16.onnx', 'onnx/model_q4.onnx'], dtype: 'q4' },
    { name: 'then fp16', onnx: ['onnx/model_fp16.onnx', 'onnx/model_q4f16.onnx'], dtype: 'fp16' },
    { name: 'anything known last', onnx: ['onnx/model_q4f16.onnx'], dtype: 'q4f16' },
    {
      name: 'the config wins over the default order',
      onnx: ['onnx/model.onnx', 'onnx/model_q4.onnx'],
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
      onnx: ['onnx/model_quantized.onnx'],
      config: { 'transformers.js_config': { dtype: 'q4' } },
      dtype: 'q8',
    },
    {
      name: 'the loader option wins over the config',
      onnx: ['onnx/model.onnx', 'onnx/model_q4.onnx'],
      config: { 'transformers.js_config': { dtype: 'q4' } },
      requested: 'fp32',
      dtype: 'fp32',
    },
    {
      name: 'a requested dtype must be present',
      onnx: ['onnx/model.onnx'],
      requested: 'q4',
      problem: /no onnx\/model_q4\.onnx for dtype q4; available: fp32/,
    },
    { name: 'an unknown requested dtype', onnx: ['onnx/model.onnx'], requested: 'fp8', problem: /dtype fp8/ },
    {
      name: 'other ONNX files are not weights',
      onnx: ['onnx/decoder_model_merged.onnx'],
      problem: /no onnx\/model\*\.onnx/,
    },
  ];
  for (const c of cases) {
    const selection = selectWeightFiles(files(...base, ...c.onnx), c.config ?? {}, c.requested);
    if (c.problem === undefined) t.equal(selection.ok && selection.value.dtype, c.dtype, c.name);
    else t.match(selection.ok ? '' : selection.problem, c.problem, c.name);
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
