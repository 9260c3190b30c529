import parsePrometheusTextFormat, { type Family, type Sample } from 'parse-prometheus-text-format';

/** One scrape of `GET /metrics`, parsed by a reference Prometheus parser. */
export interface Scrape {
  readonly status: number;
  readonly contentType: string | null;
  readonly families: readonly Family[];
  /** The family of that name (undefined when absent). */
  family(name: string): Family | undefined;
  /** The sample of `name` whose labels include `labels` (a counter's or gauge's value as a number; 0 when absent). */
  value(name: string, labels?: Record<string, string>): number;
  /** The histogram sample of `name` whose labels include `labels`: its count (0 when absent). */
  count(name: string, labels?: Record<string, string>): number;
}

function matches(sample: Sample, labels: Record<string, string>): boolean {
  return Object.entries(labels).every(([k, v]) => sample.labels?.[k] === v);
}

/**
 * GETs `url/metrics` (with `headers`) and parses it. The reference parser keeps a histogram's labels only when it has
 * none (it folds labelled series into one sample), so the text is parsed twice: as it is (every line checked, the
 * families and their types), and with each histogram declared untyped, where its `_count` series are families of
 * their own with their labels.
 */
export async function scrape(url: string, headers: Record<string, string> = {}): Promise<Scrape> {
  const res = await fetch(`${url}/metrics`, { headers });
  const text = await res.text();
  const families = res.status === 200 ? parsePrometheusTextFormat(text) : [];
  const series =
    res.status === 200 ? parsePrometheusTextFormat(text.replace(/^(# TYPE \S+) histogram$/gm, '$1 untyped')) : [];
  const family = (name: string): Family | undefined => families.find((f) => f.name === name);
  const sample = (name: string, labels: Record<string, string>): Sample | undefined =>
    // One family per run of lines: a histogram's `_count` lines, apart from each other, make several of one name.
    series.flatMap((f) => (f.name === name ? f.metrics : [])).find((s) => matches(s, labels));
  return {
    status: res.status,
    contentType: res.headers.get('content-type'),
    families,
    family,
    value: (name, labels = {}) => Number(sample(name, labels)?.value ?? 0),
    count: (name, labels = {}) => Number(sample(`${name}_count`, labels)?.value ?? 0),
  };
}
