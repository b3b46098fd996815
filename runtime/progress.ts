/**
 * Progress of a backup, restore or repair for the command line: a bar (cli-progress) with bytes,
 * rate and time left when stdout is a terminal; plain lines otherwise (at most one every
 * PLAIN_EVERY_MS, plus the last), so logs and pipes stay readable. Nothing with `--json`.
 *
 * The total may be unknown at first (a backup learns it by walking the sources, see
 * `sourceBytes`); until then the bar shows bytes and rate only.
 */

import * as fs from 'node:fs';
import { join } from 'node:path';
import type cliProgress from 'cli-progress';
import { formatSize } from './daemon/units.ts';

export type ProgressLabel = 'backup' | 'restore' | 'repair';

export interface ProgressOptions {
  /** Draw a bar (stdout is a terminal) or write plain lines. */
  tty: boolean;
  /** --json: print nothing. */
  quiet?: boolean;
  /** Where plain lines go (stderr by default). */
  write?: (line: string) => void;
  /** Where the bar is drawn (stderr by default). */
  stream?: NodeJS.WritableStream;
  now?: () => number;
  /**
   * Said on Ctrl-C (SIGINT) before the process exits with 130: by default, for a backup,
   * BACKUP_INTERRUPTED; null says nothing and leaves SIGINT alone.
   */
  interrupted?: string | null;
  /** false: never touch SIGINT (tests). */
  handleSigint?: boolean;
}

export interface Progress {
  /** The total bytes, once known (null: still unknown). Never below what is done. */
  setTotal(totalBytes: number | null): void;
  update(doneBytes: number, detail?: string): void;
  /** A line of text that must not tear the bar. */
  note(line: string): void;
  stop(): void;
}

export const PLAIN_EVERY_MS = 2_000;
/** The rate is measured over about this window (a moving estimate, not the run's average). */
const RATE_WINDOW_MS = 5_000;
const MAX_SAMPLES = 64;

/** Bytes for a person (the daemon's `formatSize`), whole bytes below 1 kB (rates are fractional). */
export function formatBytes(bytes: number): string {
  return formatSize(bytes < 1000 ? Math.round(bytes) : bytes);
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const t = Math.max(0, Math.round(s));
  if (t < 60) return `${t}s`;
  if (t < 3600) return `${Math.floor(t / 60)}m${String(t % 60).padStart(2, '0')}s`;
  return `${Math.floor(t / 3600)}h${String(Math.floor((t % 3600) / 60)).padStart(2, '0')}m`;
}

/** Rate and time left from (time, bytes) samples; pure, for the tests. */
export class RateMeter {
  private samples: { atMs: number; bytes: number }[] = [];
  add(atMs: number, bytes: number): void {
    this.samples.push({ atMs, bytes });
    while (
      this.samples.length > MAX_SAMPLES ||
      (this.samples.length > 2 && atMs - this.samples[1]!.atMs >= RATE_WINDOW_MS)
    )
      this.samples.shift();
  }
  /** Bytes per second over the window; null before two samples a little apart. */
  rate(): number | null {
    const first = this.samples[0];
    const last = this.samples.at(-1);
    if (first === undefined || last === undefined || last.atMs - first.atMs < 200) return null;
    return Math.max(0, (last.bytes - first.bytes) / ((last.atMs - first.atMs) / 1000));
  }
  secondsLeft(totalBytes: number | null): number | null {
    const r = this.rate();
    const last = this.samples.at(-1);
    if (r === null || r <= 0 || totalBytes === null || last === undefined) return null;
    return Math.max(0, totalBytes - last.bytes) / r;
  }
}

/** Lines (plain and the bar) are cut to this width: they fit an 80-column terminal. */
export const LINE_COLUMNS = 80;
/** The bar redraws this often even without news (elapsed time, a stalled rate). */
const TICK_MS = 1_000;
const BAR_COLUMNS = 10;

/**
 * `parts` joined by ", ", dropping trailing parts (then cutting the last with "…") until the
 * text fits `columns`; the first part always stays.
 */
export function fitLine(parts: readonly string[], columns: number): string {
  let kept = [...parts];
  while (kept.length > 1 && kept.join(', ').length > columns) kept = kept.slice(0, -1);
  const text = kept.join(', ');
  return text.length <= columns ? text : `${text.slice(0, Math.max(0, columns - 1))}…`;
}

function lineParts(
  label: string,
  doneBytes: number,
  totalBytes: number | null,
  rate: string | null,
  tail: string[],
): string[] {
  const head =
    totalBytes === null
      ? `${label}: ${formatBytes(doneBytes)}`
      : `${label} ${totalBytes === 0 ? 100 : Math.floor((100 * doneBytes) / totalBytes)}%: ${formatBytes(doneBytes)} of ${formatBytes(totalBytes)}`;
  return [head, ...(rate === null ? [] : [rate]), ...tail];
}

/** One line: "backup 30%: 12.0 MiB of 40.0 MiB, 5.1 MiB/s, 6s left, 12 files" (at most 80 columns). */
export function progressLine(
  label: string,
  doneBytes: number,
  totalBytes: number | null,
  rate: number | null,
  secondsLeft: number | null,
  detail = '',
): string {
  const tail: string[] = [];
  if (secondsLeft !== null) tail.push(`${formatSeconds(secondsLeft)} left`);
  if (detail !== '') tail.push(detail);
  return fitLine(
    lineParts(label, doneBytes, totalBytes, rate === null ? null : `${formatBytes(rate)}/s`, tail),
    LINE_COLUMNS,
  );
}

/** The last line: the run's average rate and its duration, not the last moment's rate. */
export function finalLine(
  label: string,
  doneBytes: number,
  totalBytes: number | null,
  elapsedMs: number,
  detail = '',
): string {
  const seconds = elapsedMs / 1000;
  const rate = seconds > 0 ? `${formatBytes(doneBytes / seconds)}/s average` : null;
  const tail = [`${formatSeconds(seconds)} in all`, ...(detail === '' ? [] : [detail])];
  return fitLine(lineParts(label, doneBytes, totalBytes, rate, tail), LINE_COLUMNS);
}

/** What a backup says on Ctrl-C (a local run: the index is consistent at every point). */
export const BACKUP_INTERRUPTED = 'interrupted; the next run resumes (what was stored is kept)';

export async function createProgress(label: ProgressLabel, options: ProgressOptions): Promise<Progress> {
  const now = options.now ?? Date.now;
  const write = options.write ?? ((l: string) => process.stderr.write(`${l}\n`));
  const meter = new RateMeter();
  const startedMs = now();
  let total: number | null = null;
  let done = 0;
  let updated = false;
  let detail = '';
  if (options.quiet) return { setTotal() {}, update() {}, note: write, stop() {} };
  /** Before the first news of a backup: it is walking the sources (restic says "scanning"). */
  const waiting = (): string => (label === 'backup' ? 'scanning' : 'starting');
  const interrupted = options.interrupted ?? (label === 'backup' ? BACKUP_INTERRUPTED : null);
  let stopSelf: () => void = () => {};
  const onSigint = (): void => {
    stopSelf();
    write(`${label} ${interrupted}`);
    process.exit(130);
  };
  if (interrupted !== null && options.handleSigint !== false) process.once('SIGINT', onSigint);
  const unhook = (): void => {
    process.removeListener('SIGINT', onSigint);
  };
  if (!options.tty) {
    let lastLineMs = -Infinity;
    let stopped = false;
    const line = (): string =>
      progressLine(label, done, total, meter.rate(), meter.secondsLeft(total), detail);
    // A backup says from its first second what it is doing (the walk comes before any bytes).
    if (label === 'backup') write(`${label}: ${waiting()}`);
    const p: Progress = {
      setTotal(t) {
        total = t === null ? null : Math.max(t, done);
      },
      update(bytes, d) {
        if (stopped) return;
        updated = true;
        done = bytes;
        if (d !== undefined) detail = d;
        if (total !== null && done > total) total = done;
        meter.add(now(), done);
        if (now() - lastLineMs >= PLAIN_EVERY_MS) {
          lastLineMs = now();
          write(line());
        }
      },
      note(l) {
        write(l);
      },
      stop() {
        if (stopped) return;
        stopped = true;
        unhook();
        if (done > 0) write(finalLine(label, done, total, now() - startedMs, detail));
      },
    };
    stopSelf = () => {
      stopped = true;
    };
    return p;
  }
  const { default: progress } = await import('cli-progress');
  const stream = options.stream ?? process.stderr;
  const bar: cliProgress.SingleBar = new progress.SingleBar(
    {
      format: `${label.padEnd(7)} [{bar}] {info}`,
      stream,
      hideCursor: true,
      barsize: BAR_COLUMNS,
      fps: 5,
    },
    progress.Presets.shades_classic,
  );
  /** Room for the info after "label   [bar] " within the line width. */
  const infoColumns = (): number => {
    const columns = Math.min(LINE_COLUMNS, (stream as { columns?: number }).columns ?? LINE_COLUMNS);
    return Math.max(10, columns - (9 + BAR_COLUMNS + 2));
  };
  const payload = (final = false): Record<string, string> => {
    if (!updated && !final)
      return { info: fitLine([`${waiting()}`, formatSeconds((now() - startedMs) / 1000)], infoColumns()) };
    const amount = total === null ? formatBytes(done) : `${formatBytes(done)} of ${formatBytes(total)}`;
    const parts = [amount];
    if (final) {
      const seconds = (now() - startedMs) / 1000;
      if (seconds > 0) parts.push(`${formatBytes(done / seconds)}/s average`);
      parts.push(`${formatSeconds(seconds)} in all`);
    } else {
      const r = meter.rate();
      const left = meter.secondsLeft(total);
      if (r !== null) parts.push(`${formatBytes(r)}/s`);
      if (left !== null) parts.push(`${formatSeconds(left)} left`);
    }
    if (detail !== '') parts.push(detail);
    return { info: fitLine(parts, infoColumns()) };
  };
  bar.start(1, 0, payload());
  let stopped = false;
  const render = (final = false): void => {
    if (stopped) return; // a late total (the walk) after the end draws nothing
    bar.setTotal(total === null ? Math.max(1, done * 2) : Math.max(1, total));
    bar.update(total === null ? 0 : done, payload(final));
  };
  // Redraw every second without news too: the elapsed time while scanning, a stalled rate.
  const ticker = setInterval(() => {
    if (updated) meter.add(now(), done);
    render();
  }, TICK_MS);
  ticker.unref();
  const finish = (): void => {
    if (stopped) return;
    clearInterval(ticker);
    unhook();
    if (updated) render(true);
    stopped = true;
    bar.stop();
  };
  stopSelf = finish;
  return {
    setTotal(t) {
      total = t === null ? null : Math.max(t, done);
      render();
    },
    update(bytes, d) {
      updated = true;
      done = bytes;
      if (d !== undefined) detail = d;
      if (total !== null && done > total) total = done;
      meter.add(now(), done);
      render();
    },
    note(l) {
      stream.write(`\r\x1b[K${l}\n`);
      render();
    },
    stop: finish,
  };
}

/**
 * Bytes a backup's scan has dealt with, from its running stats: unchanged files count whole at
 * once, changed files as they are read (`bytes` alone grows only when a file is finished).
 *
 * With `bytesUnchanged` (the scanner counts it) that is `bytesUnchanged + bytesRead`. Stats
 * without it (a daemon of an older version) are estimated from the steps of `bytes` while
 * `filesUnchanged` grows, which counts twice a read file that finished in the same step.
 */
export function scanDoneBytes(): (s: {
  bytes: number;
  bytesRead?: number;
  filesUnchanged?: number;
  bytesUnchanged?: number;
}) => number {
  let unchangedBytes = 0;
  let prevBytes = 0;
  let prevUnchanged = 0;
  return (s) => {
    if (s.bytesUnchanged !== undefined) return Math.max(s.bytes, s.bytesUnchanged + (s.bytesRead ?? 0));
    if (s.filesUnchanged !== undefined && s.filesUnchanged > prevUnchanged)
      unchangedBytes += s.bytes - prevBytes;
    prevBytes = s.bytes;
    prevUnchanged = s.filesUnchanged ?? prevUnchanged;
    return Math.max(s.bytes, unchangedBytes + (s.bytesRead ?? 0));
  };
}

/**
 * Bytes of regular files under `roots` (what a backup reads at most), by a bounded walk; null when
 * the walk hits `maxEntries` or `maxMs` (the bar then shows no total).
 */
export async function sourceBytes(
  roots: readonly string[],
  bounds: { maxEntries?: number; maxMs?: number } = {},
): Promise<number | null> {
  const maxEntries = bounds.maxEntries ?? 200_000;
  const deadline = Date.now() + (bounds.maxMs ?? 5_000);
  let entries = 0;
  let bytes = 0;
  const stack = [...roots];
  while (stack.length > 0) {
    const dir = stack.pop()!;
    let names: fs.Dirent[];
    try {
      names = await fs.promises.readdir(dir, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const d of names) {
      if (++entries > maxEntries || Date.now() > deadline) return null;
      const path = join(dir, d.name);
      if (d.isDirectory()) stack.push(path);
      else if (d.isFile()) {
        try {
          bytes += (await fs.promises.lstat(path)).size;
        } catch {}
      }
    }
  }
  return bytes;
}
