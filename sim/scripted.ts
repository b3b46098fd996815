/**
 * A scripted scenario for the simulator (issue 9, sim-to-real): one owner's stripes placed on the
 * other members, one holder lost (its shards gone, the member removed), then repair rounds until
 * nothing is left to do. No clock, no randomness, no transfers: every step is an engine call
 * (`ownerStripePlan`, `placeStripe`, `exposure`, `planRepairs`), so the same inputs give the same
 * placements and exposure figures as the real daemons, which make the same calls.
 */
import {
  exposure,
  type OwnerExposure,
  ownerStripePlan,
  type PlacementPlan,
  placeStripe,
  planKey,
  planRepairs,
} from '../engine/index.ts';

export interface ScriptMember {
  readonly id: string;
  readonly pledgeBytes: number;
}

export interface ScriptStripe {
  readonly stripeId: string;
  readonly dataShards: number;
  readonly parityShards: number;
  /** Bytes of one shard file, as a holder stores it. */
  readonly shardBytes: number;
}

export interface Script {
  readonly owner: string;
  readonly members: readonly ScriptMember[];
  readonly stripes: readonly ScriptStripe[];
  /** The holder whose disk dies; it is then removed from the group. */
  readonly lost: string;
  readonly tolerance: number;
}

export interface ScriptFigures {
  readonly storedBytes: number;
  readonly exposedBytes: number;
  readonly unrecoverableBytes: number;
}

export interface ScriptResult {
  /** Holder of each shard index, per stripe id, as written. */
  readonly placements: Readonly<Record<string, readonly string[]>>;
  readonly before: ScriptFigures;
  readonly afterLoss: ScriptFigures;
  readonly afterRepair: ScriptFigures;
  /** Holder of each shard index after the repair rounds (null: none). */
  readonly holdersAfterRepair: Readonly<Record<string, readonly (string | null)[]>>;
  readonly repairRounds: number;
  readonly shardsRepaired: number;
}

/** Bound on repair rounds: each round plans every stripe, so a handful always suffices. */
export const MAX_SCRIPT_ROUNDS = 16;
/** The virtual time of the scenario: every current member was seen at it. */
const NOW_MS = 1_000_000_000_000;

export class ScriptError extends Error {}

export function runScript(script: Script): ScriptResult {
  const { owner, lost, tolerance } = script;
  if (!script.members.some((m) => m.id === owner)) throw new ScriptError(`owner ${owner} is not a member`);
  if (lost === owner || !script.members.some((m) => m.id === lost))
    throw new ScriptError(`lost ${lost} must be a member other than the owner`);
  if (script.stripes.length === 0) throw new ScriptError('no stripes');
  const holders = new Map<string, (string | null)[]>();
  const placements: Record<string, readonly string[]> = {};
  for (const s of script.stripes) {
    const n = s.dataShards + s.parityShards;
    const placed = placeStripe(ownerStripePlan(script.members, owner, n), s.stripeId);
    if (placed.length !== n)
      throw new ScriptError(`stripe ${s.stripeId}: ${placed.length} members for ${n} shards`);
    placements[s.stripeId] = placed;
    holders.set(s.stripeId, [...placed]);
  }
  let removed = false;
  const sightings = () =>
    script.members.map((m) => ({
      id: m.id,
      lastSeenMs: removed && m.id === lost ? 0 : NOW_MS,
      removed: removed && m.id === lost,
    }));
  const stripes = () =>
    script.stripes.map((s) => ({
      stripeId: s.stripeId,
      owner,
      dataShards: s.dataShards,
      parityShards: s.parityShards,
      shardBytes: s.shardBytes,
      holders: holders.get(s.stripeId)!,
    }));
  const figures = (): ScriptFigures => {
    const report = exposure({
      members: sightings(),
      stripes: stripes(),
      tolerance,
      nowMs: NOW_MS,
      onlineWindowMs: 0,
    });
    const o: OwnerExposure | undefined = report.owners.find((r) => r.owner === owner);
    if (o === undefined) throw new ScriptError(`no exposure row for ${owner}`);
    return {
      storedBytes: o.storedBytes,
      exposedBytes: o.exposedBytes,
      unrecoverableBytes: o.unrecoverableBytes,
    };
  };

  const before = figures();
  // The loss: the holder's shards are gone and the member is removed.
  for (const row of holders.values()) for (let i = 0; i < row.length; i++) if (row[i] === lost) row[i] = null;
  removed = true;
  const afterLoss = figures();

  const current = script.members.filter((m) => m.id !== lost);
  const plans = new Map<string, PlacementPlan>();
  for (const s of script.stripes) {
    const n = s.dataShards + s.parityShards;
    plans.set(planKey(owner, n), ownerStripePlan(current, owner, n));
  }
  let rounds = 0;
  let shardsRepaired = 0;
  for (;;) {
    const plan = planRepairs({
      members: sightings().map((m, i) => ({ ...m, pledgeBytes: script.members[i]!.pledgeBytes })),
      stripes: stripes(),
      plans,
      nowMs: NOW_MS,
      onlineWindowMs: 0,
    });
    if (plan.repairs.length === 0 && plan.migrations.length === 0) break;
    rounds++;
    if (rounds > MAX_SCRIPT_ROUNDS)
      throw new ScriptError(`repair did not converge in ${MAX_SCRIPT_ROUNDS} rounds`);
    for (const task of plan.repairs)
      for (const move of task.moves) {
        holders.get(task.stripeId)![move.shardIndex] = move.to;
        shardsRepaired++;
      }
    for (const task of plan.migrations) holders.get(task.stripeId)![task.shardIndex] = task.to;
  }
  const holdersAfterRepair: Record<string, readonly (string | null)[]> = {};
  for (const [id, row] of holders) holdersAfterRepair[id] = [...row];
  return {
    placements,
    before,
    afterLoss,
    afterRepair: figures(),
    holdersAfterRepair,
    repairRounds: rounds,
    shardsRepaired,
  };
}
