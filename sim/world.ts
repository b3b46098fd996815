/**
 * The simulator's mutable state (members, stripes, queue, score) and the small helpers every
 * concern shares. The concerns themselves live in their own modules: churn.ts (sessions,
 * failures), uploads.ts (owners writing stripes), membership.ts (joins, removals), repair.ts
 * (planning rounds and their transfers), score.ts (exposure and samples), outcome.ts (the result).
 */
import seedrandom from 'seedrandom';
import {
  allowances,
  type CodeChoice,
  chooseCode,
  EngineError,
  ownerStripePlan,
  type PlacementPlan,
  planKey,
} from '../engine/index.ts';
import { RepairBacklog } from './backlog.ts';
import type { SimConfig } from './config.ts';
import { EventQueue } from './heap.ts';
import { JobBook } from './job-book.ts';
import { Links } from './links.ts';
import { DAY_MS, HOUR_MS, MAX_TASKS_PER_ROUND, type Member, newMember, type Stripe } from './model.ts';

import { newRepairWindows, type RepairWindows } from './repair-window.ts';
import { MAX_MARKED_EVENTS, type SimMarkedEvent, type SimResult } from './result.ts';
import { WaitingStripes } from './waiting.ts';

/** Bound on stripes in the repair backlog (the configured stripe target is at most 1e6). */
const STRIPE_BOUND = 4_000_000;

/** Counters the result reports. */
export interface Score {
  stripesLost: number;
  bytesLost: number;
  storedStripes: number;
  storedSinceMs: number;
  stripeMs: number;
  repairBytes: number;
  migrationBytes: number;
  repairTasks: number;
  repairsCompleted: number;
  migrationTasks: number;
  failures: number;
  joins: number;
  removals: number;
  removalsSkipped: number;
  bucketRepairBytes: number;
  bucketMigrationBytes: number;
  events: number;
}

export interface World {
  readonly config: SimConfig;
  readonly rng: seedrandom.PRNG;
  readonly queue: EventQueue;
  nowMs: number;
  readonly endMs: number;
  readonly sampleMs: number;
  readonly links: Links;
  readonly members: Member[];
  readonly byId: Map<string, Member>;
  /** Bytes each member holds or has reserved for incoming shards (the placement input). */
  readonly usedById: Record<string, number>;
  plans: Map<string, PlacementPlan>;
  /** The code new stripes use (changes with the membership). */
  code: CodeChoice;
  /** The code of the founding group (the result's k and m). */
  readonly initialCode: { readonly k: number; readonly m: number };
  shardBytes: number;
  /** Stripes the next planning round looks at. */
  readonly repairDirty: Set<Stripe>;
  /** Stripes the planner could not repair until someone comes back online. */
  readonly waiting: WaitingStripes;
  /** Migrations the last round deferred, in its order (batched repairs only; round.ts). */
  readonly deferredMigrations: Set<Stripe>;
  /** Members whose shards counted as held at the last batched round (round.ts). */
  readonly heldAtLastRound: Set<string>;
  /** Deferred repairs kept across rounds (batched repairs only; backlog.ts). */
  readonly backlog: RepairBacklog;
  /** The current round's transfers (batched repairs only; job-book.ts). */
  readonly jobBook: JobBook;
  /** Stripes whose exposure must be recomputed after the current event. */
  readonly exposureDirty: Set<Stripe>;
  /** Owners with uploads queued but no online target. */
  readonly stalled: Set<Member>;
  onlineSincePlan: boolean;
  /** Batched rounds planned so far (round.ts stamps a round's stripes with it). */
  roundNo: number;
  readonly score: Score;
  /** Shard windows from failure to repair, measured. */
  readonly windows: RepairWindows;
  readonly series: SimResult['series'];
}

export function newWorld(config: SimConfig): World {
  const n = config.pledgesBytes.length;
  const code = chooseCode(config.agreement, n - 1);
  if (!code.feasible)
    throw new EngineError('infeasible', `the agreement is infeasible for this group: ${code.reason}`);
  const endMs = config.days * DAY_MS;
  const w: World = {
    config,
    rng: seedrandom(`pb-sim:${config.seed}`),
    queue: new EventQueue(1_000_000 + 64 * n * 100),
    nowMs: 0,
    endMs,
    sampleMs: endMs / config.samples,
    links: new Links(config.uploadBytesPerSecond, config.downloadBytesPerSecond),
    members: [],
    byId: new Map(),
    usedById: {},
    plans: new Map(),
    code,
    initialCode: { k: code.dataShards, m: code.parityShards },
    shardBytes: 0,
    repairDirty: new Set(),
    waiting: new WaitingStripes(),
    deferredMigrations: new Set(),
    heldAtLastRound: new Set(),
    backlog: new RepairBacklog(STRIPE_BOUND),
    jobBook: new JobBook(2 * MAX_TASKS_PER_ROUND),
    exposureDirty: new Set(),
    stalled: new Set(),
    onlineSincePlan: false,
    roundNo: 0,
    score: newScore(),
    windows: newRepairWindows(),
    series: {
      hours: [],
      exposedBytes: [],
      repairBytes: [],
      migrationBytes: [],
      storedBytes: [],
      events: [],
      eventsNotMarked: 0,
    },
  };
  for (const p of config.pledgesBytes) addMember(w, p, 0);
  return w;
}

function newScore(): Score {
  return {
    stripesLost: 0,
    bytesLost: 0,
    storedStripes: 0,
    storedSinceMs: 0,
    stripeMs: 0,
    repairBytes: 0,
    migrationBytes: 0,
    repairTasks: 0,
    repairsCompleted: 0,
    migrationTasks: 0,
    failures: 0,
    joins: 0,
    removals: 0,
    removalsSkipped: 0,
    bucketRepairBytes: 0,
    bucketMigrationBytes: 0,
    events: 0,
  };
}

export function memberId(idx: number): string {
  return `m${String(idx + 1).padStart(2, '0')}`;
}

export function addMember(w: World, pledgeBytes: number, atMs: number): Member {
  const idx = w.members.length;
  const id = memberId(idx);
  const m = newMember(idx, id, pledgeBytes, atMs);
  w.members.push(m);
  w.byId.set(id, m);
  w.usedById[id] = 0;
  return m;
}

export function member(w: World, id: string): Member {
  const m = w.byId.get(id);
  if (m === undefined) throw new Error(`sim invariant violated: no member ${id}`);
  return m;
}

/** An exponential draw with the given mean. */
export function exp(w: World, meanMs: number): number {
  return -Math.log(1 - w.rng()) * meanMs;
}

export function present(w: World): Member[] {
  return w.members.filter((m) => !m.removed);
}

/** Each present member's allowance under the agreement, by id. */
export function allowancesById(w: World, members: readonly Member[]): Map<string, number> {
  const report = allowances(
    members.map((m) => ({ id: m.id, pledgeBytes: m.pledgeBytes })),
    w.config.agreement,
  );
  return new Map(report.members.map((a) => [a.id, a.allowanceBytes]));
}

/** The owner's placement plan over today's holders (cached until the membership changes). */
export function planFor(w: World, owner: string, s: number): PlacementPlan {
  const key = planKey(owner, s);
  let plan = w.plans.get(key);
  if (plan === undefined) {
    // The writer's plan (engine/layout.ts holders: the other members with a pledge).
    plan = ownerStripePlan(present(w), owner, s);
    w.plans.set(key, plan);
  }
  return plan;
}

/** Stripe-time: stored stripes integrated over virtual time (the loss rate's denominator). */
export function integrateStripes(w: World): void {
  w.score.stripeMs += w.score.storedStripes * (w.nowMs - w.score.storedSinceMs);
  w.score.storedSinceMs = w.nowMs;
}

export function unstore(w: World, st: Stripe): void {
  w.score.storedStripes--;
  w.members[st.ownerIdx]!.backedUpBytes -= st.dataShards * st.shardBytes;
}

/** Every listed holder lets go of its shard of the stripe. */
export function release(w: World, st: Stripe): void {
  for (let i = 0; i < st.holders.length; i++) {
    const h = st.holders[i];
    if (h === null || h === undefined) continue;
    if (member(w, h).held.delete(st)) w.usedById[h]! -= st.shardBytes;
  }
}

/** Failure until the group repairs around a member: the grace period, or its replacement if sooner. */
export function detectionMs(w: World): number {
  return Math.min(w.config.graceMs, w.config.replacementMs);
}

/** A failure, join or removal for the report's time axis (bounded). */
export function mark(w: World, kind: SimMarkedEvent['kind'], m: Member): void {
  if (w.series.events.length >= MAX_MARKED_EVENTS) {
    w.series.eventsNotMarked++;
    return;
  }
  w.series.events.push({ hours: Number((w.nowMs / HOUR_MS).toFixed(3)), kind, member: m.id });
}

/** The stripe needs a new look from the planner and from the exposure count. */
export function touch(w: World, st: Stripe): void {
  w.repairDirty.add(st);
  w.exposureDirty.add(st);
}
