/** The run's result: per-member figures, the group's figures and the closed-form comparison. */
import {
  CLOSED_FORM_FORMULA,
  capacityReport,
  closedFormLoss,
  memberStatus,
  stripeDataBytes,
} from '../engine/index.ts';
import { effectiveWindowDays, memberLossChance, summariseWindows, windowedLossRate } from './closed-form.ts';
import { DAY_MS, HOUR_MS, type Member, type Stripe, YEAR_MS } from './model.ts';
import { closeAll } from './repair-window.ts';
import { expectedFailures, modelledStripes } from './resolution.ts';
import type { SimMemberResult, SimResult } from './result.ts';
import { round } from './score.ts';
import { detectionMs, integrateStripes, memberId, present, type World } from './world.ts';

type MemberStatusRow = ReturnType<typeof memberStatus>[number];

export function result(w: World): SimResult {
  integrateStripes(w);
  for (const m of w.members) {
    m.exposedByteMs += m.exposedBytes * (w.nowMs - m.exposedSinceMs);
    m.exposedSinceMs = w.nowMs;
  }
  const storedStripes = storedAtEnd(w);
  const status = memberStatus({
    members: w.members.map((m) => ({ id: m.id, pledgeBytes: m.pledgeBytes, removed: m.removed })),
    agreement: w.config.agreement,
    stripes: storedStripes,
  });
  const statusById = new Map(status.map((s) => [s.id, s]));
  return {
    version: 1,
    config: configEcho(w),
    members: w.members.map((m) => memberResult(m, statusById.get(m.id))),
    group: groupResult(w, storedStripes),
    series: w.series,
  };
}

function storedAtEnd(w: World): Stripe[] {
  const out: Stripe[] = [];
  for (const m of w.members) {
    for (let i = m.ownHead; i < m.own.length; i++) if (m.own[i]!.state === 'stored') out.push(m.own[i]!);
  }
  return out;
}

function configEcho(w: World): SimResult['config'] {
  const c = w.config;
  return {
    seed: c.seed,
    days: c.days,
    ratio: c.agreement.ratio,
    tolerance: c.agreement.tolerance,
    onlineFraction: c.onlineFraction,
    sessionHours: c.sessionMs / HOUR_MS,
    afr: c.afr,
    replacementDays: c.replacementMs / DAY_MS,
    graceHours: c.graceMs / HOUR_MS,
    uploadBytesPerSecond: c.uploadBytesPerSecond,
    downloadBytesPerSecond: c.downloadBytesPerSecond,
    dailyChange: c.dailyChange,
    shardBytes: w.shardBytes,
    resolution:
      c.shardBytes === 'auto'
        ? {
            stripes: modelledStripes(c),
            auto: c.targetStripes === 'auto',
            expectedFailures: round(expectedFailures(c), 3),
          }
        : null,
    joins: c.joins,
    removals: c.removals,
  };
}

function memberResult(mm: Member, st: MemberStatusRow | undefined): SimMemberResult {
  return {
    id: mm.id,
    removed: mm.removed,
    joinedAtHours: round(mm.joinedAtMs / HOUR_MS, 3),
    pledgeBytes: mm.pledgeBytes,
    allowanceBytes: st?.allowanceBytes ?? 0,
    limitedBy: st?.limitedBy ?? 'group',
    reason: st?.reason ?? 'removed from the group',
    boundBytes: st?.boundBytes ?? 0,
    dataBytes: mm.dataBytes,
    backedUpBytes: mm.backedUpBytes,
    pledgeUsedBytes: st?.pledgeUsedBytes ?? 0,
    heldShards: mm.held.size,
    firstFullBackupHours:
      mm.firstFullBackupMs === null ? null : round((mm.firstFullBackupMs - mm.joinedAtMs) / HOUR_MS, 3),
    waitingForRoom: mm.full && mm.dataLeftBytes > 0 && !mm.failed && !mm.removed,
    exposedByteHours: Math.round(mm.exposedByteMs / HOUR_MS),
    repairBytesSent: mm.repairBytesSent,
    migrationBytesSent: mm.migrationBytesSent,
    stripesLost: mm.stripesLost,
  };
}

function groupResult(w: World, storedStripes: readonly Stripe[]): SimResult['group'] {
  const c = w.config;
  const s = w.score;
  const { k, m } = w.initialCode;
  const cap = capacityReport(
    c.pledgesBytes.map((p, i) => ({ id: memberId(i), capacityBytes: p })),
    k,
    m,
  );
  const backedUpTotal = present(w).reduce((a, mm) => a + mm.backedUpBytes, 0);
  const closed = closedFormResult(w, storedStripes);
  const stripeYears = s.stripeMs / YEAR_MS;
  return {
    k,
    m,
    shareBytes: cap.shareBytes,
    boundBytes: cap.boundBytes,
    backedUpBytes: backedUpTotal,
    utilisation: cap.boundBytes > 0 ? round(backedUpTotal / cap.boundBytes, 6) : 0,
    storedStripes: storedStripes.length,
    underReplicatedStripes: underReplicated(w, storedStripes),
    stripesLost: s.stripesLost,
    bytesLost: s.bytesLost,
    stripeYears: round(stripeYears, 6),
    annualLossObserved: stripeYears > 0 ? s.stripesLost / stripeYears : 0,
    closedForm: closed,
    failures: s.failures,
    joins: s.joins,
    removals: s.removals,
    removalsSkipped: s.removalsSkipped,
    repairTasks: s.repairTasks,
    repairsCompleted: s.repairsCompleted,
    migrationTasks: s.migrationTasks,
    repairBytes: s.repairBytes,
    migrationBytes: s.migrationBytes,
    events: s.events,
  };
}

/** Stored stripes with a shard not on a present, working member. */
function underReplicated(w: World, storedStripes: readonly Stripe[]): number {
  const liveHolder = (h: string | null) => {
    const hm = h === null ? undefined : w.byId.get(h);
    return hm !== undefined && !hm.removed && !hm.failed;
  };
  return storedStripes.filter((st) => !st.holders.every(liveHolder)).length;
}

/**
 * Repair window: detection (grace, or the replacement if sooner) plus the time to rebuild one
 * member's shards: each lost shard costs k shard transfers, spread over the other members' uploads.
 */
function modelledRepairWindowDays(w: World, storedStripes: readonly Stripe[]): number {
  const c = w.config;
  const k = w.initialCode.k;
  const n = present(w).length;
  const heldPerMember =
    storedStripes.reduce((a, st) => a + (st.dataShards + st.parityShards) * st.shardBytes, 0) /
    Math.max(1, n);
  const linkBytesPerSecond = Math.min(c.uploadBytesPerSecond, c.downloadBytesPerSecond);
  const rebuildMs =
    ((heldPerMember * k) / (Math.max(1, n - 1) * linkBytesPerSecond)) * 1000 + c.planIntervalMs / 2;
  return (Math.min(c.graceMs, c.replacementMs) + rebuildMs) / DAY_MS;
}

/**
 * The stripes an owner's data makes as pb writes it (`stripeDataBytes`), averaged over the owners
 * with data. Not the run's own count: with `--shard auto` that is a resolution (about 20,000
 * stripes in all, whatever the data), and the chance that some stripe of a member lies entirely
 * on a cluster of failures grows with how many it has (in a group of 50, about 0.4 at 500
 * stripes and 0.9 at 2,000).
 */
function ownerStripesAsPbWrites(w: World, k: number): number {
  const owners = w.members.filter((mm) => !mm.removed && mm.dataBytes > 0);
  if (owners.length === 0) return 0;
  const perStripe = stripeDataBytes(k);
  const stripes = owners.reduce((a, mm) => a + Math.ceil(mm.dataBytes / perStripe), 0);
  return Math.round(stripes / owners.length);
}

/**
 * The closed form, fed with the windows the run measured (the modelled estimate when no failure
 * took a shard), and the chance per year that a member loses any of its stripes.
 */
function closedFormResult(w: World, storedStripes: readonly Stripe[]): SimResult['group']['closedForm'] {
  const c = w.config;
  const { k, m } = w.initialCode;
  closeAll(w.windows, w.nowMs, detectionMs(w));
  const histogram = w.windows.histogram;
  const summary = summariseWindows(histogram);
  const modelledDays = modelledRepairWindowDays(w, storedStripes);
  const shape = { dataShards: k, parityShards: m, afr: c.afr };
  const measured = summary.count > 0;
  const repairWindowDays = measured ? effectiveWindowDays({ ...shape, histogram }) : modelledDays;
  const rate = measured
    ? windowedLossRate({ ...shape, histogram })
    : closedFormLoss({ ...shape, repairWindowDays }).annualLossRate;
  const n = present(w).length;
  const stripesPerOwner = ownerStripesAsPbWrites(w, k);
  const memberChance =
    n - 1 >= k + m
      ? memberLossChance({ members: n, ...shape, repairWindowDays, stripes: stripesPerOwner })
      : null;
  return {
    afr: c.afr,
    repairWindowDays: round(repairWindowDays, 6),
    windowSource: measured ? 'measured' : 'modelled',
    measuredWindow: {
      shards: summary.count,
      meanDays: round(summary.meanDays, 6),
      p50Days: round(summary.p50Days, 6),
      p90Days: round(summary.p90Days, 6),
      maxDays: round(summary.maxDays, 6),
      detectionDays: round(measured ? w.windows.detectionMsSum / summary.count / DAY_MS : 0, 6),
    },
    modelledRepairWindowDays: round(modelledDays, 6),
    annualLoss: rate,
    annualLossProbability: -Math.expm1(-rate),
    memberAnnualLossChance: memberChance,
    memberStripes: stripesPerOwner,
    formula: CLOSED_FORM_FORMULA,
  };
}
