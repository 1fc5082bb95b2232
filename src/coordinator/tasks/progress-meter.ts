/** Rows-per-second progress for run logs: a line at most every `everyMs`, and a summary at the end. */
export class ProgressMeter {
  readonly #started = performance.now();
  readonly #everyMs: number;
  #lastAt = this.#started;

  constructor(everyMs = 2_000) {
    this.#everyMs = everyMs;
  }

  /** A progress line when `everyMs` passed since the last one, else null. */
  tick(rows: number): string | null {
    const now = performance.now();
    if (now - this.#lastAt < this.#everyMs) return null;
    this.#lastAt = now;
    return `progress after ${this.#seconds(now)}s (${this.rate(rows)} rows/s)`;
  }

  rate(rows: number): number {
    const seconds = (performance.now() - this.#started) / 1000;
    return seconds > 0 ? Math.round(rows / seconds) : 0;
  }

  summary(rows: number): string {
    return `${rows} rows in ${this.#seconds(performance.now())}s (${this.rate(rows)} rows/s)`;
  }

  #seconds(now: number): string {
    return ((now - this.#started) / 1000).toFixed(1);
  }
}
