/**
 * The demo models' "knowledge": a bigram table of next-token logits learned by counting the corpus.
 *
 * The corpus is cut into short assistant replies in ChatML form (`<|im_start|> assistant \n … <|im_end|>`), so the
 * row of the newline token holds how replies start and the rows of sentence-final punctuation hold how often a reply
 * ends there: the end-of-turn token comes out at the rate the replies were cut at.
 */
import { encodeText, type Vocabulary } from './tokenizer.js';

/** Logit of a transition never seen in the corpus: low enough that softmax gives it exactly 0 in float32. */
export const UNSEEN_LOGIT = -1e4;

/** Sentences per training reply: after a sentence, the reply ends with probability about 1 / this. */
const SENTENCES_PER_REPLY = 3;

/**
 * Cuts the corpus into assistant replies of {@link SENTENCES_PER_REPLY} consecutive sentences (the last of a
 * paragraph may be shorter). Whitespace is collapsed, so replies contain no newlines.
 */
export function splitReplies(corpus: string): string[] {
  const replies: string[] = [];
  for (const paragraph of corpus.split(/\n\s*\n/u)) {
    const text = paragraph.replace(/\s+/gu, ' ').trim();
    if (text === '') continue;
    const sentences = text.split(/(?<=[.!?])\s+/u);
    for (let i = 0; i < sentences.length; i += SENTENCES_PER_REPLY) {
      replies.push(sentences.slice(i, i + SENTENCES_PER_REPLY).join(' '));
    }
  }
  return replies;
}

/** Token id sequences of the replies as whole ChatML assistant turns, exactly as the chat template renders them. */
export function trainingSequences(vocab: Vocabulary, replies: readonly string[]): number[][] {
  const head = [vocab.special['<|im_start|>'], ...encodeText(vocab, 'assistant\n')];
  return replies.map((r) => [...head, ...encodeText(vocab, r), vocab.special['<|im_end|>']]);
}

/**
 * Row-major `[vocabSize, vocabSize]` table: entry `[a, b]` is the log of how often `b` followed `a` (natural log of a
 * count, so softmax of a row gives the corpus frequencies), {@link UNSEEN_LOGIT} where it never did. Rows of tokens
 * never followed by anything (bytes, special tokens) copy the row of `fallbackToken`, so every row is a distribution
 * over corpus words and a prompt with unknown words still gets a reply.
 */
export function bigramLogits(
  sequences: readonly (readonly number[])[],
  vocabSize: number,
  fallbackToken: number,
): Float32Array {
  const counts = new Uint32Array(vocabSize * vocabSize);
  const rowTotals = new Uint32Array(vocabSize);
  for (const seq of sequences) {
    for (let i = 0; i + 1 < seq.length; i++) {
      const a = seq[i] as number;
      const b = seq[i + 1] as number;
      counts[a * vocabSize + b]! += 1;
      rowTotals[a]! += 1;
    }
  }
  if (rowTotals[fallbackToken] === 0)
    throw new Error(`bigramLogits: fallback token ${fallbackToken} has no successors`);
  const logits = new Float32Array(vocabSize * vocabSize);
  for (let a = 0; a < vocabSize; a++) {
    const src = rowTotals[a] === 0 ? fallbackToken : a;
    for (let b = 0; b < vocabSize; b++) {
      const c = counts[src * vocabSize + b] as number;
      logits[a * vocabSize + b] = c === 0 ? UNSEEN_LOGIT : Math.log(c);
    }
  }
  return logits;
}
