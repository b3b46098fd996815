/**
 * The discrete-event simulator (docs/design.md §12). A virtual clock, a binary-heap event queue and
 * one seeded generator: the same config gives the same run, byte for byte. Every rule about
 * placement, capacity, repair and exposure comes from `engine/index.ts`; this file only moves
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
 *   migrations run as transfers (k-1 shards to the repairer, then one per new shard).
 */
import seedrandom from 'seedrandom';
import {
  type Availability,
  allowances,
  availabilityOf,
  type CodeChoice,
  capacityReport,
  chooseCode,
  chooseStripe,
  closedFormLoss,
  EngineError,
  type MigrationTask,
  memberStatus,
  type PlacementPlan,
  placementPlan,
  planKey,
  planRepairs,
  type RepairTask,
  stripeProtection,
} from '../engine/index.ts';
import { type SimConfig, validateConfig } from './config.ts';
import { EventQueue } from './heap.ts';
import { Links } from './links.ts';
import {
  DAY_MS,
  HOUR_MS,
  type Job,
  MAX_SHARD_BYTES,
  MAX_TASKS_PER_ROUND,
  type Member,
  MIN_SHARD_BYTES,
  newMember,
  type Stripe,
  TASKS_PER_MEMBER_PER_ROUND,
  type Transfer,
  UPLOAD_LOOKAHEAD_STRIPES,
  YEAR_MS,
} from './model.ts';
import type { SimResult } from './result.ts';

export function runSimulation(config: SimConfig): SimResult {
  validateConfig(config);
  return new Simulation(config).run();
}

class Simulation {
  private readonly rng: seedrandom.PRNG;
  private readonly queue: EventQueue;
  private nowMs = 0;
  private readonly endMs: number;
  private readonly members: Member[] = [];
  private readonly byId = new Map<string, Member>();
  private readonly usedById: Record<string, number> = {};
  private plans = new Map<string, PlacementPlan>();
  private code: CodeChoice;
  private readonly initialCode: { k: number; m: number };
  private shardBytes = 0;
  private readonly repairDirty = new Set<Stripe>();
  private readonly waiting = new Set<Stripe>();
  private readonly exposureDirty = new Set<Stripe>();
  private readonly stalled = new Set<Member>();
  private onlineSincePlan = false;
  private events = 0;
  // Score
  private stripesLost = 0;
  private bytesLost = 0;
  private storedStripes = 0;
  private storedSinceMs = 0;
  private stripeMs = 0;
  private repairBytes = 0;
  private migrationBytes = 0;
  private repairTasks = 0;
  private repairsCompleted = 0;
  private migrationTasks = 0;
  private failures = 0;
  private joins = 0;
  private removals = 0;
  private removalsSkipped = 0;
  private bucketRepairBytes = 0;
  private bucketMigrationBytes = 0;
  private readonly series: SimResult['series'] = {
    hours: [],
    exposedBytes: [],
    repairBytes: [],
    migrationBytes: [],
    storedBytes: [],
  };
  private readonly sampleMs: number;
  private readonly links: Links;

  constructor(private readonly config: SimConfig) {
    this.rng = seedrandom(`pb-sim:${config.seed}`);
    this.queue = new EventQueue(1_000_000 + 64 * config.pledgesBytes.length * 100);
    this.endMs = config.days * DAY_MS;
    this.sampleMs = this.endMs / config.samples;
    this.links = new Links(config.uploadBytesPerSecond, config.downloadBytesPerSecond);
    const n = config.pledgesBytes.length;
    this.code = chooseCode(config.agreement, n - 1);
    if (!this.code.feasible)
      throw new EngineError('infeasible', `the agreement is infeasible for this group: ${this.code.reason}`);
    this.initialCode = { k: this.code.dataShards, m: this.code.parityShards };
    config.pledgesBytes.forEach((p) => {
      this.addMember(p, 0);
    });
  }

  // ------------------------------------------------------------------------------------------
  // Set-up

  private addMember(pledgeBytes: number, atMs: number): Member {
    const idx = this.members.length;
    const id = `m${String(idx + 1).padStart(2, '0')}`;
    const m = newMember(idx, id, pledgeBytes, atMs);
    this.members.push(m);
    this.byId.set(id, m);
    this.usedById[id] = 0;
    return m;
  }

  private exp(meanMs: number): number {
    return -Math.log(1 - this.rng()) * meanMs;
  }

  private present(): Member[] {
    return this.members.filter((m) => !m.removed);
  }

  private startMember(m: Member): void {
    this.scheduleCycle(m, true);
    this.scheduleFailure(m);
    this.queue.push(this.nowMs + this.rng() * DAY_MS, 'daily', m.idx, 0);
  }

  private scheduleCycle(m: Member, online: boolean): void {
    const f = this.config.onlineFraction;
    if (f >= 1) return;
    const mean = online ? this.config.sessionMs * f : this.config.sessionMs * (1 - f);
    this.queue.push(this.nowMs + this.exp(mean), online ? 'offline' : 'online', m.idx, m.cycleEpoch);
  }

  private scheduleFailure(m: Member): void {
    if (this.config.afr <= 0) return;
    this.queue.push(this.nowMs + this.exp(YEAR_MS / this.config.afr), 'fail', m.idx, m.cycleEpoch);
  }

  private dataSizes(): number[] {
    const c = this.config;
    if (c.data !== 'allowance') return [...c.data];
    const report = allowances(
      this.members.map((m) => ({ id: m.id, pledgeBytes: m.pledgeBytes })),
      c.agreement,
    );
    return report.members.map((a) => a.allowanceBytes);
  }

  // ------------------------------------------------------------------------------------------
  // The run

  run(): SimResult {
    const c = this.config;
    const sizes = this.dataSizes();
    const k = this.initialCode.k;
    const totalData = sizes.reduce((a, b) => a + b, 0);
    if (c.shardBytes === 'auto') {
      const want = totalData / (c.targetStripes * k);
      let shard = MIN_SHARD_BYTES;
      while (shard < want && shard < MAX_SHARD_BYTES) shard *= 2;
      this.shardBytes = shard;
    } else {
      this.shardBytes = c.shardBytes;
    }
    this.members.forEach((m, i) => {
      m.dataBytes = sizes[i]!;
      m.dataLeftBytes = sizes[i]!;
      if (m.dataBytes === 0) m.firstFullBackupMs = 0;
    });
    this.series.exposedBytes = this.members.map(() => []);
    for (const m of this.members) this.startMember(m);
    for (const f of c.failures) this.queue.push(f.atDays * DAY_MS, 'fail', f.member, -1);
    for (const o of c.outages)
      this.queue.push(o.atDays * DAY_MS, 'outage', o.member, -1, o.forHours * HOUR_MS);
    for (let j = 0; j < c.joins; j++) this.queue.push(this.rng() * this.endMs, 'join', -1, 0);
    for (let j = 0; j < c.removals; j++) this.queue.push(this.rng() * this.endMs, 'remove', -1, 0);
    for (const r of c.scheduledRemovals) this.queue.push(r.atDays * DAY_MS, 'remove', r.member, 0);
    this.queue.push(c.planIntervalMs, 'plan', -1, 0);
    this.queue.push(0, 'sample', -1, 0);
    for (const m of this.members) this.fill(m);

    for (;;) {
      const t = this.queue.peekTimeMs();
      if (t === undefined || t > this.endMs) break;
      const ev = this.queue.pop()!;
      if (++this.events > c.maxEvents)
        throw new Error(`sim: more than ${c.maxEvents} events; shorten the run`);
      if (ev.timeMs < this.nowMs) throw new Error('sim invariant violated: time went backwards');
      this.nowMs = ev.timeMs;
      this.handle(ev.kind, ev.member, ev.epoch, ev.ref);
      if (this.exposureDirty.size > 0) this.refreshExposure();
    }
    this.nowMs = this.endMs;
    this.sample();
    return this.result();
  }

  private handle(kind: string, idx: number, epoch: number, ref: unknown): void {
    const m = idx >= 0 ? this.members[idx] : undefined;
    switch (kind) {
      case 'offline':
        if (m && m.cycleEpoch === epoch && m.online && !m.failed && !m.removed) this.goOffline(m, null);
        return;
      case 'online':
        if (m && m.cycleEpoch === epoch && !m.online && !m.failed && !m.removed) this.goOnline(m);
        return;
      case 'outage':
        if (m?.online && !m.failed && !m.removed) {
          m.cycleEpoch++;
          this.goOffline(m, ref as number);
        }
        return;
      case 'grace':
        if (m && m.epoch === epoch && !m.online && !m.removed) this.markHeld(m);
        return;
      case 'fail':
        if (m && (epoch === -1 || m.cycleEpoch === epoch) && !m.failed && !m.removed) this.fail(m);
        return;
      case 'rejoin':
        if (m?.failed && !m.removed) this.rejoin(m);
        return;
      case 'daily':
        if (m && !m.removed) this.daily(m);
        return;
      case 'xfer':
        this.transferDone(m!, ref as Transfer);
        return;
      case 'job-start':
        this.jobStart(ref as Job);
        return;
      case 'job':
        this.jobDone(ref as Job);
        return;
      case 'plan':
        this.plan();
        this.queue.push(this.nowMs + this.config.planIntervalMs, 'plan', -1, 0);
        return;
      case 'sample':
        this.sample();
        if (this.nowMs + this.sampleMs < this.endMs)
          this.queue.push(this.nowMs + this.sampleMs, 'sample', -1, 0);
        return;
      case 'join':
        this.join();
        return;
      case 'remove':
        if (m === undefined || !m.removed) this.remove(m);
        return;
      default:
        throw new Error(`sim invariant violated: unknown event ${kind}`);
    }
  }

  // ------------------------------------------------------------------------------------------
  // Churn, failures, membership

  private goOffline(m: Member, forMs: number | null): void {
    m.online = false;
    m.lastSeenMs = this.nowMs;
    m.epoch++;
    this.stalled.delete(m);
    const f = this.config.onlineFraction;
    const offMs = forMs ?? this.exp(this.config.sessionMs * (1 - f));
    if (offMs >= this.config.graceMs)
      this.queue.push(this.nowMs + this.config.graceMs, 'grace', m.idx, m.epoch);
    this.queue.push(this.nowMs + offMs, 'online', m.idx, m.cycleEpoch);
  }

  private goOnline(m: Member): void {
    const wasLost = this.nowMs - m.lastSeenMs >= this.config.graceMs;
    m.online = true;
    m.lastSeenMs = this.nowMs;
    m.epoch++;
    if (wasLost) this.markHeld(m);
    this.onlineSincePlan = true;
    this.scheduleCycle(m, true);
    this.pump(m);
    for (const o of [...this.stalled]) this.pump(o);
  }

  /** The member's availability class changed: its stripes need a new look. */
  private markHeld(m: Member): void {
    for (const st of m.held) {
      if (st.state !== 'stored') continue;
      this.repairDirty.add(st);
      this.exposureDirty.add(st);
    }
  }

  private fail(m: Member): void {
    this.failures++;
    if (m.online) {
      m.online = false;
      m.lastSeenMs = this.nowMs;
    }
    m.failed = true;
    m.epoch++;
    m.cycleEpoch++;
    this.stalled.delete(m);
    for (const st of [...m.held]) {
      const i = st.holders.indexOf(m.id);
      if (i >= 0 && st.exists[i]) {
        st.exists[i] = false;
        st.existCount--;
        if (st.state === 'stored' && st.existCount < st.dataShards) this.lose(st);
      }
    }
    // The owner's not-yet-uploaded data is gone with its disk; it writes it again after rejoining.
    this.dropPending(m);
    this.queue.push(this.nowMs + this.config.graceMs, 'grace', m.idx, m.epoch);
    this.queue.push(this.nowMs + this.config.replacementMs, 'rejoin', m.idx, m.epoch);
  }

  private rejoin(m: Member): void {
    m.failed = false;
    m.online = true;
    m.lastSeenMs = this.nowMs;
    m.epoch++;
    for (const st of m.held) {
      const i = st.holders.indexOf(m.id);
      if (i >= 0) st.holders[i] = null;
      if (st.state === 'stored') {
        this.repairDirty.add(st);
        this.exposureDirty.add(st);
      }
    }
    m.held.clear();
    this.usedById[m.id] = m.incomingBytes;
    this.onlineSincePlan = true;
    this.scheduleCycle(m, true);
    this.scheduleFailure(m);
    this.fill(m);
    for (const o of [...this.stalled]) this.pump(o);
  }

  private join(): void {
    if (this.members.length >= 500) return;
    const initial = this.config.pledgesBytes;
    const pledge = Math.round(Math.exp(initial.reduce((a, p) => a + Math.log(p), 0) / initial.length));
    const m = this.addMember(pledge, this.nowMs);
    this.joins++;
    this.series.exposedBytes[m.idx] = this.series.hours.map(() => 0);
    this.membershipChanged();
    const sizes = this.config.data === 'allowance' ? null : this.config.data;
    if (sizes === null) {
      const report = allowances(
        this.present().map((p) => ({ id: p.id, pledgeBytes: p.pledgeBytes })),
        this.config.agreement,
      );
      m.dataBytes = report.members.find((a) => a.id === m.id)!.allowanceBytes;
    } else {
      m.dataBytes = [...sizes].sort((a, b) => a - b)[Math.floor(sizes.length / 2)]!;
    }
    m.dataLeftBytes = m.dataBytes;
    if (m.dataBytes === 0) m.firstFullBackupMs = this.nowMs;
    this.startMember(m);
    this.fill(m);
  }

  private remove(chosen: Member | undefined): void {
    const candidates = this.present();
    const s = this.maxShardsInUse();
    // Every owner must keep s other members to place on.
    if (candidates.length - 2 < s) {
      this.removalsSkipped++;
      return;
    }
    const m = chosen ?? candidates[Math.floor(this.rng() * candidates.length)]!;
    this.removals++;
    m.removed = true;
    m.online = false;
    m.lastSeenMs = this.nowMs;
    m.epoch++;
    m.cycleEpoch++;
    this.stalled.delete(m);
    for (const st of m.held) {
      const i = st.holders.indexOf(m.id);
      if (i >= 0 && st.exists[i]) {
        st.exists[i] = false;
        st.existCount--;
      }
      if (st.state === 'stored') {
        if (st.existCount < st.dataShards) this.lose(st);
        else {
          this.repairDirty.add(st);
          this.exposureDirty.add(st);
        }
      }
    }
    // Its own backup goes (pb leaves it in place, docs/design.md §10; the simulator drops it at once).
    this.dropPending(m);
    for (const st of m.own) if (st.state === 'stored') this.deleteStripe(st);
    m.dataLeftBytes = 0;
    // Shards queued for it from other owners: those stripes complete with a gap the planner fills.
    for (const o of this.members) {
      const q = o.queues.get(m.idx);
      if (q === undefined) continue;
      o.queues.delete(m.idx);
      for (const up of q) {
        o.queuedShards--;
        up.stripe.pendingShards--;
        if (up.stripe.pendingShards === 0) this.stored(up.stripe);
      }
    }
    m.incomingBytes = 0;
    this.membershipChanged();
  }

  private maxShardsInUse(): number {
    let s = this.code.feasible ? this.code.dataShards + this.code.parityShards : 0;
    for (const key of this.plans.keys()) s = Math.max(s, Number(key.split(':')[0]));
    s = Math.max(s, this.initialCode.k + this.initialCode.m);
    return s;
  }

  private membershipChanged(): void {
    this.plans = new Map();
    this.code = chooseCode(this.config.agreement, this.present().length - 1);
    for (const o of this.members) {
      if (o.removed) continue;
      for (let i = o.ownHead; i < o.own.length; i++) {
        const st = o.own[i]!;
        if (st.state === 'stored') this.repairDirty.add(st);
      }
    }
  }

  // ------------------------------------------------------------------------------------------
  // Owners writing their data

  private planFor(owner: string, s: number): PlacementPlan {
    const key = planKey(owner, s);
    let plan = this.plans.get(key);
    if (plan === undefined) {
      const others = this.present()
        .filter((m) => m.id !== owner)
        .map((m) => ({ id: m.id, capacityBytes: m.pledgeBytes }));
      plan = placementPlan(others, s);
      this.plans.set(key, plan);
    }
    return plan;
  }

  private daily(m: Member): void {
    const change = Math.round(m.dataBytes * this.config.dailyChange);
    if (!m.failed && m.firstFullBackupMs !== null) {
      m.dataLeftBytes += change;
      m.deleteDebtBytes += change;
    }
    m.full = false;
    this.fill(m);
    this.queue.push(this.nowMs + DAY_MS, 'daily', m.idx, 0);
  }

  /** Cut the owner's waiting data into stripes, a few ahead of its uploads. */
  private fill(m: Member): void {
    if (m.failed || m.removed || m.full || !this.code.feasible) return;
    const k = this.code.dataShards;
    const s = k + this.code.parityShards;
    const shard = this.shardBytes;
    for (let guard = 0; guard < UPLOAD_LOOKAHEAD_STRIPES * 2; guard++) {
      if (m.dataLeftBytes <= 0 || m.queuedShards >= UPLOAD_LOOKAHEAD_STRIPES * s) break;
      const plan = this.planFor(m.id, s);
      const choice = chooseStripe(plan, `${m.id}:${m.nextSeq}`, this.usedById, shard);
      if (choice.members.some((id) => this.usedById[id]! + shard > this.byId.get(id)!.pledgeBytes)) {
        m.full = true;
        break;
      }
      m.nextSeq++;
      const st: Stripe = {
        stripeId: choice.stripeId,
        owner: m.id,
        ownerIdx: m.idx,
        dataShards: k,
        parityShards: s - k,
        shardBytes: shard,
        holders: new Array<string | null>(s).fill(null),
        exists: new Array<boolean>(s).fill(false),
        existCount: 0,
        state: 'pending',
        pendingShards: s,
        busy: false,
        exposedBytes: 0,
      };
      choice.members.forEach((id, index) => {
        const t = this.byId.get(id)!;
        t.incomingBytes += shard;
        this.usedById[id]! += shard;
        let q = m.queues.get(t.idx);
        if (q === undefined) {
          q = [];
          m.queues.set(t.idx, q);
        }
        q.push({ stripe: st, index, target: t.idx });
      });
      m.queuedShards += s;
      m.pendingStripes++;
      m.dataLeftBytes = Math.max(0, m.dataLeftBytes - k * shard);
      m.own.push(st);
    }
    this.pump(m);
  }

  /** Start the owner's next shard upload to an online member. */
  private pump(m: Member): void {
    if (m.uploading || m.queuedShards === 0) return;
    if (!m.online || m.failed || m.removed) return;
    for (const [t, q] of m.queues) {
      const target = this.members[t]!;
      if (q.length === 0 || !target.online) continue;
      const up = q.shift()!;
      // Round robin: this target goes to the back.
      m.queues.delete(t);
      if (q.length > 0) m.queues.set(t, q);
      m.uploading = true;
      this.stalled.delete(m);
      const end = this.links.reserve(m, target, up.stripe.shardBytes, this.nowMs);
      const tr: Transfer = { upload: up, ownerEpoch: m.epoch, targetEpoch: target.epoch };
      this.queue.push(end, 'xfer', m.idx, 0, tr);
      return;
    }
    this.stalled.add(m);
  }

  private transferDone(m: Member, tr: Transfer): void {
    m.uploading = false;
    const { stripe: st, index, target: t } = tr.upload;
    const target = this.members[t]!;
    if (st.state !== 'pending') {
      this.pump(m);
      return;
    }
    if (m.epoch !== tr.ownerEpoch || target.epoch !== tr.targetEpoch) {
      // Either end went away: try again later, first in line.
      const q = m.queues.get(t) ?? [];
      q.unshift(tr.upload);
      m.queues.set(t, q);
      this.pump(m);
      return;
    }
    target.incomingBytes -= st.shardBytes;
    st.holders[index] = target.id;
    st.exists[index] = true;
    st.existCount++;
    target.held.add(st);
    m.queuedShards--;
    st.pendingShards--;
    if (st.pendingShards === 0) this.stored(st);
    this.fill(m);
  }

  private stored(st: Stripe): void {
    const owner = this.members[st.ownerIdx]!;
    this.integrateStripes();
    st.state = 'stored';
    this.storedStripes++;
    owner.backedUpBytes += st.dataShards * st.shardBytes;
    owner.pendingStripes--;
    this.exposureDirty.add(st);
    this.repairDirty.add(st);
    if (st.existCount < st.dataShards) {
      this.lose(st);
      return;
    }
    const data = st.dataShards * st.shardBytes;
    // Daily change: the oldest stripes go once the new data is in.
    while (owner.deleteDebtBytes >= data && owner.ownHead < owner.own.length) {
      const old = owner.own[owner.ownHead]!;
      if (old.state === 'lost' || old.state === 'deleted') {
        owner.ownHead++;
        continue;
      }
      if (old.state !== 'stored' || old.busy || old === st) break;
      owner.ownHead++;
      this.deleteStripe(old);
      owner.deleteDebtBytes -= data;
    }
    if (owner.firstFullBackupMs === null && owner.dataLeftBytes === 0 && owner.pendingStripes === 0) {
      owner.firstFullBackupMs = this.nowMs;
    }
  }

  private release(st: Stripe): void {
    for (let i = 0; i < st.holders.length; i++) {
      const h = st.holders[i];
      if (h === null || h === undefined) continue;
      const hm = this.byId.get(h)!;
      if (hm.held.delete(st)) this.usedById[h]! -= st.shardBytes;
    }
  }

  private deleteStripe(st: Stripe): void {
    this.integrateStripes();
    if (st.state === 'stored') this.unstore(st);
    st.state = 'deleted';
    this.release(st);
    this.exposureDirty.add(st);
    this.repairDirty.delete(st);
    this.waiting.delete(st);
  }

  private lose(st: Stripe): void {
    this.integrateStripes();
    if (st.state === 'stored') this.unstore(st);
    st.state = 'lost';
    this.stripesLost++;
    const data = st.dataShards * st.shardBytes;
    this.bytesLost += data;
    this.release(st);
    this.exposureDirty.add(st);
    this.repairDirty.delete(st);
    this.waiting.delete(st);
    // The owner still has the data (unless its own disk failed too): it writes it again.
    const owner = this.members[st.ownerIdx]!;
    if (!owner.removed) {
      owner.dataLeftBytes += data;
      this.fill(owner);
    }
  }

  /** Drop an owner's stripes that were not fully uploaded (its disk failed or it left). */
  private dropPending(m: Member): void {
    for (const q of m.queues.values()) {
      for (const up of q) {
        const t = this.members[up.target]!;
        t.incomingBytes -= up.stripe.shardBytes;
        this.usedById[t.id]! -= up.stripe.shardBytes;
      }
    }
    m.queues.clear();
    m.queuedShards = 0;
    for (let i = m.ownHead; i < m.own.length; i++) {
      const st = m.own[i]!;
      if (st.state !== 'pending') continue;
      st.state = 'deleted';
      m.pendingStripes--;
      this.release(st);
      if (!m.removed) m.dataLeftBytes += st.dataShards * st.shardBytes;
    }
    if (m.uploading) {
      // The in-flight shard's reservation: its transfer event finds the stripe deleted.
      m.uploading = false;
    }
  }

  // ------------------------------------------------------------------------------------------
  // Repair

  private plan(): void {
    const batch: Stripe[] = [];
    for (const st of this.repairDirty) if (st.state === 'stored' && !st.busy) batch.push(st);
    this.repairDirty.clear();
    if (this.onlineSincePlan) {
      for (const st of this.waiting) if (st.state === 'stored' && !st.busy) batch.push(st);
      this.waiting.clear();
      this.onlineSincePlan = false;
    }
    if (batch.length === 0) return;
    const plans = new Map<string, PlacementPlan>();
    for (const st of batch) {
      const key = planKey(st.owner, st.dataShards + st.parityShards);
      if (!plans.has(key)) plans.set(key, this.planFor(st.owner, st.dataShards + st.parityShards));
    }
    const result = planRepairs({
      members: this.members.map((m) => ({
        id: m.id,
        pledgeBytes: m.pledgeBytes,
        lastSeenMs: m.online ? this.nowMs : m.lastSeenMs,
        removed: m.removed,
        usedBytes: Math.max(0, this.usedById[m.id]!),
      })),
      stripes: batch,
      plans,
      nowMs: this.nowMs,
      graceMs: this.config.graceMs,
      onlineWindowMs: 0,
      maxTasks: Math.min(MAX_TASKS_PER_ROUND, TASKS_PER_MEMBER_PER_ROUND * this.members.length),
    });
    const byStripeId = new Map<string, Stripe>();
    for (const st of batch) byStripeId.set(st.stripeId, st);
    for (const id of result.deferredStripeIds) this.repairDirty.add(byStripeId.get(id)!);
    for (const id of result.waitingStripeIds) this.waiting.add(byStripeId.get(id)!);
    // Start only what finishes within this round: work reserved far ahead would mostly fail
    // when a participant goes offline, and the planner sees the stripe again next round.
    const horizon = this.nowMs + this.config.planIntervalMs;
    for (const task of result.repairs) {
      const st = byStripeId.get(task.stripeId)!;
      if (this.repairEndMs(st, task) > horizon) this.repairDirty.add(st);
      else this.startRepair(st, task);
    }
    for (const task of result.migrations) {
      const st = byStripeId.get(task.stripeId)!;
      const from = this.byId.get(task.from)!;
      const to = this.byId.get(task.to)!;
      if (
        st.busy ||
        this.links.endMs(from.upFreeAtMs, to.downFreeAtMs, st.shardBytes, this.nowMs) > horizon
      ) {
        this.repairDirty.add(st);
      } else this.startMigration(st, task);
    }
  }

  /** When a repair would end if started now (the same sums as startRepair, without reserving). */
  private repairEndMs(st: Stripe, task: RepairTask): number {
    const t = this.readEndMs(st, task);
    let up = this.byId.get(task.repairer)!.upFreeAtMs;
    for (const mv of task.moves)
      up = this.links.endMs(up, this.byId.get(mv.to)!.downFreeAtMs, st.shardBytes, t);
    return Math.max(t, up);
  }

  private readEndMs(st: Stripe, task: RepairTask): number {
    const sources = task.sources.slice(1).map((id) => this.byId.get(id)!);
    return this.links.readEndMs(this.byId.get(task.repairer)!, sources, st.shardBytes, this.nowMs);
  }

  private startRepair(st: Stripe, task: RepairTask): void {
    st.busy = true;
    this.repairTasks++;
    const repairer = this.byId.get(task.repairer)!;
    const ids = new Set<string>([...task.sources, ...task.moves.map((mv) => mv.to)]);
    const participants = [...ids].map((id) => ({ member: this.byId.get(id)!, epoch: -1 }));
    const t = this.readEndMs(st, task);
    let startMs = Math.max(this.nowMs, repairer.downFreeAtMs);
    for (const src of task.sources.slice(1)) startMs = Math.max(startMs, this.byId.get(src)!.upFreeAtMs);
    if (task.sources.length === 1) startMs = Math.max(this.nowMs, repairer.upFreeAtMs);
    if (task.sources.length > 1) repairer.downFreeAtMs = t;
    for (const src of task.sources.slice(1)) this.byId.get(src)!.upFreeAtMs = t;
    const writeStart = t;
    let end = t;
    for (const mv of task.moves) {
      const to = this.byId.get(mv.to)!;
      to.incomingBytes += st.shardBytes;
      this.usedById[to.id]! += st.shardBytes;
      end = Math.max(end, this.links.reserve(repairer, to, st.shardBytes, writeStart));
    }
    const job: Job = { kind: 'repair', stripe: st, repair: task, participants, aborted: false };
    this.queue.push(Math.min(startMs, end), 'job-start', -1, 0, job);
    this.queue.push(end, 'job', -1, 0, job);
  }

  private startMigration(st: Stripe, task: MigrationTask): void {
    st.busy = true;
    this.migrationTasks++;
    const from = this.byId.get(task.from)!;
    const to = this.byId.get(task.to)!;
    to.incomingBytes += st.shardBytes;
    this.usedById[to.id]! += st.shardBytes;
    const startMs = Math.max(this.nowMs, from.upFreeAtMs, to.downFreeAtMs);
    const end = this.links.reserve(from, to, st.shardBytes, this.nowMs);
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
    this.queue.push(startMs, 'job-start', -1, 0, job);
    this.queue.push(end, 'job', -1, 0, job);
  }

  /** The job's transfers begin: every participant must be online now and stay so until the end. */
  private jobStart(job: Job): void {
    for (const p of job.participants) {
      if (!p.member.online) job.aborted = true;
      p.epoch = p.member.epoch;
    }
  }

  private jobDone(job: Job): void {
    const st = job.stripe;
    st.busy = false;
    const targets = job.repair ? job.repair.moves.map((mv) => mv.to) : [job.migration!.to];
    const ok =
      !job.aborted &&
      st.state === 'stored' &&
      job.participants.every((p) => p.member.epoch === p.epoch && p.member.online);
    for (const id of targets) this.byId.get(id)!.incomingBytes -= st.shardBytes;
    if (!ok) {
      for (const id of targets) this.usedById[id]! -= st.shardBytes;
      if (st.state === 'stored') this.repairDirty.add(st);
      return;
    }
    if (job.repair) {
      const task = job.repair;
      this.repairsCompleted++;
      for (const mv of task.moves) this.place(st, mv.shardIndex, mv.to);
      for (const src of task.sources.slice(1)) this.byId.get(src)!.repairBytesSent += st.shardBytes;
      this.byId.get(task.repairer)!.repairBytesSent += task.moves.length * st.shardBytes;
      this.repairBytes += task.transferBytes;
      this.bucketRepairBytes += task.transferBytes;
    } else {
      const task = job.migration!;
      this.place(st, task.shardIndex, task.to);
      this.byId.get(task.from)!.migrationBytesSent += st.shardBytes;
      this.migrationBytes += st.shardBytes;
      this.bucketMigrationBytes += st.shardBytes;
    }
    this.repairDirty.add(st);
    this.exposureDirty.add(st);
  }

  /** Shard `index` of the stripe now lives on `to`; the old holder's copy is deleted. */
  private place(st: Stripe, index: number, to: string): void {
    const old = st.holders[index];
    if (old !== null && old !== undefined) {
      const om = this.byId.get(old)!;
      if (om.held.delete(st)) this.usedById[old]! -= st.shardBytes;
    }
    st.holders[index] = to;
    this.byId.get(to)!.held.add(st);
    if (!st.exists[index]) {
      st.exists[index] = true;
      st.existCount++;
    }
  }

  // ------------------------------------------------------------------------------------------
  // Score keeping

  private integrateStripes(): void {
    this.stripeMs += this.storedStripes * (this.nowMs - this.storedSinceMs);
    this.storedSinceMs = this.nowMs;
  }

  private availability(): Map<string, Availability> {
    const times = { nowMs: this.nowMs, graceMs: this.config.graceMs, onlineWindowMs: 0 };
    const out = new Map<string, Availability>();
    for (const m of this.members) {
      out.set(
        m.id,
        availabilityOf(
          { id: m.id, lastSeenMs: m.online ? this.nowMs : m.lastSeenMs, removed: m.removed },
          times,
        ),
      );
    }
    return out;
  }

  private refreshExposure(): void {
    const avail = this.availability();
    const f = this.config.agreement.tolerance;
    for (const st of this.exposureDirty) {
      const next =
        st.state === 'stored' && stripeProtection(st, avail, f).exposed ? st.dataShards * st.shardBytes : 0;
      const delta = next - st.exposedBytes;
      if (delta === 0) continue;
      st.exposedBytes = next;
      const owner = this.members[st.ownerIdx]!;
      owner.exposedByteMs += owner.exposedBytes * (this.nowMs - owner.exposedSinceMs);
      owner.exposedSinceMs = this.nowMs;
      owner.exposedBytes += delta;
    }
    this.exposureDirty.clear();
  }

  private sample(): void {
    const s = this.series;
    s.hours.push(round(this.nowMs / HOUR_MS, 3));
    this.members.forEach((m, i) => {
      if (s.exposedBytes[i] === undefined) s.exposedBytes[i] = [];
      s.exposedBytes[i]!.push(m.exposedBytes);
    });
    s.repairBytes.push(this.bucketRepairBytes);
    s.migrationBytes.push(this.bucketMigrationBytes);
    s.storedBytes.push(this.members.reduce((a, m) => a + this.backedUp(m), 0));
    this.bucketRepairBytes = 0;
    this.bucketMigrationBytes = 0;
  }

  private unstore(st: Stripe): void {
    this.storedStripes--;
    this.members[st.ownerIdx]!.backedUpBytes -= st.dataShards * st.shardBytes;
  }

  private backedUp(m: Member): number {
    return m.backedUpBytes;
  }

  private result(): SimResult {
    const c = this.config;
    this.integrateStripes();
    for (const m of this.members) {
      m.exposedByteMs += m.exposedBytes * (this.nowMs - m.exposedSinceMs);
      m.exposedSinceMs = this.nowMs;
    }
    const present = this.present();
    const storedStripes: Stripe[] = [];
    for (const m of this.members) {
      for (let i = m.ownHead; i < m.own.length; i++)
        if (m.own[i]!.state === 'stored') storedStripes.push(m.own[i]!);
    }
    const status = memberStatus({
      members: this.members.map((m) => ({ id: m.id, pledgeBytes: m.pledgeBytes, removed: m.removed })),
      agreement: c.agreement,
      stripes: storedStripes,
    });
    const statusById = new Map(status.map((s) => [s.id, s]));
    const { k, m } = this.initialCode;
    const cap = capacityReport(
      c.pledgesBytes.map((p, i) => ({ id: `m${String(i + 1).padStart(2, '0')}`, capacityBytes: p })),
      k,
      m,
    );
    const liveHolder = (h: string | null) => {
      const hm = h === null ? undefined : this.byId.get(h);
      return hm !== undefined && !hm.removed && !hm.failed;
    };
    const underReplicated = storedStripes.filter((st) => !st.holders.every(liveHolder)).length;
    const backedUpTotal = present.reduce((a, mm) => a + this.backedUp(mm), 0);
    // Repair window: detection (grace, or the replacement if sooner) plus the time to rebuild one
    // member's shards: each lost shard costs k shard transfers, spread over the other members' uploads.
    const heldPerMember =
      storedStripes.reduce((a, st) => a + (st.dataShards + st.parityShards) * st.shardBytes, 0) /
      Math.max(1, present.length);
    const rebuildMs =
      ((heldPerMember * k) /
        (Math.max(1, present.length - 1) * Math.min(c.uploadBytesPerSecond, c.downloadBytesPerSecond))) *
        1000 +
      c.planIntervalMs / 2;
    const repairWindowDays = (Math.min(c.graceMs, c.replacementMs) + rebuildMs) / DAY_MS;
    const closed = closedFormLoss({ dataShards: k, parityShards: m, afr: c.afr, repairWindowDays });
    const stripeYears = this.stripeMs / YEAR_MS;
    return {
      version: 1,
      config: {
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
        shardBytes: this.shardBytes,
        joins: c.joins,
        removals: c.removals,
      },
      members: this.members.map((mm) => {
        const st = statusById.get(mm.id);
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
          backedUpBytes: this.backedUp(mm),
          pledgeUsedBytes: st?.pledgeUsedBytes ?? 0,
          heldShards: mm.held.size,
          firstFullBackupHours:
            mm.firstFullBackupMs === null ? null : round((mm.firstFullBackupMs - mm.joinedAtMs) / HOUR_MS, 3),
          exposedByteHours: Math.round(mm.exposedByteMs / HOUR_MS),
          repairBytesSent: mm.repairBytesSent,
          migrationBytesSent: mm.migrationBytesSent,
        };
      }),
      group: {
        k,
        m,
        shareBytes: cap.shareBytes,
        boundBytes: cap.boundBytes,
        backedUpBytes: backedUpTotal,
        utilisation: cap.boundBytes > 0 ? round(backedUpTotal / cap.boundBytes, 6) : 0,
        storedStripes: storedStripes.length,
        underReplicatedStripes: underReplicated,
        stripesLost: this.stripesLost,
        bytesLost: this.bytesLost,
        stripeYears: round(stripeYears, 6),
        annualLossObserved: stripeYears > 0 ? this.stripesLost / stripeYears : 0,
        closedForm: {
          afr: c.afr,
          repairWindowDays: round(repairWindowDays, 6),
          annualLoss: closed.annualLossRate,
          annualLossProbability: closed.annualLoss,
          formula: closed.formula,
        },
        failures: this.failures,
        joins: this.joins,
        removals: this.removals,
        removalsSkipped: this.removalsSkipped,
        repairTasks: this.repairTasks,
        repairsCompleted: this.repairsCompleted,
        migrationTasks: this.migrationTasks,
        repairBytes: this.repairBytes,
        migrationBytes: this.migrationBytes,
        events: this.events,
      },
      series: this.series,
    };
  }
}

function round(x: number, digits: number): number {
  return Number(x.toFixed(digits));
}
