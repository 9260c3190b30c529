/**
 * `GET /metrics`'s figures, in the Prometheus text format through prom-client. Each server has its own registry (never
 * prom-client's global one), so several servers in one process (tests, the demo stack) keep their figures apart.
 *
 * Everything here is read from what the server already reports: the load manager's events (loads, stages, bytes,
 * unloads), its tables at scrape time (resident, loading, queued, weight bytes), the chat routes' observer, and the
 * downloader's retries. Scraping reads the tables and never touches a model: it resets no idle timer.
 */

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { QUEUED_STAGE, type LoadEvent } from '../protocol/events.js';
import type { UnloadReason } from '../protocol/feed.js';
import type { LoadManager, ManagerEvent } from './load-manager.js';

/** What the chat routes tell the metrics of one finished reply. */
export interface ChatMeasure {
  /** `id@revision`. */
  readonly model: string;
  /** `stop`, `length` or `error`. */
  readonly outcome: string;
  /** Seconds from the start of the generation to its first piece of text; undefined when none came. */
  readonly firstTokenSeconds: number | undefined;
  /** Seconds of the whole generation. */
  readonly seconds: number;
  readonly completionTokens: number;
}

/** One server's metrics. */
export interface ServerMetrics {
  /** The registry `GET /metrics` renders. */
  readonly registry: Registry;
  /** Follows `manager`'s loads and unloads, and reads its tables at each scrape; returns the function that stops it. */
  follow(manager: LoadManager, inFlight: () => number): () => void;
  /** A download request is tried again. */
  downloadRetried(): void;
  /** A chat reply ended (or failed while generating). */
  chatEnded(measure: ChatMeasure): void;
  /** A chat request was refused with 429 `QUEUE_FULL`. */
  chatRejected(model: string): void;
}

/** Seconds: a load of the demo's tiny models takes well under a second, a real model from the hub minutes. */
const LOAD_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];
const TOKEN_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** What is known of one load under way, from its events. */
interface LoadWatch {
  readonly startedAt: number;
  stage: string | undefined;
  stageAt: number;
  /** Download bytes the stage's last progress event counted. */
  downloaded: number;
  /** Whether any byte came over the network (false: the load read only the disk cache). */
  fetched: boolean;
}

/** Creates one server's metrics, with prom-client's process and Node.js defaults in its own registry. */
export function createServerMetrics(now: () => number = () => performance.now()): ServerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const loadDuration = new Histogram({
    name: 'modeldeck_model_load_duration_seconds',
    help: 'Seconds from a load’s first event to its end; cached="true" when no byte came over the network',
    labelNames: ['model', 'outcome', 'cached'] as const,
    buckets: LOAD_BUCKETS,
    registers,
  });
  const stageSeconds = new Histogram({
    name: 'modeldeck_model_load_stage_seconds',
    help: 'Seconds a load spent in one stage (queued, processor, config, download, weights)',
    labelNames: ['stage'] as const,
    buckets: LOAD_BUCKETS,
    registers,
  });
  const unloads = new Counter({
    name: 'modeldeck_model_unloads_total',
    help: 'Models that left memory (or loads cancelled), by reason',
    labelNames: ['reason'] as const,
    registers,
  });
  const downloadBytes = new Counter({
    name: 'modeldeck_download_bytes_total',
    help: 'Bytes of model files fetched over the network',
    registers,
  });
  const retries = new Counter({
    name: 'modeldeck_download_retries_total',
    help: 'Download requests tried again after a transient failure',
    registers,
  });
  const ttft = new Histogram({
    name: 'modeldeck_time_to_first_token_seconds',
    help: 'Seconds from the start of a generation to its first text',
    labelNames: ['model'] as const,
    buckets: TOKEN_BUCKETS,
    registers,
  });
  const tpot = new Histogram({
    name: 'modeldeck_time_per_output_token_seconds',
    help: 'Seconds per completion token after the first, per reply',
    labelNames: ['model'] as const,
    buckets: TOKEN_BUCKETS,
    registers,
  });
  const chats = new Counter({
    name: 'modeldeck_chat_requests_total',
    help: 'Chat and completion requests that generated, by outcome (stop, length, error), and those refused (queue_full)',
    labelNames: ['model', 'outcome'] as const,
    registers,
  });
  const rejected = new Counter({
    name: 'modeldeck_chat_rejected_total',
    help: 'Chat requests refused with 429 QUEUE_FULL',
    labelNames: ['model'] as const,
    registers,
  });
  // Every reason is shown from the start, so a rate over a counter that has not moved yet is 0, not absent.
  for (const reason of UNLOAD_REASON_LABELS) unloads.inc({ reason }, 0);
  downloadBytes.inc(0);
  retries.inc(0);

  const loads = new Map<string, LoadWatch>();
  const onLoad = (event: LoadEvent): void => {
    const at = now();
    let watch = loads.get(event.model);
    if (watch === undefined) {
      watch = { startedAt: at, stage: undefined, stageAt: at, downloaded: 0, fetched: false };
      loads.set(event.model, watch);
    }
    const stage = event.status === 'loading' ? event.stage : undefined;
    if (stage !== watch.stage) {
      if (watch.stage !== undefined) stageSeconds.observe({ stage: watch.stage }, (at - watch.stageAt) / 1000);
      watch.stage = stage;
      watch.stageAt = at;
      watch.downloaded = 0;
    }
    if (event.status === 'loading' && event.stage === 'download' && event.progress !== undefined) {
      const delta = event.progress.current - watch.downloaded;
      if (delta > 0) {
        downloadBytes.inc(delta);
        watch.fetched = true;
      }
      watch.downloaded = event.progress.current;
    }
    if (event.status === 'loading') return;
    loads.delete(event.model);
    const outcome = event.status === 'ready' ? 'ready' : event.code === 'CANCELLED' ? 'cancelled' : 'error';
    const labels = { model: event.model, outcome, cached: String(!watch.fetched) };
    loadDuration.observe(labels, (at - watch.startedAt) / 1000);
  };

  return {
    registry,
    follow(manager, inFlight) {
      tableGauges(registry, manager, inFlight);
      return manager.watch((event: ManagerEvent) => {
        if (event.type === 'load') onLoad(event.event);
        else if (event.type === 'unload') unloads.inc({ reason: event.reason });
      });
    },
    downloadRetried: () => retries.inc(),
    chatEnded(measure) {
      chats.inc({ model: measure.model, outcome: measure.outcome });
      if (measure.firstTokenSeconds === undefined) return;
      ttft.observe({ model: measure.model }, measure.firstTokenSeconds);
      if (measure.completionTokens > 1) {
        const rest = (measure.seconds - measure.firstTokenSeconds) / (measure.completionTokens - 1);
        tpot.observe({ model: measure.model }, Math.max(0, rest));
      }
    },
    chatRejected(model) {
      rejected.inc({ model });
      chats.inc({ model, outcome: 'queue_full' });
    },
  };
}

/** Every reason an unload has on the wire, in the order the docs list them. */
const UNLOAD_REASON_LABELS: readonly UnloadReason[] = [
  'request',
  'idle',
  'evicted',
  'keep_alive',
  'reset',
  'cancelled',
  'shutdown',
];

/** Registers the gauges read from the manager's tables at each scrape (never touching a model). */
function tableGauges(registry: Registry, manager: LoadManager, inFlight: () => number): void {
  const registers = [registry];
  new Gauge({
    name: 'modeldeck_models_resident',
    help: 'Models in memory',
    registers,
    collect() {
      this.set(manager.residentRefs().length);
    },
  });
  new Gauge({
    name: 'modeldeck_models_loading',
    help: 'Loads under way (running or waiting their turn)',
    registers,
    collect() {
      this.set(manager.loadingRefs().length);
    },
  });
  new Gauge({
    name: 'modeldeck_loads_queued',
    help: 'Loads waiting their turn (stage queued) under --max-loads or --max-models',
    registers,
    collect() {
      this.set(manager.models().filter((model) => model.state === 'loading' && model.stage === QUEUED_STAGE).length);
    },
  });
  new Gauge({
    name: 'modeldeck_pulls_under_way',
    help: 'Download-only pulls (POST /pull_model) running or waiting their turn',
    registers,
    collect() {
      this.set(manager.pulls().length);
    },
  });
  new Gauge({
    name: 'modeldeck_pulls_queued',
    help: 'Pulls waiting their turn (stage queued) for a --max-loads slot',
    registers,
    collect() {
      this.set(manager.pulls().filter((pull) => pull.stage === QUEUED_STAGE).length);
    },
  });
  new Gauge({
    name: 'modeldeck_model_weight_bytes',
    help: 'Bytes of each resident model’s weight files',
    labelNames: ['model'] as const,
    registers,
    collect() {
      this.reset();
      for (const model of manager.models()) {
        if (model.state === 'resident' && typeof model.size_bytes === 'number') {
          this.set({ model: model.model }, model.size_bytes);
        }
      }
    },
  });
  new Gauge({
    name: 'modeldeck_chat_requests_in_flight',
    help: 'Chat requests holding a model (generating or waiting in its line)',
    registers,
    collect() {
      this.set(inFlight());
    },
  });
}
