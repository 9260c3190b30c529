/**
 * Benchmark 5, chat streaming overhead: tokens per second of a streamed `POST /v1/chat/completions` versus
 * `generate()` called directly on the same model files in a worker thread (`lib/direct-worker.mjs`). Same prompt,
 * sampling settings and seed on both sides, so both produce the same tokens. Target: at least 0.9 of direct.
 *
 * A reply's time splits into time to first token (request, prompt, first step) and streaming (every further token);
 * both are reported, and the target is checked on the streaming rate, `(tokens - 1) / (end - first token)`, where the
 * end is the chunk with `finish_reason` (server) or the return of `generate()` (direct). End-to-end tokens per second
 * (tokens over request-to-end) is reported too.
 *
 * Two baselines: a streamer that only counts tokens (the least a caller can do; the target's baseline), and
 * transformers.js's own `TextStreamer` (a caller that streams text must detokenise too).
 *
 * Two models: the tiny demo model generates about as fast as a model can (~0.2 ms a token), so every per-token cost
 * of the server (incremental detokenisation, the stop filter, a message from the worker, one SSE frame, the client's
 * parsing) shows at its largest; the 100 MB one takes a few ms a token, nearer a real small model.
 */

import http from 'node:http';

import { createSseParser } from '../dist/protocol/sse.js';
import {
  BIG_MODEL,
  TINY_MODEL,
  benchArgs,
  demoModelsDir,
  expectReady,
  figure,
  loadModel,
  log,
  median,
  monoMs,
  pairedRatio,
  postJson,
  prepareCache,
  report,
  startDirectWorker,
  startOfflineServer,
  tempDir,
} from './lib/common.mjs';

const { smoke } = benchArgs();
const chatModels = smoke ? [TINY_MODEL] : [TINY_MODEL, BIG_MODEL];
const repetitions = smoke ? 1 : 9;
/** Replies per side in one repetition (a round): its rate is their tokens over their time. */
const BATCH = smoke ? 1 : 8;
const MAX_TOKENS = smoke ? 16 : 256;
/** Seeds tried when looking for long replies (the demo models end most replies within a few dozen tokens). */
const SEEDS_SCANNED = smoke ? 1 : 150;
/** Untimed rounds before the timed ones (JIT, buffers: a long-running server is warm). */
const WARM_UP = smoke ? 1 : 2;
const MESSAGES = [{ role: 'user', content: 'Tell me about the weather in the mountains.' }];
const TEMPERATURE = 1;
const SIDES = ['server', 'count', 'text'];
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

const models = await demoModelsDir(chatModels);
const cache = await tempDir('chat-cache');
const figures = [];
const notes = [];
let seeds;
try {
  const server = await startOfflineServer(cache.path);
  try {
    for (const model of chatModels) {
      await prepareCache(models, cache.path, model);
      const direct = await startDirectWorker({ cacheDir: cache.path, model });
      try {
        expectReady(await loadModel(server.url, model), `loading ${model}`);
        const run = {
          server: (seed) => streamChat(server.url, model, seed),
          count: (seed) => direct.generate(generateRequest(seed, 'count')),
          text: (seed) => direct.generate(generateRequest(seed, 'text')),
        };
        // The demo models share their tokens and bigram table, so the longest replies of the first (fast) model are
        // the longest of every model: the seeds are picked once.
        seeds ??= await longestReplies(run.count);
        // One round runs every seed on every side, interleaved reply by reply (the order rotating), so that each
        // side's sums cover the same stretch of time: the machine's speed drifts within a second.
        const round = async (index) => {
          const replies = { server: [], count: [], text: [] };
          for (const [i, seed] of seeds.entries()) {
            for (let k = 0; k < SIDES.length; k += 1) {
              const side = SIDES[(index + i + k) % SIDES.length];
              replies[side].push(await run[side](seed));
            }
          }
          return Object.fromEntries(SIDES.map((side) => [side, summarise(replies[side])]));
        };
        for (let i = 0; i < WARM_UP; i += 1) await round(i);
        const runs = { server: [], count: [], text: [] };
        for (let rep = 0; rep < repetitions; rep += 1) {
          const result = await round(rep);
          for (const side of SIDES) runs[side].push(result[side]);
          const tokens = SIDES.map((side) => result[side].tokens);
          if (new Set(tokens).size !== 1) log(`${model}: tokens differ between the sides: ${tokens.join(', ')}`);
          log(
            `chat ${model} rep ${rep + 1}/${repetitions}: ${tokens[0]} tokens, streaming ` +
              SIDES.map((side) => `${side} ${streamingRate(result[side]).toFixed(0)}/s`).join(', '),
          );
        }
        const of = (side, fn) => runs[side].map(fn);
        figures.push(
          figure(`${model}: streaming tokens/s`, median(of('server', streamingRate)), 'tokens/s', {
            baseline: median(of('count', streamingRate)),
            baselineLabel: 'generate() direct, counting streamer',
            ratio: pairedRatio(of('server', streamingRate), of('count', streamingRate)),
            op: '>=',
            target: 0.9,
            samples: of('server', streamingRate),
          }),
          figure(`${model}: streaming tokens/s vs TextStreamer`, median(of('server', streamingRate)), 'tokens/s', {
            baseline: median(of('text', streamingRate)),
            baselineLabel: 'generate() direct, TextStreamer',
            ratio: pairedRatio(of('server', streamingRate), of('text', streamingRate)),
          }),
          figure(`${model}: end-to-end tokens/s`, median(of('server', endToEndRate)), 'tokens/s', {
            baseline: median(of('count', endToEndRate)),
            baselineLabel: 'generate() direct, counting streamer',
            ratio: pairedRatio(of('server', endToEndRate), of('count', endToEndRate)),
            samples: of('server', endToEndRate),
          }),
          figure(`${model}: time to first token`, median(of('server', (r) => r.firstTokenMs)), 'ms', {
            baseline: median(of('count', (r) => r.firstTokenMs)),
            baselineLabel: 'generate() direct, first token',
            samples: of('server', (r) => r.firstTokenMs),
          }),
          figure(`${model}: tokens per content chunk`, median(of('server', (r) => r.tokens / r.chunks)), 'tokens', {
            samples: of('server', (r) => r.tokens / r.chunks),
          }),
        );
        notes.push(`${model}: ${runs.server[0].tokens} tokens per batch of ${seeds.length} replies.`);
        await postJson(`${server.url}/unload_model`, { model });
      } finally {
        await direct.close();
      }
    }
  } finally {
    await server.close();
  }
} finally {
  await cache.cleanup();
}
notes.push(
  `max_tokens ${MAX_TOKENS}, temperature ${TEMPERATURE}; seeds ${seeds.join(', ')}: the longest replies of seeds ` +
    `1–${SEEDS_SCANNED}. A repetition runs every seed once per side (server, counting streamer, TextStreamer), ` +
    'interleaved reply by reply in rotating order; its rate is the tokens over the time of its replies. Ratios are the median of the ' +
    'per-repetition ratios. Server and its node:http client in this process; the direct worker in this process too.',
  'Server: tokens = usage.completion_tokens; times from sending the request to the first content chunk and to the ' +
    'chunk with finish_reason. Direct: times from calling model.generate() to the first new token and to its return.',
);
await report({ id: 'chat-streaming', title: 'Chat streaming', repetitions, figures, notes });

function generateRequest(seed, streamer) {
  return { messages: MESSAGES, maxTokens: MAX_TOKENS, temperature: TEMPERATURE, seed, streamer };
}

/** One batch of replies as one: summed tokens and times, the median time to first token. */
function summarise(replies) {
  const sum = (fn) => replies.reduce((total, reply) => total + fn(reply), 0);
  return {
    tokens: sum((r) => r.tokens),
    chunks: sum((r) => r.chunks ?? r.tokens),
    totalMs: sum((r) => r.totalMs),
    streamTokens: sum((r) => Math.max(0, r.tokens - 1)),
    streamMs: sum((r) => r.totalMs - r.firstTokenMs),
    firstTokenMs: median(replies.map((r) => r.firstTokenMs)),
  };
}

/** Tokens after each reply's first, per second of the time after each reply's first token. */
function streamingRate(batch) {
  return batch.streamTokens / (batch.streamMs / 1000);
}

function endToEndRate(batch) {
  return batch.tokens / (batch.totalMs / 1000);
}

/** The BATCH seeds (of 1…SEEDS_SCANNED) with the longest replies, longest first. */
async function longestReplies(generate) {
  const lengths = [];
  for (let seed = 1; seed <= SEEDS_SCANNED; seed += 1) lengths.push([seed, (await generate(seed)).tokens]);
  lengths.sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  return lengths.slice(0, BATCH).map(([seed]) => seed);
}

/**
 * One streamed chat completion over `node:http` (a keep-alive agent), parsed with the project's SSE parser: the
 * lightest client there is, since it shares this process (and the machine's two cores) with the server.
 * Resolves with the token count, total and first-token times (ms).
 */
function streamChat(url, model, seed) {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({
      model,
      messages: MESSAGES,
      stream: true,
      max_tokens: MAX_TOKENS,
      temperature: TEMPERATURE,
      seed,
    });
    const started = monoMs();
    let firstTokenMs;
    let totalMs;
    let tokens;
    let chunks = 0;
    const req = http.request(`${url}/v1/chat/completions`, {
      method: 'POST',
      agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    });
    req.on('error', reject);
    req.on('response', (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`chat answered ${res.statusCode}`));
        res.resume();
        return;
      }
      const parser = createSseParser({
        onEvent: ({ data }) => {
          if (data === '[DONE]') return;
          const chunk = JSON.parse(data);
          if (chunk.error !== undefined) throw new Error(`generation failed: ${JSON.stringify(chunk.error)}`);
          const choice = chunk.choices[0];
          if (choice.delta.content) {
            firstTokenMs ??= monoMs() - started;
            chunks += 1;
          }
          if (choice.finish_reason !== null) {
            totalMs = monoMs() - started;
            tokens = chunk.usage.completion_tokens;
          }
        },
      });
      res.on('data', (bytes) => parser.feed(bytes));
      res.on('error', reject);
      res.on('end', () => {
        parser.end();
        if (totalMs === undefined || tokens === undefined) {
          reject(new Error('the stream ended without finish_reason'));
          return;
        }
        // A reply of one token (or none) has no streaming phase; count its end as its first token.
        resolve({ tokens, chunks, totalMs, firstTokenMs: firstTokenMs ?? totalMs });
      });
    });
    req.end(body);
  });
}
