/** The simulator's configuration: defaults, validation, and building it from CLI strings. */
import type { Agreement } from '../engine/index.ts';
import {
  parseBitRate,
  parseBytes,
  parseDuration,
  parseFraction,
  parseNumber,
  SimConfigError,
} from './units.ts';

const HOUR_MS = 3600e3;
const DAY_MS = 24 * HOUR_MS;

export const MAX_PEERS = 500;
export const MAX_DAYS = 3650;

/** A scheduled fault (tests and what-if runs): member index (0-based), day of the run. */
export interface ScheduledFailure {
  readonly member: number;
  readonly atDays: number;
}
export interface ScheduledOutage {
  readonly member: number;
  readonly atDays: number;
  readonly forHours: number;
}

export interface SimConfig {
  readonly seed: string;
  readonly pledgesBytes: readonly number[];
  readonly agreement: Agreement;
  readonly days: number;
  /** Mean fraction of time a member is online. */
  readonly onlineFraction: number;
  /** Mean length of one online + offline cycle. */
  readonly sessionMs: number;
  /** Disk failures per member-year (a rate). */
  readonly afr: number;
  /** A failed member rejoins empty after this delay. */
  readonly replacementMs: number;
  readonly graceMs: number;
  readonly uploadBytesPerSecond: number;
  readonly downloadBytesPerSecond: number;
  /** Bytes each member backs up, or 'allowance' (each member's allowance under the agreement). */
  readonly data: 'allowance' | readonly number[];
  /** Fraction of each owner's data rewritten per day. */
  readonly dailyChange: number;
  /** Shard size, or 'auto' (keeps the stripe count near `targetStripes`). */
  readonly shardBytes: number | 'auto';
  /** Stripes modelled with 'auto' shards, or 'auto': fewer when many failures are expected (sim/resolution.ts). */
  readonly targetStripes: number | 'auto';
  /** Members joining / removed at random times during the run. */
  readonly joins: number;
  readonly removals: number;
  readonly failures: readonly ScheduledFailure[];
  /** Members removed at set times (0-based index, day). */
  readonly scheduledRemovals: readonly ScheduledFailure[];
  readonly outages: readonly ScheduledOutage[];
  /** Virtual time between repair planning rounds. */
  readonly planIntervalMs: number;
  /**
   * Repairs in batches (default): the planner's deferred stripes wait in a backlog kept across
   * rounds and only its head is planned again, and a round's transfers are settled from one
   * time-ordered book instead of two queue events per stripe. False: the plain path (every
   * deferred stripe planned again each round, one event per transfer start and end); the two give
   * the same run (test/sim/batching.test.ts).
   */
  readonly batchRepairs: boolean;
  /** Points in the time series (exposure, repair traffic). */
  readonly samples: number;
  readonly maxEvents: number;
}

export const DEFAULTS = {
  peers: 5,
  skew: 1000,
  smallestPledgeBytes: 10e9,
  ratio: 2,
  tolerance: 1,
  days: 365,
  seed: '1',
  onlineFraction: 0.9,
  sessionMs: DAY_MS,
  afr: 0.05,
  replacementMs: 3 * DAY_MS,
  graceMs: DAY_MS,
  uploadBytesPerSecond: 20e6 / 8,
  downloadBytesPerSecond: 100e6 / 8,
  dailyChange: 0.01,
  targetStripes: 'auto',
  planIntervalMs: 3600e3,
  samples: 500,
  maxEvents: 50_000_000,
} as const;

export function defaultConfig(overrides: Partial<SimConfig> = {}): SimConfig {
  const config: SimConfig = {
    seed: DEFAULTS.seed,
    pledgesBytes: pledgesFromSkew(DEFAULTS.peers, DEFAULTS.skew, DEFAULTS.smallestPledgeBytes),
    agreement: { ratio: DEFAULTS.ratio, tolerance: DEFAULTS.tolerance },
    days: DEFAULTS.days,
    onlineFraction: DEFAULTS.onlineFraction,
    sessionMs: DEFAULTS.sessionMs,
    afr: DEFAULTS.afr,
    replacementMs: DEFAULTS.replacementMs,
    graceMs: DEFAULTS.graceMs,
    uploadBytesPerSecond: DEFAULTS.uploadBytesPerSecond,
    downloadBytesPerSecond: DEFAULTS.downloadBytesPerSecond,
    data: 'allowance',
    dailyChange: DEFAULTS.dailyChange,
    shardBytes: 'auto',
    targetStripes: DEFAULTS.targetStripes,
    joins: 0,
    removals: 0,
    failures: [],
    scheduledRemovals: [],
    outages: [],
    planIntervalMs: DEFAULTS.planIntervalMs,
    batchRepairs: true,
    samples: DEFAULTS.samples,
    maxEvents: DEFAULTS.maxEvents,
    ...overrides,
  };
  validateConfig(config);
  return config;
}

/** N pledges, the largest `skew` times the smallest, the others log-spaced between; largest first. */
export function pledgesFromSkew(peers: number, skew: number, smallestBytes: number): number[] {
  const out: number[] = [];
  for (let i = peers - 1; i >= 0; i--) {
    out.push(Math.round(smallestBytes * skew ** (peers === 1 ? 0 : i / (peers - 1))));
  }
  return out;
}

export function validateConfig(c: SimConfig): void {
  const fail = (msg: string): never => {
    throw new SimConfigError(msg);
  };
  const n = c.pledgesBytes.length;
  if (n < 2 || n > MAX_PEERS) fail(`the group needs 2 to ${MAX_PEERS} members, got ${n}`);
  for (const p of c.pledgesBytes) {
    if (!Number.isSafeInteger(p) || p <= 0)
      fail(`every pledge must be a whole number of bytes above 0, got ${p}`);
  }
  if (!(c.days > 0 && c.days <= MAX_DAYS))
    fail(`--days must be above 0 and at most ${MAX_DAYS}, got ${c.days}`);
  if (!(c.onlineFraction > 0 && c.onlineFraction <= 1))
    fail(`--online must be above 0 and at most 1, got ${c.onlineFraction}`);
  if (!(c.sessionMs >= 60e3)) fail(`--session must be at least 1 minute`);
  if (!(c.afr >= 0 && c.afr <= 1000))
    fail(`--afr must be a rate from 0 to 1000 failures per member-year, got ${c.afr}`);
  if (!(c.replacementMs >= 0)) fail('--replace must be >= 0');
  if (!(c.graceMs >= 0)) fail('--grace must be >= 0');
  if (!(c.uploadBytesPerSecond > 0 && c.downloadBytesPerSecond > 0)) fail('--bandwidth must be above 0');
  if (c.data !== 'allowance') {
    if (c.data.length !== n) fail(`--data lists ${c.data.length} sizes for ${n} members`);
    for (const d of c.data)
      if (!Number.isSafeInteger(d) || d < 0) fail(`--data sizes must be whole bytes >= 0`);
  }
  if (!(c.dailyChange >= 0 && c.dailyChange <= 1))
    fail(`--change must be from 0 to 100%, got ${c.dailyChange}`);
  if (c.shardBytes !== 'auto' && !(Number.isSafeInteger(c.shardBytes) && c.shardBytes >= 4096)) {
    fail('--shard must be at least 4096 bytes');
  }
  if (
    c.targetStripes !== 'auto' &&
    !(Number.isInteger(c.targetStripes) && c.targetStripes >= 10 && c.targetStripes <= 1_000_000)
  ) {
    fail(`--stripes must be 'auto' or a whole number from 10 to 1000000, got ${String(c.targetStripes)}`);
  }
  if (!(Number.isInteger(c.joins) && c.joins >= 0 && n + c.joins <= MAX_PEERS)) fail('--joins out of range');
  if (!(Number.isInteger(c.removals) && c.removals >= 0)) fail('--removals must be a whole number >= 0');
  for (const f of c.failures) {
    if (
      !(Number.isInteger(f.member) && f.member >= 0 && f.member < n && f.atDays >= 0 && f.atDays <= c.days)
    ) {
      fail(`scheduled failure ${JSON.stringify(f)} is out of range`);
    }
  }
  for (const f of c.scheduledRemovals) {
    if (
      !(Number.isInteger(f.member) && f.member >= 0 && f.member < n && f.atDays >= 0 && f.atDays <= c.days)
    ) {
      fail(`scheduled removal ${JSON.stringify(f)} is out of range`);
    }
  }
  for (const o of c.outages) {
    if (!(Number.isInteger(o.member) && o.member >= 0 && o.member < n && o.atDays >= 0 && o.forHours > 0)) {
      fail(`scheduled outage ${JSON.stringify(o)} is out of range`);
    }
  }
  if (!(c.planIntervalMs >= 1000)) fail('planIntervalMs must be at least 1 s');
  if (typeof c.batchRepairs !== 'boolean') fail('batchRepairs must be true or false');
  if (!(Number.isInteger(c.samples) && c.samples >= 2 && c.samples <= 10_000))
    fail('samples must be 2..10000');
  if (!(Number.isInteger(c.maxEvents) && c.maxEvents > 0)) fail('maxEvents must be a whole number above 0');
}

/** Raw CLI option strings (commander) -> a validated config. */
export interface CliOptions {
  peers?: string;
  skew?: string;
  smallest?: string;
  pledges?: string;
  ratio?: string;
  tolerance?: string;
  days?: string;
  seed?: string;
  online?: string;
  session?: string;
  afr?: string;
  replace?: string;
  grace?: string;
  bandwidth?: string;
  data?: string;
  change?: string;
  shard?: string;
  stripes?: string;
  joins?: string;
  removals?: string;
}

export function configFromCli(o: CliOptions): SimConfig {
  let pledgesBytes: number[];
  if (o.pledges !== undefined) {
    if (o.peers !== undefined || o.skew !== undefined) {
      throw new SimConfigError('give either --pledges or --peers/--skew, not both');
    }
    pledgesBytes = o.pledges.split(',').map((p, i) => parseBytes(p, `--pledges item ${i + 1}`));
  } else {
    const peers = parseNumber(o.peers ?? String(DEFAULTS.peers), '--peers', 2, MAX_PEERS, true);
    const skewText = (o.skew ?? String(DEFAULTS.skew)).replace(/x$/i, '');
    const skew = parseNumber(skewText, '--skew', 1, 1e9);
    const smallest =
      o.smallest === undefined ? DEFAULTS.smallestPledgeBytes : parseBytes(o.smallest, '--smallest');
    pledgesBytes = pledgesFromSkew(peers, skew, smallest);
  }
  const n = pledgesBytes.length;
  let up: number = DEFAULTS.uploadBytesPerSecond;
  let down: number = DEFAULTS.downloadBytesPerSecond;
  if (o.bandwidth !== undefined) {
    const parts = o.bandwidth.split('/');
    if (parts.length > 2) throw new SimConfigError(`--bandwidth: "${o.bandwidth}" must be UP or UP/DOWN`);
    up = parseBitRate(parts[0]!, '--bandwidth (upload)');
    down = parts[1] === undefined ? up : parseBitRate(parts[1], '--bandwidth (download)');
  }
  let data: SimConfig['data'] = 'allowance';
  if (o.data !== undefined && o.data !== 'allowance') {
    const items = o.data.split(',');
    if (items.length === 1) data = Array(n).fill(parseBytes(items[0]!, '--data'));
    else data = items.map((d, i) => parseBytes(d, `--data item ${i + 1}`));
  }
  return defaultConfig({
    seed: o.seed ?? DEFAULTS.seed,
    pledgesBytes,
    agreement: {
      ratio: parseNumber(o.ratio ?? String(DEFAULTS.ratio), '--ratio', 1, 1000),
      tolerance: parseNumber(o.tolerance ?? String(DEFAULTS.tolerance), '--tolerance', 0, 6, true),
    },
    days: parseNumber(o.days ?? String(DEFAULTS.days), '--days', 0.01, MAX_DAYS),
    onlineFraction: o.online === undefined ? DEFAULTS.onlineFraction : parseFraction(o.online, '--online'),
    sessionMs: o.session === undefined ? DEFAULTS.sessionMs : parseDuration(o.session, '--session'),
    afr: o.afr === undefined ? DEFAULTS.afr : parseFraction(o.afr, '--afr'),
    replacementMs: o.replace === undefined ? DEFAULTS.replacementMs : parseDuration(o.replace, '--replace'),
    graceMs: o.grace === undefined ? DEFAULTS.graceMs : parseDuration(o.grace, '--grace'),
    uploadBytesPerSecond: up,
    downloadBytesPerSecond: down,
    data,
    dailyChange: o.change === undefined ? DEFAULTS.dailyChange : parseFraction(o.change, '--change'),
    shardBytes: o.shard === undefined || o.shard === 'auto' ? 'auto' : parseBytes(o.shard, '--shard'),
    targetStripes:
      o.stripes === undefined || o.stripes === 'auto'
        ? 'auto'
        : parseNumber(o.stripes, '--stripes', 10, 1_000_000, true),
    joins: parseNumber(o.joins ?? '0', '--joins', 0, MAX_PEERS, true),
    removals: parseNumber(o.removals ?? '0', '--removals', 0, MAX_PEERS, true),
  });
}
