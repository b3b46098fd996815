/**
 * Repair: every planning round the stripes that changed go through the engine's `planRepairs`
 * (round.ts); the repairs (k-1 shards read into the repairer, then one transfer per new shard) and migrations
 * that finish within the round start as jobs, which fail if a participant goes offline.
 */
import type { MigrationTask, RepairTask } from '../engine/index.ts';
import { type Job, MAX_TASKS_PER_ROUND, type Stripe, TASKS_PER_MEMBER_PER_ROUND } from './model.ts';
import { closeWindow } from './repair-window.ts';
import { plan, planWithBacklog, roundBatch } from './round.ts';
import { detectionMs, member, type World } from './world.ts';

/** One planning round. */
export function planRound(w: World): void {
  if (w.jobBook.pending > 0)
    throw new Error('sim invariant violated: a round planned before the last one ended');
  const batch = roundBatch(w);
  const maxTasks = Math.min(MAX_TASKS_PER_ROUND, TASKS_PER_MEMBER_PER_ROUND * w.members.length);
  const result = w.config.batchRepairs ? planWithBacklog(w, batch, maxTasks) : plan(w, batch, maxTasks);
  if (result === null) return;
  const { byStripeId, repairs, migrations } = result;
  for (const id of result.waitingStripeIds) w.waiting.set(byStripeId.get(id)!, null);
  // Start only what finishes within this round: work reserved far ahead would mostly fail
  // when a participant goes offline, and the planner sees the stripe again next round.
  const horizonMs = w.nowMs + w.config.planIntervalMs;
  for (const task of repairs) {
    const st = byStripeId.get(task.stripeId)!;
    if (repairEndMs(w, st, task) > horizonMs) w.repairDirty.add(st);
    else startRepair(w, st, task);
  }
  for (const task of migrations) {
    const st = byStripeId.get(task.stripeId)!;
    if (st.busy || migrationEndMs(w, st, task) > horizonMs) w.repairDirty.add(st);
    else startMigration(w, st, task);
  }
}

function migrationEndMs(w: World, st: Stripe, task: MigrationTask): number {
  const from = member(w, task.from);
  const to = member(w, task.to);
  return w.links.endMs(from.upFreeAtMs, to.downFreeAtMs, st.shardBytes, w.nowMs);
}

/** When a repair would end if started now (the same sums as startRepair, without reserving). */
function repairEndMs(w: World, st: Stripe, task: RepairTask): number {
  const t = readEndMs(w, st, task);
  let up = member(w, task.repairer).upFreeAtMs;
  for (const mv of task.moves) up = w.links.endMs(up, member(w, mv.to).downFreeAtMs, st.shardBytes, t);
  return Math.max(t, up);
}

function readEndMs(w: World, st: Stripe, task: RepairTask): number {
  const sources = task.sources.slice(1).map((id) => member(w, id));
  return w.links.readEndMs(member(w, task.repairer), sources, st.shardBytes, w.nowMs);
}

function startRepair(w: World, st: Stripe, task: RepairTask): void {
  if (st.busy) throw new Error(`sim invariant violated: a second repair of stripe ${st.stripeId} under way`);
  st.busy = true;
  w.score.repairTasks++;
  const repairer = member(w, task.repairer);
  const ids = new Set<string>([...task.sources, ...task.moves.map((mv) => mv.to)]);
  const participants = [...ids].map((id) => ({ member: member(w, id), epoch: -1 }));
  const t = readEndMs(w, st, task);
  let startMs = Math.max(w.nowMs, repairer.downFreeAtMs);
  for (const src of task.sources.slice(1)) startMs = Math.max(startMs, member(w, src).upFreeAtMs);
  if (task.sources.length === 1) startMs = Math.max(w.nowMs, repairer.upFreeAtMs);
  if (task.sources.length > 1) repairer.downFreeAtMs = t;
  for (const src of task.sources.slice(1)) member(w, src).upFreeAtMs = t;
  let endMs = t;
  for (const mv of task.moves) {
    const to = member(w, mv.to);
    to.incomingBytes += st.shardBytes;
    w.usedById[to.id]! += st.shardBytes;
    endMs = Math.max(endMs, w.links.reserve(repairer, to, st.shardBytes, t));
  }
  const job: Job = { kind: 'repair', stripe: st, repair: task, participants, aborted: false };
  schedule(w, Math.min(startMs, endMs), endMs, job);
}

function startMigration(w: World, st: Stripe, task: MigrationTask): void {
  st.busy = true;
  w.score.migrationTasks++;
  const from = member(w, task.from);
  const to = member(w, task.to);
  to.incomingBytes += st.shardBytes;
  w.usedById[to.id]! += st.shardBytes;
  const startMs = Math.max(w.nowMs, from.upFreeAtMs, to.downFreeAtMs);
  const endMs = w.links.reserve(from, to, st.shardBytes, w.nowMs);
  const job: Job = {
    kind: 'migration',
    stripe: st,
    migration: task,
    participants: [
      { member: from, epoch: -1 },
      { member: to, epoch: -1 },
    ],
    aborted: false,
  };
  schedule(w, startMs, endMs, job);
}

/** The job's start and end: two queue events, or two actions of the round's book when batched. */
function schedule(w: World, startMs: number, endMs: number, job: Job): void {
  if (!w.config.batchRepairs) {
    w.queue.push(startMs, { kind: 'job-start', job });
    w.queue.push(endMs, { kind: 'job-done', job });
    return;
  }
  w.jobBook.add({ timeMs: startMs, seq: w.queue.takeSeq(), kind: 'job-start', job });
  w.jobBook.add({ timeMs: endMs, seq: w.queue.takeSeq(), kind: 'job-done', job });
}

/** The job's transfers begin: every participant must be online now and stay so until the end. */
export function jobStart(job: Job): void {
  for (const p of job.participants) {
    if (!p.member.online) job.aborted = true;
    p.epoch = p.member.epoch;
  }
}

export function jobDone(w: World, job: Job): void {
  const st = job.stripe;
  st.busy = false;
  const targets = job.repair ? job.repair.moves.map((mv) => mv.to) : [job.migration!.to];
  const ok =
    !job.aborted &&
    st.state === 'stored' &&
    job.participants.every((p) => p.member.epoch === p.epoch && p.member.online);
  for (const id of targets) member(w, id).incomingBytes -= st.shardBytes;
  if (!ok) {
    for (const id of targets) w.usedById[id]! -= st.shardBytes;
    if (st.state === 'stored') w.repairDirty.add(st);
    return;
  }
  if (job.repair) repairDone(w, st, job.repair);
  else migrationDone(w, st, job.migration!);
  w.repairDirty.add(st);
  w.exposureDirty.add(st);
}

function repairDone(w: World, st: Stripe, task: RepairTask): void {
  w.score.repairsCompleted++;
  for (const mv of task.moves) place(w, st, mv.shardIndex, mv.to);
  for (const src of task.sources.slice(1)) member(w, src).repairBytesSent += st.shardBytes;
  member(w, task.repairer).repairBytesSent += task.moves.length * st.shardBytes;
  w.score.repairBytes += task.transferBytes;
  w.score.bucketRepairBytes += task.transferBytes;
}

function migrationDone(w: World, st: Stripe, task: MigrationTask): void {
  place(w, st, task.shardIndex, task.to);
  member(w, task.from).migrationBytesSent += st.shardBytes;
  w.score.migrationBytes += st.shardBytes;
  w.score.bucketMigrationBytes += st.shardBytes;
}

/** Shard `index` of the stripe now lives on `to`; the old holder's copy is deleted. */
function place(w: World, st: Stripe, index: number, to: string): void {
  const old = st.holders[index];
  if (old !== null && old !== undefined) {
    if (member(w, old).held.delete(st)) w.usedById[old]! -= st.shardBytes;
  }
  st.holders[index] = to;
  member(w, to).held.add(st);
  if (!st.exists[index]) {
    closeWindow(w.windows, st, index, w.nowMs, detectionMs(w));
    st.exists[index] = true;
    st.existCount++;
  }
}
