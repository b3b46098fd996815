/**
 * The discrete-event simulator (docs/sim.md). A virtual clock, a binary-heap event queue and one
 * seeded generator: the same config gives the same run, byte for byte. Every rule about
 * placement, capacity, repair and exposure comes from `engine/index.ts`; the simulator only moves
 * bytes between simulated members and keeps score.
 *
 * Model:
 * - Members churn between online and offline (exponential sessions with the configured mean
 *   online fraction and cycle length). Offline members cannot send or receive.
 * - Disks fail at `afr` per member-year: the member's shards are gone at once, but the group only
 *   sees that when the member rejoins empty (after the replacement delay) or when the grace period
 *   runs out, whichever is first.
 * - Transfers take bytes / min(sender upload, receiver download); each member's upload and download
 *   are reserved in order (one transfer at a time per direction). A transfer during which either
 *   end went offline fails and is retried.
 * - Owners write their data as stripes (`chooseStripe`), then rewrite `dailyChange` of it each day
 *   (new stripes in, the same amount of the oldest out). A lost stripe is written again by its owner.
 * - Every `planIntervalMs` the stripes that changed go through `planRepairs`; repairs and
 *   migrations run as transfers (k-1 shards to the repairer, then one per new shard). Batched
 *   (the default): deferred stripes wait in a backlog across rounds and a round's transfers are
 *   settled from one book between events (backlog.ts, job-book.ts); the same run either way.
 *
 * This file sets the run up and dispatches events; each concern lives in its own module (world.ts
 * lists them).
 */
import { fail, goOffline, goOnline, markHeld, outage, rejoin, startMember } from './churn.ts';
import { type SimConfig, validateConfig } from './config.ts';
import type { SimEvent, SimEventBody } from './events.ts';
import { join, remove } from './membership.ts';
import { DAY_MS, HOUR_MS, MAX_SHARD_BYTES, MIN_SHARD_BYTES } from './model.ts';
import { result } from './outcome.ts';
import { jobDone, jobStart, planRound } from './repair.ts';
import { modelledStripes } from './resolution.ts';
import type { SimResult } from './result.ts';
import { refreshExposure, sample } from './score.ts';
import { daily, fill, uploadDone } from './uploads.ts';
import { allowancesById, newWorld, type World } from './world.ts';

export function runSimulation(config: SimConfig): SimResult {
  validateConfig(config);
  const w = newWorld(config);
  setUp(w);
  loop(w);
  w.nowMs = w.endMs;
  sample(w);
  return result(w);
}

/** Each member's data to back up: the configured sizes or each one's allowance. */
function dataSizes(w: World): number[] {
  const c = w.config;
  if (c.data !== 'allowance') return [...c.data];
  const byId = allowancesById(w, w.members);
  return w.members.map((m) => byId.get(m.id)!);
}

/** The shard size: configured, or the power of two that keeps the stripe count near the target. */
function chooseShardBytes(w: World, totalDataBytes: number): number {
  const c = w.config;
  if (c.shardBytes !== 'auto') return c.shardBytes;
  const want = totalDataBytes / (modelledStripes(c) * w.initialCode.k);
  let shard = MIN_SHARD_BYTES;
  while (shard < want && shard < MAX_SHARD_BYTES) shard *= 2;
  return shard;
}

function setUp(w: World): void {
  const c = w.config;
  const sizes = dataSizes(w);
  w.shardBytes = chooseShardBytes(
    w,
    sizes.reduce((a, b) => a + b, 0),
  );
  w.members.forEach((m, i) => {
    m.dataBytes = sizes[i]!;
    m.dataLeftBytes = sizes[i]!;
    if (m.dataBytes === 0) m.firstFullBackupMs = 0;
  });
  w.series.exposedBytes = w.members.map(() => []);
  for (const m of w.members) startMember(w, m);
  const q = w.queue;
  for (const f of c.failures) q.push(f.atDays * DAY_MS, { kind: 'fail', member: f.member, cycleEpoch: null });
  for (const o of c.outages)
    q.push(o.atDays * DAY_MS, { kind: 'outage', member: o.member, forMs: o.forHours * HOUR_MS });
  for (let j = 0; j < c.joins; j++) q.push(w.rng() * w.endMs, { kind: 'join' });
  for (let j = 0; j < c.removals; j++) q.push(w.rng() * w.endMs, { kind: 'remove', member: null });
  for (const r of c.scheduledRemovals) q.push(r.atDays * DAY_MS, { kind: 'remove', member: r.member });
  q.push(c.planIntervalMs, { kind: 'plan' });
  q.push(0, { kind: 'sample' });
  for (const m of w.members) fill(w, m);
}

function loop(w: World): void {
  const maxEvents = w.config.maxEvents;
  for (;;) {
    const next = w.queue.peek();
    const due = next === undefined || next.timeMs > w.endMs ? null : next;
    settleJobs(w, due);
    if (due === null) break;
    const ev = w.queue.pop()!;
    if (++w.score.events > maxEvents) throw new Error(`sim: more than ${maxEvents} events; shorten the run`);
    advance(w, ev.timeMs);
    handle(w, ev.body);
    if (w.exposureDirty.size > 0) refreshExposure(w);
  }
}

function advance(w: World, timeMs: number): void {
  if (timeMs < w.nowMs) throw new Error('sim invariant violated: time went backwards');
  w.nowMs = timeMs;
}

/** The round's transfers that come before the next event (all up to the end when there is none). */
function settleJobs(w: World, before: SimEvent | null): void {
  for (;;) {
    const a = w.jobBook.takeBefore(before);
    if (a === undefined || a.timeMs > w.endMs) return;
    advance(w, a.timeMs);
    if (a.kind === 'job-start') jobStart(a.job);
    else jobDone(w, a.job);
    if (w.exposureDirty.size > 0) refreshExposure(w);
  }
}

function handle(w: World, ev: SimEventBody): void {
  switch (ev.kind) {
    case 'offline':
    case 'online':
    case 'outage':
    case 'grace':
    case 'fail':
    case 'rejoin':
      handleChurn(w, ev);
      return;
    case 'daily': {
      const m = w.members[ev.member]!;
      if (!m.removed) daily(w, m);
      return;
    }
    case 'upload-done':
      uploadDone(w, w.members[ev.member]!, ev.transfer);
      return;
    case 'job-start':
      jobStart(ev.job);
      return;
    case 'job-done':
      jobDone(w, ev.job);
      return;
    case 'plan':
      planRound(w);
      w.queue.push(w.nowMs + w.config.planIntervalMs, { kind: 'plan' });
      return;
    case 'sample':
      sample(w);
      if (w.nowMs + w.sampleMs < w.endMs) w.queue.push(w.nowMs + w.sampleMs, { kind: 'sample' });
      return;
    case 'join':
      join(w);
      return;
    case 'remove': {
      const m = ev.member === null ? undefined : w.members[ev.member]!;
      if (m === undefined || !m.removed) remove(w, m);
      return;
    }
    default:
      unknownEvent(ev);
      return;
  }
}

type ChurnEvent = Extract<
  SimEventBody,
  { kind: 'offline' | 'online' | 'outage' | 'grace' | 'fail' | 'rejoin' }
>;

/** Churn events: each is dropped when its member has moved on (epochs) or left. */
function handleChurn(w: World, ev: ChurnEvent): void {
  const m = w.members[ev.member]!;
  if (m.removed) return;
  switch (ev.kind) {
    case 'offline':
      if (m.cycleEpoch === ev.cycleEpoch && m.online && !m.failed) goOffline(w, m, null);
      return;
    case 'online':
      if (m.cycleEpoch === ev.cycleEpoch && !m.online && !m.failed) goOnline(w, m);
      return;
    case 'outage':
      if (m.online && !m.failed) outage(w, m, ev.forMs);
      return;
    case 'grace':
      if (m.epoch === ev.epoch && !m.online) markHeld(w, m);
      return;
    case 'fail':
      if ((ev.cycleEpoch === null || m.cycleEpoch === ev.cycleEpoch) && !m.failed) fail(w, m);
      return;
    case 'rejoin':
      if (m.failed) rejoin(w, m);
      return;
  }
}

function unknownEvent(ev: never): never {
  throw new Error(`sim invariant violated: unknown event ${JSON.stringify(ev)}`);
}
