/**
 * The repair worker's settings: the config's `repair` object (any subset of the keys below; the
 * rest take their defaults). Checked here, with a message naming the bad key.
 */
import { DEFAULT_GRACE_MS } from '../../../engine/index.ts';

export interface RepairConfig {
  /** A repair round this often (and soon after every membership change). */
  intervalMs: number;
  /** A member unreachable for less than this still counts as holding its shards (docs/design.md §9). */
  graceMs: number;
  /** Stripes with a shard stored more recently than this are left alone (a backup still writing). */
  settleMs: number;
  /** Bandwidth cap on repair and migration transfers (a token bucket); 0 for none. */
  bytesPerSecond: number;
  /** Tasks (a stripe's repair, one shard's migration) running at once. */
  concurrency: number;
  /** Bound on tasks planned per round (for the whole group) and queued on this member. */
  maxTasks: number;
  /** Bytes of held shards re-read and verified per round (round-robin over the catalog); 0: none. */
  auditBytesPerRound: number;
}

export const DEFAULT_REPAIR_CONFIG: RepairConfig = {
  intervalMs: 5 * 60_000,
  graceMs: DEFAULT_GRACE_MS,
  settleMs: 10 * 60_000,
  bytesPerSecond: 4 * 1024 * 1024,
  concurrency: 2,
  maxTasks: 200,
  auditBytesPerRound: 64 * 1024 * 1024,
};

const LIMITS: Record<keyof RepairConfig, [number, number]> = {
  intervalMs: [100, 7 * 24 * 3600_000],
  graceMs: [0, 365 * 24 * 3600_000],
  settleMs: [0, 24 * 3600_000],
  bytesPerSecond: [0, Number.MAX_SAFE_INTEGER],
  concurrency: [1, 16],
  maxTasks: [1, 10_000],
  auditBytesPerRound: [0, Number.MAX_SAFE_INTEGER],
};

/** A full RepairConfig from the config file's value (an object with any of the keys), or throws. */
export function parseRepairConfig(value: unknown): RepairConfig {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new Error(`repair must be an object with any of ${Object.keys(LIMITS).join(', ')}`);
  const out: RepairConfig = { ...DEFAULT_REPAIR_CONFIG };
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    if (!(key in LIMITS)) throw new Error(`repair: unknown setting "${key}"`);
    const [min, max] = LIMITS[key as keyof RepairConfig];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max)
      throw new Error(`repair.${key} must be a whole number from ${min} to ${max}`);
    out[key as keyof RepairConfig] = v;
  }
  return out;
}
