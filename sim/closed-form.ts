/**
 * The closed form fed with the repair windows the run measured (pure: no state, no clock).
 *
 * A stripe of s = k + m shards is lost when more than m of its holders fail within one repair
 * window. Failures hit it at rate s*afr; after one, it is lost if m of the other s-1 holders fail
 * before that shard's window closes. The loss grows with W^m, so the mean window understates it
 * when windows vary: the rate is averaged over the measured distribution of windows instead.
 *
 * `memberLossChance` answers what a member asks: the chance per year that any of its stripes is
 * lost. In a small group every stripe sits on most members, so losses are correlated: one cluster
 * of m+1 failures among the owner's holders loses many stripes at once. It counts such clusters
 * among the n-1 others and the chance that some stripe lies entirely on the members of one.
 */
import { closedFormLoss } from '../engine/index.ts';
import { WINDOW_BUCKETS, type WindowHistogram } from './repair-window.ts';

const DAY_MS = 86_400e3;

export interface WindowSummary {
  /** Shard windows measured (failures x shards lost with them). */
  readonly count: number;
  readonly meanDays: number;
  readonly p50Days: number;
  readonly p90Days: number;
  readonly maxDays: number;
}

export function summariseWindows(h: WindowHistogram): WindowSummary {
  assertHistogram(h);
  const count = h.counts.reduce((a, b) => a + b, 0);
  if (count === 0) return { count: 0, meanDays: 0, p50Days: 0, p90Days: 0, maxDays: 0 };
  const sum = h.sumsMs.reduce((a, b) => a + b, 0);
  let last = 0;
  for (let i = 0; i < WINDOW_BUCKETS; i++) if (h.counts[i]! > 0) last = i;
  return {
    count,
    meanDays: sum / count / DAY_MS,
    p50Days: quantileMs(h, count, 0.5) / DAY_MS,
    p90Days: quantileMs(h, count, 0.9) / DAY_MS,
    maxDays: h.sumsMs[last]! / h.counts[last]! / DAY_MS,
  };
}

/** The mean window of the bucket holding the q-quantile. */
function quantileMs(h: WindowHistogram, count: number, q: number): number {
  let seen = 0;
  for (let i = 0; i < WINDOW_BUCKETS; i++) {
    seen += h.counts[i]!;
    if (seen >= q * count && h.counts[i]! > 0) return h.sumsMs[i]! / h.counts[i]!;
  }
  return 0;
}

export interface WindowedLossInput {
  readonly dataShards: number;
  readonly parityShards: number;
  readonly afr: number;
  readonly histogram: WindowHistogram;
}

/** Expected stripe losses per stripe-year, averaged over the measured windows (0 windows: NaN). */
export function windowedLossRate(input: WindowedLossInput): number {
  const h = input.histogram;
  assertHistogram(h);
  let count = 0;
  let weighted = 0;
  for (let i = 0; i < WINDOW_BUCKETS; i++) {
    const n = h.counts[i]!;
    if (n === 0) continue;
    const repairWindowDays = h.sumsMs[i]! / n / DAY_MS;
    const { annualLossRate } = closedFormLoss({ ...input, repairWindowDays });
    weighted += n * annualLossRate;
    count += n;
  }
  return count === 0 ? Number.NaN : weighted / count;
}

/** The single window that gives the same rate as the measured distribution (for the table). */
export function effectiveWindowDays(input: WindowedLossInput): number {
  const target = windowedLossRate(input);
  if (!(target > 0)) return summariseWindows(input.histogram).meanDays;
  let lo = 0;
  let hi = 365 * 100;
  for (let i = 0; i < 100; i++) {
    const mid = (lo + hi) / 2;
    if (closedFormLoss({ ...input, repairWindowDays: mid }).annualLossRate < target) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

export interface MemberLossInput {
  /** Members in the group (the owner and the n-1 others its shards go to). */
  readonly members: number;
  readonly dataShards: number;
  readonly parityShards: number;
  readonly afr: number;
  readonly repairWindowDays: number;
  /** Stripes the owner has stored. */
  readonly stripes: number;
}

/**
 * The chance per year that a member loses any of its backed-up stripes: clusters of m+1 failures
 * among the n-1 others within one window (rate (n-1)*afr*P[Binomial(n-2, p) >= m]), each losing a
 * stripe unless none of the owner's stripes lies entirely on that cluster (placement taken as
 * uniform over the others: a stripe covers a given (m+1)-set with q = C(n-m-2, s-m-1) / C(n-1, s)).
 */
export function memberLossChance(input: MemberLossInput): number {
  const { members: n, dataShards: k, parityShards: m, afr, repairWindowDays: w, stripes } = input;
  const s = k + m;
  const others = n - 1;
  if (!(Number.isInteger(n) && others >= s))
    throw new Error(`memberLossChance: ${n} members for ${s} shards`);
  if (!(afr >= 0 && w >= 0 && stripes >= 0)) throw new Error('memberLossChance: negative input');
  if (stripes === 0 || afr === 0) return 0;
  const p = -Math.expm1((-afr * w) / 365);
  const clusterRate = others * afr * binomialTail(others - 1, p, m);
  const q = choose(others - m - 1, s - m - 1) / choose(others, s);
  const someStripeCovered = -Math.expm1(stripes * Math.log1p(-Math.min(q, 1 - 1e-15)));
  const rate = clusterRate * (q >= 1 ? 1 : someStripeCovered);
  const chance = -Math.expm1(-rate);
  if (!(chance >= 0 && chance <= 1)) throw new Error(`memberLossChance: chance ${chance} out of range`);
  return chance;
}

/** P[Binomial(n, p) >= m]. */
function binomialTail(n: number, p: number, m: number): number {
  if (m <= 0) return 1;
  let tail = 0;
  for (let j = m; j <= n; j++) tail += choose(n, j) * p ** j * (1 - p) ** (n - j);
  return Math.min(1, tail);
}

function choose(n: number, j: number): number {
  if (j < 0 || j > n) return 0;
  let r = 1;
  for (let i = 1; i <= j; i++) r = (r * (n - j + i)) / i;
  return r;
}

function assertHistogram(h: WindowHistogram): void {
  if (h.counts.length !== WINDOW_BUCKETS || h.sumsMs.length !== WINDOW_BUCKETS)
    throw new Error('window histogram has the wrong number of buckets');
}
