import client from 'prom-client';

/**
 * Prometheus metrics of stream workers, registered once per registry:
 * - `trellis_stream_consumer_lag{source,partition}`: high watermark − next offset after the last batch.
 * - `trellis_stream_events_total{source}`: events consumed (rate() gives events/s).
 * - `trellis_stream_freshness_seconds{source}`: event time → tiles written (visible to reads), per event.
 * - `trellis_stream_late_events_total{source}`: events behind their partition's watermark but within the allowed
 *   lateness (applied); `trellis_stream_dropped_events_total{source}`: later than that (not applied).
 * - `trellis_stream_dead_letters_total{source}`: malformed messages sent to `<topic>.dlq`.
 * - `trellis_stream_replayed_events_total{source}`: tile updates skipped as replays after a restart/rebalance.
 */
export class StreamMetrics {
  readonly lag: client.Gauge<'source' | 'partition'>;
  readonly events: client.Counter<'source'>;
  readonly freshness: client.Histogram<'source'>;
  readonly late: client.Counter<'source'>;
  readonly dropped: client.Counter<'source'>;
  readonly deadLetters: client.Counter<'source'>;
  readonly replayed: client.Counter<'source'>;

  constructor(registry: client.Registry = new client.Registry()) {
    const existing = <T>(name: string): T | undefined => registry.getSingleMetric(name) as T | undefined;
    this.lag = existing('trellis_stream_consumer_lag') ?? new client.Gauge({ name: 'trellis_stream_consumer_lag', help: 'Messages behind the partition end after the last batch', labelNames: ['source', 'partition'], registers: [registry] });
    this.events = existing('trellis_stream_events_total') ?? new client.Counter({ name: 'trellis_stream_events_total', help: 'Stream events consumed', labelNames: ['source'], registers: [registry] });
    this.freshness =
      existing('trellis_stream_freshness_seconds') ??
      new client.Histogram({ name: 'trellis_stream_freshness_seconds', help: 'Event time to visible in the online store', labelNames: ['source'], buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers: [registry] });
    this.late = existing('trellis_stream_late_events_total') ?? new client.Counter({ name: 'trellis_stream_late_events_total', help: 'Out-of-order events within the allowed lateness (applied)', labelNames: ['source'], registers: [registry] });
    this.dropped = existing('trellis_stream_dropped_events_total') ?? new client.Counter({ name: 'trellis_stream_dropped_events_total', help: 'Events later than the allowed lateness (dropped)', labelNames: ['source'], registers: [registry] });
    this.deadLetters = existing('trellis_stream_dead_letters_total') ?? new client.Counter({ name: 'trellis_stream_dead_letters_total', help: 'Malformed messages sent to the dead-letter topic', labelNames: ['source'], registers: [registry] });
    this.replayed = existing('trellis_stream_replayed_events_total') ?? new client.Counter({ name: 'trellis_stream_replayed_events_total', help: 'Tile updates skipped as replays', labelNames: ['source'], registers: [registry] });
  }

  /** Also exposes these metrics in `registry` (e.g. the app's `/metrics`); metrics of the same name there are kept. */
  exposeIn(registry: client.Registry): void {
    for (const metric of [this.lag, this.events, this.freshness, this.late, this.dropped, this.deadLetters, this.replayed] as client.Metric[]) {
      const name = (metric as unknown as { name: string }).name;
      if (!registry.getSingleMetric(name)) registry.registerMetric(metric);
    }
  }
}
