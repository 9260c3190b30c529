// Types for the two blessed-contrib widget files the renderer imports one by one (the package's index loads ~180
// modules; its own index.d.ts does not describe the deep paths), and for blessed's own width table, which the
// renderer wraps.
declare module 'blessed-contrib/lib/widget/sparkline.js' {
  import type { Widgets } from 'blessed';
  interface SparklineWidget extends Widgets.BoxElement {
    setData(titles: string[], datasets: number[][]): void;
  }
  function sparkline(options: Widgets.BoxOptions & { style?: Record<string, unknown> }): SparklineWidget;
  export default sparkline;
}

declare module 'blessed-contrib/lib/widget/gauge.js' {
  import type { Widgets } from 'blessed';
  interface GaugeWidget extends Widgets.BoxElement {
    setPercent(percent: number): void;
  }
  function gauge(
    options: Widgets.BoxOptions & { stroke?: string; fill?: string; showLabel?: boolean; label?: string },
  ): GaugeWidget;
  export default gauge;
}

declare module 'blessed/lib/unicode.js' {
  const unicode: { charWidth: (str: string | number, i?: number) => number };
  export default unicode;
}
