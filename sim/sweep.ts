/**
 * `pnpm sim --sweep`: one run per agreement (ratio x tolerance) over the same group, and the
 * figures a group chooses by: each member's allowance, the part of its pledge the agreement cannot
 * use, the days its first full backup takes, and the chance per year that a member loses any of
 * its backup. `recommend` (pure) picks the cheapest agreement under a target chance.
 */
import { chooseCode } from '../engine/index.ts';
import type { SimConfig } from './config.ts';
import { runSimulation } from './simulation.ts';
import { formatBytes as gb } from './units.ts';

export const DEFAULT_SWEEP_RATIOS: readonly number[] = [1.5, 2, 3];
export const DEFAULT_SWEEP_TOLERANCES: readonly number[] = [0, 1, 2];
/** The default target: a member loses anything at most once in a million years. */
export const DEFAULT_TARGET_CHANCE = 1e-6;
export const MAX_SWEEP_AGREEMENTS = 64;

export interface SweepMember {
  readonly id: string;
  readonly pledgeBytes: number;
  readonly allowanceBytes: number;
  /** Pledge the agreement leaves unused when every member backs up its allowance. */
  readonly unusablePledgeBytes: number;
  /** Days from the start until its first full backup; null if not within the run. */
  readonly firstFullBackupDays: number | null;
  /** Backed up at the end over what it set out to back up (its allowance). */
  readonly backedUpFraction: number;
}

export interface SweepRow {
  readonly ratio: number;
  readonly tolerance: number;
  readonly feasible: boolean;
  /** Why an infeasible agreement cannot work for this group. */
  readonly reason: string | null;
  readonly k: number;
  readonly m: number;
  readonly members: readonly SweepMember[];
  readonly totalAllowanceBytes: number;
  readonly unusablePledgeBytes: number;
  /** The slowest member's first full backup (null: some member did not finish in the run). */
  readonly firstFullBackupDaysMax: number | null;
  /** Chance per year that a member loses any of its backup (closed form, measured window). */
  readonly memberAnnualLossChance: number | null;
  readonly stripeAnnualLoss: number | null;
  readonly repairWindowDays: number | null;
  readonly stripesLost: number;
}

export interface Recommendation {
  readonly ratio: number | null;
  readonly tolerance: number | null;
  readonly reason: string;
}

export interface SweepResult {
  readonly version: 1;
  readonly seed: string;
  readonly days: number;
  readonly afr: number;
  readonly members: number;
  readonly targetChance: number;
  readonly rows: readonly SweepRow[];
  readonly recommendation: Recommendation;
}

export function runSweep(
  base: SimConfig,
  ratios: readonly number[],
  tolerances: readonly number[],
  targetChance: number,
): SweepResult {
  if (ratios.length * tolerances.length > MAX_SWEEP_AGREEMENTS)
    throw new Error(`a sweep covers at most ${MAX_SWEEP_AGREEMENTS} agreements`);
  const rows: SweepRow[] = [];
  for (const ratio of ratios) for (const tolerance of tolerances) rows.push(sweepRow(base, ratio, tolerance));
  return {
    version: 1,
    seed: base.seed,
    days: base.days,
    afr: base.afr,
    members: base.pledgesBytes.length,
    targetChance,
    rows,
    recommendation: recommend(rows, targetChance),
  };
}

function sweepRow(base: SimConfig, ratio: number, tolerance: number): SweepRow {
  const agreement = { ratio, tolerance };
  const code = chooseCode(agreement, base.pledgesBytes.length - 1);
  if (!code.feasible) return infeasibleRow(ratio, tolerance, code.reason);
  const r = runSimulation({ ...base, agreement });
  const members = r.members.map(
    (m): SweepMember => ({
      id: m.id,
      pledgeBytes: m.pledgeBytes,
      allowanceBytes: m.allowanceBytes,
      unusablePledgeBytes: Math.max(0, m.pledgeBytes - m.pledgeUsedBytes),
      firstFullBackupDays: m.firstFullBackupHours === null ? null : round(m.firstFullBackupHours / 24, 3),
      backedUpFraction: m.dataBytes > 0 ? Math.floor((m.backedUpBytes / m.dataBytes) * 1e4) / 1e4 : 1,
    }),
  );
  const days = members.map((m) => m.firstFullBackupDays);
  const cf = r.group.closedForm;
  return {
    ratio,
    tolerance,
    feasible: true,
    reason: null,
    k: r.group.k,
    m: r.group.m,
    members,
    totalAllowanceBytes: members.reduce((a, m) => a + m.allowanceBytes, 0),
    unusablePledgeBytes: members.reduce((a, m) => a + m.unusablePledgeBytes, 0),
    firstFullBackupDaysMax: days.some((d) => d === null) ? null : Math.max(...(days as number[])),
    memberAnnualLossChance: cf.memberAnnualLossChance,
    stripeAnnualLoss: cf.annualLoss,
    repairWindowDays: cf.repairWindowDays,
    stripesLost: r.group.stripesLost,
  };
}

function infeasibleRow(ratio: number, tolerance: number, reason: string): SweepRow {
  return {
    ratio,
    tolerance,
    feasible: false,
    reason,
    k: 0,
    m: 0,
    members: [],
    totalAllowanceBytes: 0,
    unusablePledgeBytes: 0,
    firstFullBackupDaysMax: null,
    memberAnnualLossChance: null,
    stripeAnnualLoss: null,
    repairWindowDays: null,
    stripesLost: 0,
  };
}

/**
 * The cheapest agreement whose chance of a member losing anything per year is under the target:
 * the least pledge per byte backed up (the group's pledges over its total allowance; with skewed
 * pledges that is not always the lowest ratio), then the lowest ratio, then the lowest tolerance.
 * When none meets the target: the one with the lowest chance, said so.
 */
export function recommend(rows: readonly SweepRow[], targetChance: number): Recommendation {
  const usable = rows.filter((r) => r.feasible && r.memberAnnualLossChance !== null);
  if (usable.length === 0)
    return { ratio: null, tolerance: null, reason: 'no agreement in the sweep is feasible for this group' };
  const chance = (r: SweepRow) => r.memberAnnualLossChance!;
  const meeting = usable.filter((r) => chance(r) <= targetChance);
  if (meeting.length === 0) {
    const best = [...usable].sort((a, b) => chance(a) - chance(b) || a.ratio - b.ratio)[0]!;
    return {
      ratio: best.ratio,
      tolerance: best.tolerance,
      reason:
        `no agreement reaches ${fmt(targetChance)} per member-year; ratio ${best.ratio}, tolerance ` +
        `${best.tolerance} comes closest (${fmt(chance(best))}): lower the failure rate or add members`,
    };
  }
  const best = [...meeting].sort(
    (a, b) => b.totalAllowanceBytes - a.totalAllowanceBytes || a.ratio - b.ratio || a.tolerance - b.tolerance,
  )[0]!;
  const cheaper = usable.filter((r) => r.totalAllowanceBytes > best.totalAllowanceBytes);
  const closest = cheaper.sort((a, b) => chance(a) - chance(b))[0];
  const why = closest
    ? `; every agreement giving more (e.g. ratio ${closest.ratio}, tolerance ${closest.tolerance}: ` +
      `${gb(closest.totalAllowanceBytes)}) risks at least ${fmt(chance(closest))}`
    : '';
  return {
    ratio: best.ratio,
    tolerance: best.tolerance,
    reason:
      `ratio ${best.ratio}, tolerance ${best.tolerance} (code ${best.k}+${best.m}) is the cheapest agreement ` +
      `under ${fmt(targetChance)} per member-year: the group backs up ${gb(best.totalAllowanceBytes)} in all ` +
      `and a member loses anything with chance ${fmt(chance(best))} a year${why}`,
  };
}

function fmt(x: number): string {
  return x === 0 ? '0' : x.toExponential(1);
}

function round(x: number, digits: number): number {
  return Number(x.toFixed(digits));
}
