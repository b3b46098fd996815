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

/** One line: "backup 30%: 12.0 MiB of 40.0 MiB, 5.1 MiB/s, 6s left, 12 files". */
export function progressLine(
  label: string,
  doneBytes: number,
  totalBytes: number | null,
  rate: number | null,
  secondsLeft: number | null,
  detail = '',
): string {
  const parts = [
    totalBytes === null
      ? `${label}: ${formatBytes(doneBytes)}`
      : `${label} ${totalBytes === 0 ? 100 : Math.floor((100 * doneBytes) / totalBytes)}%: ${formatBytes(doneBytes)} of ${formatBytes(totalBytes)}`,
  ];
  if (rate !== null) parts.push(`${formatBytes(rate)}/s`);
  if (secondsLeft !== null) parts.push(`${formatSeconds(secondsLeft)} left`);
  if (detail !== '') parts.push(detail);
  return parts.join(', ');
}

export async function createProgress(label: ProgressLabel, options: ProgressOptions): Promise<Progress> {
  const now = options.now ?? Date.now;
  const write = options.write ?? ((l: string) => process.stderr.write(`${l}\n`));
  const meter = new RateMeter();
  let total: number | null = null;
  let done = 0;
  let detail = '';
  if (options.quiet) return { setTotal() {}, update() {}, note: write, stop() {} };
  if (!options.tty) {
    let lastLineMs = -Infinity;
    let lastLine = '';
    let stopped = false;
    const line = (): string =>
      progressLine(label, done, total, meter.rate(), meter.secondsLeft(total), detail);
    return {
      setTotal(t) {
        total = t === null ? null : Math.max(t, done);
      },
      update(bytes, d) {
        if (stopped) return;
        done = bytes;
        if (d !== undefined) detail = d;
        if (total !== null && done > total) total = done;
        meter.add(now(), done);
        if (now() - lastLineMs >= PLAIN_EVERY_MS) {
          lastLineMs = now();
          lastLine = line();
          write(lastLine);
        }
      },
      note(l) {
        write(l);
      },
      stop() {
        if (stopped) return;
        stopped = true;
        const l = line();
        if (l !== lastLine && done > 0) write(l);
      },
    };
  }
  const { default: progress } = await import('cli-progress');
  const bar: cliProgress.SingleBar = new progress.SingleBar(
    {
      format: `${label.padEnd(7)} [{bar}] {info}`,
      stream: options.stream ?? process.stderr,
      hideCursor: true,
      barsize: 30,
      fps: 5,
    },
    progress.Presets.shades_classic,
  );
  const payload = (): Record<string, string> => {
    const r = meter.rate();
    const left = meter.secondsLeft(total);
    const parts = [total === null ? formatBytes(done) : `${formatBytes(done)} of ${formatBytes(total)}`];
    if (r !== null) parts.push(`${formatBytes(r)}/s`);
    if (left !== null) parts.push(`${formatSeconds(left)} left`);
    if (detail !== '') parts.push(detail);
    return { info: parts.join(', ') };
  };
  bar.start(1, 0, payload());
  let stopped = false;
  const render = (): void => {
    if (stopped) return; // a late total (the walk) after the end draws nothing
    bar.setTotal(total === null ? Math.max(1, done * 2) : Math.max(1, total));
    bar.update(total === null ? 0 : done, payload());
  };
  return {
    setTotal(t) {
      total = t === null ? null : Math.max(t, done);
      render();
    },
    update(bytes, d) {
      done = bytes;
      if (d !== undefined) detail = d;
      if (total !== null && done > total) total = done;
      meter.add(now(), done);
      render();
    },
    note(l) {
      (options.stream ?? process.stderr).write(`\r\x1b[K${l}\n`);
      render();
    },
    stop() {
      if (stopped) return;
      stopped = true;
      bar.stop();
    },
  };
}

/**
 * Bytes a backup's scan has dealt with, from its running stats: unchanged files count whole at
 * once, changed files as they are read (`bytes` alone grows only when a file is finished).
 */
export function scanDoneBytes(): (s: {
  bytes: number;
  bytesRead?: number;
  filesUnchanged?: number;
}) => number {
  let unchangedBytes = 0;
  let prevBytes = 0;
  let prevUnchanged = 0;
  return (s) => {
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
