/**
 * Training progress on stderr: on a terminal one bar redrawn in place (steps, rate, ETA, loss);
 * elsewhere (logs, CI) a plain line every 5% of the run, so a log file stays readable.
 */
export interface Progress {
  /** `step` of the total done; `info`: a training run's epoch and loss. */
  update(step: number, info?: { readonly epoch: number; readonly loss: number }): void;
  /** A line of its own (an epoch's evaluation), printed above the bar. */
  note(line: string): void;
  done(): void;
}

export interface ProgressOptions {
  readonly total: number;
  /** The step the run starts from (a resumed run's checkpoint). */
  readonly start?: number;
  readonly stream?: NodeJS.WriteStream | { write(s: string): unknown; isTTY?: boolean; columns?: number };
  /** What is counted (default 'steps'): the rate is in these per second. */
  readonly unit?: string;
  /** Monotonic clock in seconds (tests pass their own). */
  readonly now?: () => number;
}

/** `h:mm:ss` or `m:ss`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--:--';
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600),
    m = Math.floor((s % 3600) / 60),
    r = s % 60;
  const mm = h > 0 ? String(m).padStart(2, '0') : String(m);
  return `${h > 0 ? `${h}:` : ''}${mm}:${String(r).padStart(2, '0')}`;
}

export function progressBar(o: ProgressOptions): Progress {
  const stream = o.stream ?? process.stderr;
  const now = o.now ?? (() => performance.now() / 1000);
  const tty = stream.isTTY === true;
  // the rate counts from the first step reported, so the first step's one-off costs (kernel
  // compilation, caches) do not inflate the ETA: until a second report there is no ETA
  let first: { step: number; at: number } | undefined;
  let lastLine = -1,
    drawn = false;
  const every = Math.max(1, Math.round(o.total / 20));
  const unit = o.unit ?? 'steps';
  const line = (step: number, info: { epoch: number; loss: number } | undefined) => {
    const t = now();
    first ??= { step, at: t };
    const elapsed = t - first.at,
      done = step - first.step;
    const rate = done > 0 && elapsed > 0 ? done / elapsed : 0;
    const eta = rate > 0 ? (o.total - step) / rate : Infinity;
    const pct = ((100 * step) / o.total).toFixed(0).padStart(3);
    const run = info ? ` epoch ${info.epoch} loss ${info.loss.toFixed(4)}` : '';
    const stats = `${step}/${o.total}${run} ${rate.toFixed(2)} ${unit}/s ETA ${formatDuration(eta)}`;
    if (!tty) return `${pct}% ${stats}`;
    const width = Math.max(10, Math.min(30, ((stream as { columns?: number }).columns ?? 80) - stats.length - 8));
    const filled = Math.round((width * step) / o.total);
    return `${pct}% [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${stats}`;
  };
  return {
    update(step, info) {
      if (tty) {
        stream.write(`\r${line(step, info)}\x1b[K`);
        drawn = true;
      } else if (step === o.total || Math.floor(step / every) !== Math.floor(lastLine / every)) {
        stream.write(`${line(step, info)}\n`);
        lastLine = step;
      }
    },
    note(text) {
      stream.write(tty && drawn ? `\r\x1b[K${text}\n` : `${text}\n`);
      drawn = false;
    },
    done() {
      if (tty && drawn) stream.write('\n');
      drawn = false;
    },
  };
}
