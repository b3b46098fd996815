/**
 * The repair worker's progress in the status report: read field by field from its status
 * object (runtime/daemon/shards/repair-service.ts `RepairStatus`), never trusted to be well formed.
 */

export interface RepairProgress {
  /** 'daemon' when the daemon's repair worker reported these numbers; 'none' when it has none. */
  readonly source: 'daemon' | 'none';
  /** Repair or migration tasks running on this member now. */
  readonly running: number;
  readonly queuedTasks: number;
  readonly repairsDone: number;
  readonly migrationsDone: number;
  readonly failedTasks: number;
  readonly shardsMoved: number;
  /** Bytes sent and received for repairs and migrations since the daemon started (the traffic chart). */
  readonly movedBytes: number;
  /** The repair bandwidth cap (the exposure estimate uses it); null for none or unknown. */
  readonly bytesPerSecond: number | null;
  /** Stripes of the whole group that the last plan found needing repair; null before a plan. */
  readonly stripesNeedingRepair: number | null;
  readonly lastRoundAtMs: number | null;
  readonly lastError: string | null;
}

export const NO_REPAIR: RepairProgress = {
  source: 'none',
  running: 0,
  queuedTasks: 0,
  repairsDone: 0,
  migrationsDone: 0,
  failedTasks: 0,
  shardsMoved: 0,
  movedBytes: 0,
  bytesPerSecond: null,
  stripesNeedingRepair: null,
  lastRoundAtMs: null,
  lastError: null,
};

/**
 * The repair worker's status object (runtime/daemon/shards/repair-service.ts `RepairStatus`) as the
 * report's `repair`, read field by field: a missing worker gives NO_REPAIR, a missing or bad
 * field gives 0 (or null), never NaN.
 */
export function repairProgressFrom(status: unknown, bytesPerSecond: unknown): RepairProgress {
  if (status === null || typeof status !== 'object') return NO_REPAIR;
  const o = status as Record<string, unknown>;
  const count = (v: unknown): number => (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : 0);
  const plan =
    o.lastPlan !== null && typeof o.lastPlan === 'object' ? (o.lastPlan as Record<string, unknown>) : null;
  const rate =
    typeof bytesPerSecond === 'number' && Number.isFinite(bytesPerSecond) && bytesPerSecond > 0
      ? bytesPerSecond
      : null;
  return {
    source: 'daemon',
    running: count(o.running),
    queuedTasks: count(o.queued),
    repairsDone: count(o.repairsDone),
    migrationsDone: count(o.migrationsDone),
    failedTasks: count(o.failedTasks),
    shardsMoved: count(o.shardsMoved),
    movedBytes: count(o.bytesMoved),
    bytesPerSecond: rate,
    stripesNeedingRepair: plan === null ? null : count(plan.needRepair),
    lastRoundAtMs: typeof o.lastRoundAtMs === 'number' && o.lastRoundAtMs >= 0 ? o.lastRoundAtMs : null,
    lastError: typeof o.lastError === 'string' ? o.lastError.slice(0, 300) : null,
  };
}
