/**
 * One repair round as a pure function (docs/design.md §9): the members' listings in, this
 * member's share of the work out. The daemon's repair service gathers the listings and runs the
 * tasks; the decisions (inventory, plan, exposure, which tasks are this member's, within room)
 * are made here once.
 */
import { EngineError, invariant } from './errors.ts';
import { type ExposureReport, exposure } from './exposure.ts';
import type { GroupState } from './group/fold.ts';
import { type MigrationTask, planRepairs, type RepairPlan, type RepairTask } from './repair.ts';
import { buildInventory, type Inventory, type Leftover, type MemberListing } from './repair-inventory.ts';

export interface RepairRoundInput {
  readonly self: string;
  readonly state: GroupState;
  readonly nowMs: number;
  /** Per member (self included): its listing, if it ever gave one. */
  readonly listings: ReadonlyMap<string, MemberListing>;
  /** The members that answered this round (self included). */
  readonly answered: ReadonlySet<string>;
  /** When a member that did not answer now was last seen (ms). */
  readonly lastSeenMs: (member: string) => number;
  readonly settleMs: number;
  readonly graceMs: number;
  /** Tasks the whole group's plan may hold (the planner's bound). */
  readonly maxTasks: number;
  /** Tasks this member may still queue (its bound minus what is queued or running). */
  readonly roomTasks: number;
  /** Stripes with a task of this member queued or running. */
  readonly busyStripeIds: ReadonlySet<string>;
}

export interface RepairRound {
  readonly inventory: Inventory;
  readonly plan: RepairPlan;
  readonly report: ExposureReport;
  /** This member's tasks, repairs first, at most `roomTasks` in all. */
  readonly mine: {
    readonly repairs: readonly RepairTask[];
    readonly migrations: readonly MigrationTask[];
    readonly cleanups: readonly Leftover[];
  };
}

export function repairRound(input: RepairRoundInput): RepairRound {
  const { self, state, nowMs } = input;
  if (state.agreement === null) throw new EngineError('invalid-argument', 'the group has no agreement');
  if (!input.answered.has(self)) throw new EngineError('invalid-argument', 'self must count as answered');
  if (!(input.roomTasks >= 0 && input.maxTasks >= 0))
    throw new EngineError('invalid-argument', 'roomTasks and maxTasks must be >= 0');
  const inventory = buildInventory({
    self,
    state,
    nowMs,
    listings: input.listings,
    lastSeenMs: input.lastSeenMs,
    settleMs: input.settleMs,
  });
  const times = { nowMs, graceMs: input.graceMs, onlineWindowMs: 0 };
  const plan = planRepairs({
    members: inventory.members,
    stripes: inventory.stripes,
    plans: inventory.plans,
    ...times,
    maxTasks: input.maxTasks,
    busyStripeIds: new Set([...input.busyStripeIds, ...inventory.settlingIds]),
  });
  const report = exposure({
    members: inventory.members,
    stripes: inventory.stripes,
    tolerance: state.agreement.tolerance,
    ...times,
  });
  let room = input.roomTasks;
  const take = <T>(tasks: readonly T[], mineIf: (t: T) => boolean): T[] => {
    const out: T[] = [];
    for (const t of tasks) {
      if (room <= 0) break;
      if (!mineIf(t)) continue;
      out.push(t);
      room--;
    }
    return out;
  };
  const repairs = take(plan.repairs, (t) => t.repairer === self);
  const migrations = take(plan.migrations, (t) => t.to === self);
  const cleanups = take(
    inventory.leftovers,
    (t) =>
      t.keeper === self &&
      input.answered.has(t.extra) &&
      !input.busyStripeIds.has(t.stripeId) &&
      !inventory.settlingIds.has(t.stripeId),
  );
  invariant(repairs.length + migrations.length + cleanups.length <= input.roomTasks, 'tasks within room');
  return { inventory, plan, report, mine: { repairs, migrations, cleanups } };
}

/**
 * Whether a round's answer holds, unchanged, for a later round over the same group state and the
 * same listings in which every member answers again: nothing in it then depends on the time.
 * True when every current member answered, the plan has nothing to do (no repair, migration or
 * cleanup; nothing waiting, deferred, unrecoverable or busy) and no stripe is settling or held
 * only by presumption. A member's availability, a shard's age and the grace period are then read
 * nowhere that could change the plan or the exposure: the members are online now and will be
 * while they answer, and ages only grow past the settle time. The caller still plans in full
 * when anything else changed, and now and then regardless.
 */
export function roundHoldsWhileUnchanged(round: RepairRound, everyMemberAnswered: boolean): boolean {
  const { plan, inventory } = round;
  return (
    everyMemberAnswered &&
    plan.repairs.length === 0 &&
    plan.migrations.length === 0 &&
    plan.waitingStripeIds.length === 0 &&
    plan.deferredStripeIds.length === 0 &&
    plan.unrecoverableStripeIds.length === 0 &&
    plan.counts.needRepair === 0 &&
    plan.counts.needMigration === 0 &&
    plan.counts.busy === 0 &&
    inventory.leftovers.length === 0 &&
    inventory.skipped.settling === 0 &&
    inventory.skipped.presumedShards === 0
  );
}
