/**
 * The repair window as the run measures it: for every shard a disk failure takes from a stored
 * stripe, the time from the failure until the shard exists again (detection, then queueing and
 * transfer at the modelled bandwidth, then placement), or until the stripe stops being at risk
 * (lost or deleted), or the end of the run. The windows are kept in a bounded log-spaced
 * histogram, so memory does not grow with the run.
 */
import type { Stripe } from './model.ts';

/** Histogram buckets: 1 minute * 2^(i/8), i = 0..BUCKETS-1 (up to ~90 years); bucket 0 also takes shorter windows. */
export const WINDOW_BUCKETS = 240;
const MIN_WINDOW_MS = 60e3;
const BUCKETS_PER_DOUBLING = 8;

export interface WindowHistogram {
  /** Windows per bucket and the sum of their lengths (the bucket's mean is sum / count). */
  readonly counts: number[];
  readonly sumsMs: number[];
}

export interface RepairWindows {
  readonly histogram: WindowHistogram;
  /** Shards missing after a failure: stripe -> shard index -> when it went missing. */
  readonly open: Map<Stripe, Map<number, number>>;
  /** Sum of detection delays (failure until the group may repair around it). */
  detectionMsSum: number;
  closed: number;
}

export function newRepairWindows(): RepairWindows {
  return {
    histogram: { counts: new Array(WINDOW_BUCKETS).fill(0), sumsMs: new Array(WINDOW_BUCKETS).fill(0) },
    open: new Map(),
    detectionMsSum: 0,
    closed: 0,
  };
}

export function bucketOf(windowMs: number): number {
  if (!(windowMs > MIN_WINDOW_MS)) return 0;
  const i = Math.floor(Math.log2(windowMs / MIN_WINDOW_MS) * BUCKETS_PER_DOUBLING);
  return Math.min(WINDOW_BUCKETS - 1, i);
}

/** A failure took shard `index` of a stored stripe at `atMs`. */
export function openWindow(rw: RepairWindows, st: Stripe, index: number, atMs: number): void {
  let byIndex = rw.open.get(st);
  if (byIndex === undefined) {
    byIndex = new Map();
    rw.open.set(st, byIndex);
  }
  if (!byIndex.has(index)) byIndex.set(index, atMs);
}

/** Shard `index` exists again (or the stripe is gone: every open window of it closes). */
export function closeWindow(
  rw: RepairWindows,
  st: Stripe,
  index: number | 'all',
  nowMs: number,
  detectionMs: number,
): void {
  const byIndex = rw.open.get(st);
  if (byIndex === undefined) return;
  for (const [i, startMs] of byIndex) {
    if (index !== 'all' && i !== index) continue;
    record(rw, nowMs - startMs, detectionMs);
    byIndex.delete(i);
  }
  if (byIndex.size === 0) rw.open.delete(st);
}

/** Close every window still open at the end of the run (censored there). */
export function closeAll(rw: RepairWindows, nowMs: number, detectionMs: number): void {
  for (const st of [...rw.open.keys()]) closeWindow(rw, st, 'all', nowMs, detectionMs);
}

function record(rw: RepairWindows, windowMs: number, detectionMs: number): void {
  if (!(windowMs >= 0)) throw new Error(`sim invariant violated: repair window ${windowMs} ms`);
  const b = bucketOf(windowMs);
  rw.histogram.counts[b]!++;
  rw.histogram.sumsMs[b]! += windowMs;
  rw.detectionMsSum += Math.min(detectionMs, windowMs);
  rw.closed++;
}
