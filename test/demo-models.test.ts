import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import t from 'tap';
import {
  AutoModelForCausalLM,
  AutoTokenizer,
  env,
  random,
  type PreTrainedModel,
  type PreTrainedTokenizer,
  type Tensor,
} from '@huggingface/transformers';
import { DEMO_CORPUS } from '../src/demo/corpus.js';
import {
  DEMO_GENERATOR_VERSION,
  DEMO_MARKER_FILE,
  DEMO_MODELS,
  DemoModelError,
  generateDemoModels,
  type GeneratedDemoModel,
} from '../src/demo/demo-models.js';
import { encodeOnnxModel } from '../src/demo/onnx-writer.js';
import { defaultDemoDir } from '../src/demo/paths.js';
import { buildVocabulary, encodeText } from '../src/demo/tokenizer.js';

const TINY = 'modeldeck/tiny-chat';
const MEDIUM = 'modeldeck/chat-10m';
const BIG = 'modeldeck/chat-100m';

/** Every file under `root` (marker included), as relative path → sha256. */
async function hashTree(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  for (const e of entries) {
    if (!e.isFile()) continue;
    const full = join(e.parentPath, e.name);
    out[relative(root, full)] = createHash('sha256')
      .update(await readFile(full))
      .digest('hex');
  }
  return out;
}

async function readJson(path: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
}

const corpusWords = new Set(DEMO_CORPUS.toLowerCase().match(/[a-z']+/g) ?? []);

const root = await mkdtemp(join(tmpdir(), 'modeldeck-demo-test-'));
t.teardown(() => rm(root, { recursive: true, force: true }));
const dirA = join(root, 'a');
const dirB = join(root, 'b');
const cacheDir = join(root, 'cache');

let generated: GeneratedDemoModel[] = [];

t.test('generates every demo repository with the expected files and sizes', async (t) => {
  const messages: string[] = [];
  generated = await generateDemoModels(dirA, { onProgress: (m) => messages.push(m) });
  t.same(
    generated.map((g) => g.id),
    DEMO_MODELS.map((m) => m.id),
  );
  t.ok(messages.some((m) => m.startsWith(`${BIG}: wrote`)));
  for (const g of generated) {
    const spec = DEMO_MODELS.find((m) => m.id === g.id);
    t.equal(g.path, join(dirA, ...g.id.split('/')));
    t.ok(spec !== undefined && Math.abs(g.bytes - spec.approxBytes) / spec.approxBytes < 0.05, `${g.id} approxBytes`);
    for (const f of ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'README.md']) {
      t.ok((await stat(join(g.path, f))).size > 0, `${g.id}/${f}`);
    }
    const config = await readJson(join(g.path, 'config.json'));
    const tokenizer = await readJson(join(g.path, 'tokenizer.json'));
    const model = tokenizer['model'] as { vocab: Record<string, number> };
    const added = tokenizer['added_tokens'] as { id: number; content: string }[];
    t.equal(config['vocab_size'], Object.keys(model.vocab).length + added.length, `${g.id} vocab_size`);
    t.equal(config['model_type'], 'llama');
    t.equal(config['num_hidden_layers'], 1);
    t.equal(config['num_key_value_heads'], 1);
    const imEnd = added.find((a) => a.content === '<|im_end|>');
    t.equal(config['eos_token_id'], imEnd?.id);
    const tokConfig = await readJson(join(g.path, 'tokenizer_config.json'));
    t.equal(tokConfig['eos_token'], '<|im_end|>');
    t.match(tokConfig['chat_template'], /<\|im_start\|>/);
  }
  const tiny = join(dirA, 'modeldeck', 'tiny-chat', 'onnx');
  const tinyOnnx = (await stat(join(tiny, 'model.onnx'))).size;
  t.ok(tinyOnnx > 500_000 && tinyOnnx < 2_000_000, `tiny model.onnx is ~1 MB (${tinyOnnx})`);
  await t.rejects(stat(join(tiny, 'model.onnx_data')), 'tiny keeps its weights inline');

  const big = join(dirA, 'modeldeck', 'chat-100m');
  t.ok((await stat(join(big, 'onnx', 'model.onnx'))).size < 100_000, 'big model.onnx is small');
  const data = (await stat(join(big, 'onnx', 'model.onnx_data'))).size;
  t.ok(data > 95_000_000 && data < 105_000_000, `big model.onnx_data is ~100 MB (${data})`);
  const bigConfig = await readJson(join(big, 'config.json'));
  t.match(bigConfig['transformers.js_config'], { use_external_data_format: true });

  t.same(
    (await readdir(join(dirA, 'modeldeck'))).sort(),
    ['chat-100m', 'chat-10m', 'tiny-chat'],
    'no temporary directories are left behind',
  );
});

t.test('a second run skips up-to-date repositories and repairs broken ones', async (t) => {
  const tinyDir = join(dirA, 'modeldeck', 'tiny-chat');
  const before = await hashTree(tinyDir);
  const messages: string[] = [];
  const again = await generateDemoModels(dirA, { onProgress: (m) => messages.push(m) });
  t.same(again, generated);
  t.same(
    messages,
    DEMO_MODELS.map((m) => `${m.id}: up to date (generator v${DEMO_GENERATOR_VERSION})`),
  );

  await truncate(join(tinyDir, 'onnx', 'model.onnx'), 100);
  const repaired = await generateDemoModels(dirA, { only: [TINY], onProgress: (m) => messages.push(m) });
  t.same(
    repaired,
    generated.filter((g) => g.id === TINY),
  );
  t.same(await hashTree(tinyDir), before, 'a truncated file triggers regeneration');

  const markerPath = join(tinyDir, DEMO_MARKER_FILE);
  const marker = await readJson(markerPath);
  await writeFile(markerPath, JSON.stringify({ ...marker, version: DEMO_GENERATOR_VERSION - 1 }));
  const log: string[] = [];
  await generateDemoModels(dirA, { only: [TINY], onProgress: (m) => log.push(m) });
  t.same(log[0], `${TINY}: generating`, 'an older generator version triggers regeneration');
  t.same(await hashTree(tinyDir), before);
});

t.test('unknown ids are refused with a code', async (t) => {
  await t.rejects(generateDemoModels(dirB, { only: ['modeldeck/nope'] }), {
    name: 'DemoModelError',
    code: 'MD_DEMO_UNKNOWN_MODEL',
    message: /modeldeck\/nope.*modeldeck\/tiny-chat/,
  });
  t.ok(new DemoModelError('MD_DEMO_UNKNOWN_MODEL', 'x', 'y') instanceof Error);
});

t.test('two generations are byte-identical', async (t) => {
  await generateDemoModels(dirB);
  t.same(await hashTree(dirB), await hashTree(dirA));
});

t.test('defaultDemoDir honours an absolute XDG_CACHE_HOME and falls back to the temp dir', (t) => {
  t.equal(defaultDemoDir({ XDG_CACHE_HOME: '/x/cache' }), join('/x/cache', 'modeldeck', 'demo-models'));
  t.equal(defaultDemoDir({ XDG_CACHE_HOME: 'relative' }), join(tmpdir(), 'modeldeck-demo-models'));
  t.equal(defaultDemoDir({}), join(tmpdir(), 'modeldeck-demo-models'));
  t.end();
});

t.test('the ONNX encoder writes the protobuf bytes onnx.proto prescribes', (t) => {
  const bytes = encodeOnnxModel({
    irVersion: 8,
    opsetVersion: 17,
    producerName: 'p',
    producerVersion: '1',
    graph: {
      name: 'g',
      nodes: [
        {
          opType: 'Gather',
          name: 'n',
          inputs: ['a', 'b'],
          outputs: ['c'],
          attributes: [{ kind: 'int', name: 'axis', value: -1 }],
        },
      ],
      initializers: [],
      inputs: [],
      outputs: [],
    },
  });
  // Worked out by hand from the field numbers: tag = field << 3 | wire type; -1 is a 10-byte varint.
  const attribute = '0a0461786973' + '18ffffffffffffffffff01' + 'a00102';
  const node = '0a0161' + '0a0162' + '120163' + '1a016e' + '2206476174686572' + '2a14' + attribute;
  const graph = '0a2a' + node + '120167';
  const model = '0808' + '120170' + '1a0131' + '3a2f' + graph + '4204' + '0a001011';
  t.equal(Buffer.from(bytes).toString('hex'), model);
  t.end();
});

t.test('training text is encoded as whole words, unknown words as bytes', (t) => {
  const vocab = buildVocabulary(['The sea is calm.']);
  const the = vocab.ids.get('The');
  const sea = vocab.ids.get('\u0120sea');
  t.ok(the !== undefined && the >= vocab.firstWordId, 'words get word tokens');
  t.same(encodeText(vocab, 'The sea'), [the, sea]);
  t.same(encodeText(vocab, ' zebra'), [...Buffer.from(' zebra')], 'byte token ids are the byte values');
  t.same(vocab.tokens.slice(-3), ['<|endoftext|>', '<|im_start|>', '<|im_end|>'], 'special tokens come last');
  t.end();
});

// transformers.js keeps its settings in one global `env`; point it at the generated directory only.
env.allowLocalModels = true;
env.allowRemoteModels = false;
env.localModelPath = dirA;
env.cacheDir = cacheDir;

interface Loaded {
  tokenizer: PreTrainedTokenizer;
  model: PreTrainedModel;
}

async function load(id: string): Promise<Loaded> {
  const tokenizer = await AutoTokenizer.from_pretrained(id);
  const model = await AutoModelForCausalLM.from_pretrained(id);
  return { tokenizer, model };
}

interface Reply {
  ids: number[];
  text: string;
  ended: boolean;
}

async function chat({ tokenizer, model }: Loaded, content: string, seed: number, maxNewTokens: number): Promise<Reply> {
  const inputs = tokenizer.apply_chat_template([{ role: 'user', content }], {
    add_generation_prompt: true,
    return_dict: true,
  }) as { input_ids: Tensor; attention_mask: Tensor };
  random.seed(seed);
  const out = (await model.generate({ ...inputs, do_sample: true, max_new_tokens: maxNewTokens })) as Tensor;
  const promptLength = inputs.input_ids.dims[1] ?? 0;
  const ids = (out.tolist() as bigint[][])[0]!.slice(promptLength).map(Number);
  const text = tokenizer.decode(ids, { skip_special_tokens: true });
  return { ids, text, ended: ids.at(-1) === tokenizer.eos_token_id };
}

const replies = new Map<number, Reply>();

t.test('transformers.js loads tiny-chat and samples word-like replies that end', async (t) => {
  const tiny = await load(TINY);
  t.teardown(() => tiny.model.dispose());

  const sample = 'Hello, wörld! 🚀 Tell me about the sea.';
  t.equal(tiny.tokenizer.decode(tiny.tokenizer.encode(sample)), sample, 'byte-level tokenizer round-trips');
  const prompt = tiny.tokenizer.apply_chat_template([{ role: 'user', content: 'Hi' }], {
    tokenize: false,
    add_generation_prompt: true,
  });
  t.equal(prompt, '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n');

  let ended = 0;
  for (let seed = 0; seed < 6; seed++) {
    const reply = await chat(tiny, 'Tell me about the town by the sea.', seed, 80);
    replies.set(seed, reply);
    const words = reply.text.toLowerCase().match(/[a-z']+/g) ?? [];
    t.ok(words.length >= 2, `seed ${seed}: non-empty reply ${JSON.stringify(reply.text)}`);
    const known = words.filter((w) => corpusWords.has(w)).length;
    t.ok(known / words.length >= 0.9, `seed ${seed}: words come from the corpus`);
    t.match(reply.text, /^[A-Z]/, `seed ${seed}: starts like a sentence`);
    if (reply.ended) ended++;
  }
  t.ok(ended >= 4, `most replies end with <|im_end|> (${ended} of 6)`);
  t.same(await chat(tiny, 'Tell me about the town by the sea.', 3, 80), replies.get(3), 'same seed, same reply');
});

t.test('transformers.js loads the 10 MB and 100 MB models; they sample exactly what tiny-chat does', async (t) => {
  for (const id of [MEDIUM, BIG]) {
    const loaded = await load(id);
    const reply = await chat(loaded, 'Tell me about the town by the sea.', 1, 12);
    const tinyReply = replies.get(1);
    t.ok(tinyReply !== undefined, 'tiny-chat replied first');
    t.same(reply.ids, tinyReply?.ids.slice(0, 12), `${id}: same tokens as tiny-chat for the same seed`);
    await loaded.model.dispose();
  }
});
