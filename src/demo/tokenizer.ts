/**
 * Builds the demo models' byte-level BPE tokenizer: `tokenizer.json` and `tokenizer_config.json`.
 *
 * The vocabulary is the 256 byte tokens plus one token per distinct pre-tokenized word of the corpus, plus the ChatML
 * special tokens. There are no merges: with `ignore_merges: true` a pre-tokenized word that is in the vocabulary maps
 * to its own token and anything else falls apart into byte tokens, so every string round-trips. (tokenizers.js has no
 * WordLevel model, and a byte-level BPE is what real chat models ship, so this is the shape they load best.)
 */

/** The special tokens, in id order after the word tokens. */
export const SPECIAL_TOKENS = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'] as const;

/** One of {@link SPECIAL_TOKENS}. */
export type SpecialToken = (typeof SPECIAL_TOKENS)[number];

/** ChatML, the format the bigram statistics are trained in (`<|im_start|>assistant\n … <|im_end|>`). */
export const CHAT_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}" +
  "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/** Words that appear in prompts rather than in the corpus; they get their own tokens so prompts stay short. */
const ROLE_WORDS = ['system', 'user', 'assistant'] as const;

/** A vocabulary: `tokens[id]` is the token string in the byte-level alphabet. */
export interface Vocabulary {
  readonly tokens: readonly string[];
  /** Token string → id, including special tokens. */
  readonly ids: ReadonlyMap<string, number>;
  readonly special: Readonly<Record<SpecialToken, number>>;
  /** Ids below this are byte tokens (256); ids from it up to the first special token are word tokens. */
  readonly firstWordId: number;
}

/**
 * GPT-2's byte → printable character table: `table[byte]` is the character standing for that byte in token strings.
 * Printable Latin-1 bytes stand for themselves; the rest are shifted to U+0100 and up, in byte order.
 */
export function byteToUnicodeTable(): readonly string[] {
  const table: string[] = new Array<string>(256);
  let shifted = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    table[b] = String.fromCodePoint(printable ? b : 256 + shifted++);
  }
  return table;
}

const BYTE_TABLE = byteToUnicodeTable();

// The ByteLevel pre-tokenizer's split pattern (GPT-2), so the vocabulary is built from the pieces the loader will see.
const SPLIT_PATTERN = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

const textEncoder = new TextEncoder();

/** Splits text as the ByteLevel pre-tokenizer does and maps each piece to the byte-level alphabet (` x` → `Ġx`). */
export function pretokenize(text: string): string[] {
  return (text.match(SPLIT_PATTERN) ?? []).map((piece) => {
    let out = '';
    for (const byte of textEncoder.encode(piece)) out += BYTE_TABLE[byte];
    return out;
  });
}

/**
 * Builds the vocabulary from training texts: byte tokens (id = byte value), then every multi-byte pre-tokenized piece
 * by descending frequency (ties in code-unit order, so the result is deterministic), then the special tokens.
 */
export function buildVocabulary(texts: readonly string[]): Vocabulary {
  const counts = new Map<string, number>();
  const pieces = [...texts.flatMap((t) => pretokenize(t)), ...ROLE_WORDS];
  for (const p of pieces) counts.set(p, (counts.get(p) ?? 0) + 1);
  const byteTokens = new Set(BYTE_TABLE);
  const words = [...counts.entries()]
    .filter(([p]) => !byteTokens.has(p))
    .sort(([a, ca], [b, cb]) => cb - ca || (a < b ? -1 : a > b ? 1 : 0))
    .map(([p]) => p);
  const tokens = [...BYTE_TABLE, ...words, ...SPECIAL_TOKENS];
  const ids = new Map(tokens.map((t, i) => [t, i] as const));
  const firstSpecial = BYTE_TABLE.length + words.length;
  return {
    tokens,
    ids,
    firstWordId: BYTE_TABLE.length,
    special: {
      '<|endoftext|>': firstSpecial,
      '<|im_start|>': firstSpecial + 1,
      '<|im_end|>': firstSpecial + 2,
    },
  };
}

/**
 * Encodes plain text (no special tokens) the way the generated tokenizer does: whole pieces when known, else bytes.
 * Used to turn the corpus into training sequences that match what the model will be fed.
 */
export function encodeText(vocab: Vocabulary, text: string): number[] {
  const out: number[] = [];
  for (const piece of pretokenize(text)) {
    const id = vocab.ids.get(piece);
    if (id !== undefined) {
      out.push(id);
      continue;
    }
    for (const ch of piece) {
      const byteId = vocab.ids.get(ch);
      if (byteId === undefined) throw new Error(`encodeText: no byte token for ${JSON.stringify(ch)}`);
      out.push(byteId);
    }
  }
  return out;
}

/** The `tokenizer.json` document (Hugging Face tokenizers format). */
export function buildTokenizerJson(vocab: Vocabulary): Record<string, unknown> {
  const firstSpecial = vocab.special['<|endoftext|>'];
  const modelVocab: Record<string, number> = {};
  vocab.tokens.slice(0, firstSpecial).forEach((t, i) => {
    modelVocab[t] = i;
  });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIAL_TOKENS.map((content) => ({
      id: vocab.special[content],
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: true,
      vocab: modelVocab,
      merges: [],
    },
  };
}

/** The `tokenizer_config.json` document: special tokens, ChatML chat template, left padding for batches. */
export function buildTokenizerConfig(vocab: Vocabulary, modelMaxLength: number): Record<string, unknown> {
  const decoder: Record<string, unknown> = {};
  for (const content of SPECIAL_TOKENS) {
    decoder[String(vocab.special[content])] = {
      content,
      lstrip: false,
      normalized: false,
      rstrip: false,
      single_word: false,
      special: true,
    };
  }
  return {
    add_bos_token: false,
    add_prefix_space: false,
    added_tokens_decoder: decoder,
    additional_special_tokens: ['<|im_start|>', '<|im_end|>'],
    bos_token: null,
    chat_template: CHAT_TEMPLATE,
    clean_up_tokenization_spaces: false,
    eos_token: '<|im_end|>',
    errors: 'replace',
    model_max_length: modelMaxLength,
    pad_token: '<|endoftext|>',
    padding_side: 'left',
    split_special_tokens: false,
    tokenizer_class: 'PreTrainedTokenizerFast',
    unk_token: null,
  };
}
