/**
 * The repair worker (docs/design.md §9): every member runs it; no owner needs to be online.
 *
 * A round: list every current member's shards with their trailer details (`/pb/shard/1` list,
 * paged), hand the listings to the engine's `repairRound` (inventory, plan, exposure, and this
 * member's share within its room), and queue the tasks it gives this member: the repairs it is the repairer of,
 * the migrations it is the new holder of (repair-tasks.ts performs them), and the last step of
 * any migration left unfinished (its shard kept here and still on an out-of-placement member: that
 * member is asked to delete, and re-checks with the engine). Rounds run every
 * `intervalMs`, soon after a membership change, and on demand (control method `repair`); one at a
 * time. Stripes with a task queued or running are busy: the planner leaves them alone.
 *
 * Bounds: `maxTasks` per plan and on this member's queue, `concurrency` tasks at once, a token
 * bucket of `bytesPerSecond` over every transfer, each listing bounded in pages and time.
 */
import {
  type GroupState,
  type Inventory,
  type InventoryStripe,
  type Leftover,
  lastSeenOf,
  type MigrationTask,
  type OwnerExposure,
  ownerMemberId,
  type RepairTask,
  repairRound,
  roundHoldsWhileUnchanged,
} from '../../../engine/index.ts';
import type { PbLibp2p } from '../../net/node.ts';
import { RemoteShardStore, type UploadGate } from '../../net/remote-shard-store.ts';
import { TokenBucket } from '../upload/token-bucket.ts';
import { MemberListings } from './member-listings.ts';
import type { RepairConfig } from './repair-config.ts';
import { performMigration, performRepair, StripeGoneError, type TaskDeps } from './repair-tasks.ts';
import type { CatalogBackend } from './shard-catalog.ts';
import { locationsFrom, type ShardLocations } from './shard-locations.ts';

/** A round after a membership change waits this long for more changes. */
const CHANGE_DEBOUNCE_MS = 1_000;
/** The first round after start (members connect meanwhile). */
const FIRST_ROUND_DELAY_MS = 5_000;
const MAX_ERROR_TEXT = 300;
/**
 * A steady group is planned in full at least this often all the same (every timed round stands
 * on the last plan in between): a bound on any fact the steady check might miss.
 */
const STEADY_REPLAN_MS = 3_600_000;

export interface RepairStatus {
  /** Tasks waiting and running on this member. */
  queued: number;
  running: number;
  repairsDone: number;
  migrationsDone: number;
  /** Shards this member pushed (repairs) or took over (migrations), each acknowledged. */
  shardsMoved: number;
  /** Bytes this member sent and received for repairs and migrations. */
  bytesMoved: number;
  failedTasks: number;
  /** Held shards re-read and verified (the audit), bytes read, and shards found damaged or gone. */
  auditedShards: number;
  auditedBytes: number;
  corruptFound: number;
  rounds: number;
  /** Of those, rounds that stood on the last plan: nothing had changed (`stillSteady`). */
  steadyRounds: number;
  lastRoundAtMs: number | null;
  lastRoundMs: number | null;
  lastError: string | null;
  /** The last plan, for the whole group as this member sees it. */
  lastPlan: {
    stripes: number;
    needRepair: number;
    needMigration: number;
    waiting: number;
    unrecoverable: number;
    settling: number;
    exposedBytes: number;
    mine: number;
  } | null;
}

export interface RoundReport {
  atMs: number;
  /** False when the last plan still held (repair-service.ts, `stillSteady`) and the engine was not asked. */
  planned: boolean;
  /** Members that listed their shards this round (self included). */
  answered: string[];
  /** Of those, the members whose listing was unchanged (its version alone was asked: member-listings.ts). */
  reused: string[];
  silent: string[];
  stripes: number;
  plan: RepairStatus['lastPlan'];
  skipped: Inventory['skipped'];
  /** The engine's exposure per owner, from this round's inventory. */
  exposure: OwnerExposure[];
  queuedNow: { repairs: number; migrations: number };
}

export interface RepairServiceDeps {
  self: string;
  node: PbLibp2p;
  group: () => GroupState | null;
  config: RepairConfig;
  backend: CatalogBackend;
  /** When the daemon last reached each member (group syncs; answered listings are added). */
  lastSeen: Map<string, number>;
  /**
   * When this data directory began keeping sightings (last-seen.ts): a member never reached
   * counts from the later of that and its join (the engine's `lastSeenOf`); default this
   * service's start.
   */
  trackingSinceMs?: number;
  log: (line: string) => void;
  now?: () => number;
  /** Every shard sent to another member waits here too (the member's upload cap and pause). */
  uploadGate?: UploadGate;
}

/** A round with nothing to look at (no group yet, or no agreement): not an error worth a log line. */
export class NothingToRepair extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NothingToRepair';
  }
}

type Queued =
  | { kind: 'repair'; task: RepairTask; stripe: InventoryStripe; online: ReadonlySet<string> }
  | { kind: 'migration'; task: MigrationTask; stripe: InventoryStripe; online: ReadonlySet<string> }
  /** The last step of a migration that did not finish: the old holder deletes its copy. */
  | { kind: 'cleanup'; task: Leftover };

export class RepairService {
  status: RepairStatus = {
    queued: 0,
    running: 0,
    repairsDone: 0,
    migrationsDone: 0,
    shardsMoved: 0,
    bytesMoved: 0,
    failedTasks: 0,
    auditedShards: 0,
    auditedBytes: 0,
    corruptFound: 0,
    rounds: 0,
    steadyRounds: 0,
    lastRoundAtMs: null,
    lastRoundMs: null,
    lastError: null,
    lastPlan: null,
  };
  private readonly now: () => number;
  private readonly startedAtMs: number;
  private readonly bucket: TokenBucket;
  private timer: NodeJS.Timeout | null = null;
  private changeTimer: NodeJS.Timeout | null = null;
  private current: Promise<RoundReport> | null = null;
  private again = false;
  private stopped = false;
  private readonly repairs: Queued[] = [];
  private readonly migrations: Queued[] = [];
  private active = 0;
  /** Stripe id -> tasks queued or running on it. */
  private readonly busy = new Map<string, number>();
  /** Each member's latest listing, whether this round's, and when it was asked. */
  private readonly listings: MemberListings;
  private readonly stores = new Map<string, RemoteShardStore>();
  private membershipKey = '';
  private lastDeferred = 0;
  private locations: ShardLocations | null = null;
  /** The last full plan, while it found nothing to do that time could change. */
  private steady: { state: GroupState; sinceMs: number; report: RoundReport } | null = null;

  constructor(private readonly deps: RepairServiceDeps) {
    this.now = deps.now ?? Date.now;
    this.startedAtMs = this.now();
    this.bucket = new TokenBucket(deps.config.bytesPerSecond);
    this.listings = new MemberListings({
      self: deps.self,
      catalog: deps.backend.catalog,
      remote: (member) => this.remote(member),
      lastSeen: deps.lastSeen,
      now: this.now,
      settleMs: deps.config.settleMs,
    });
  }

  /** Rounds every `intervalMs` (the first soon after start). */
  start(): void {
    this.timer = setInterval(() => void this.runRound().catch(() => undefined), this.deps.config.intervalMs);
    this.timer.unref();
    const first = setTimeout(
      () => void this.runRound().catch(() => undefined),
      Math.min(FIRST_ROUND_DELAY_MS, this.deps.config.intervalMs),
    );
    first.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearInterval(this.timer);
    if (this.changeTimer !== null) clearTimeout(this.changeTimer);
    this.repairs.length = 0;
    this.migrations.length = 0;
  }

  /** After any group change: a round soon if members or pledges changed. */
  groupChanged(state: GroupState): void {
    const key = JSON.stringify([
      state.members.map((m) => [m.id, m.pledgeBytes]),
      state.removed.map((r) => r.id),
    ]);
    if (key === this.membershipKey) return;
    const first = this.membershipKey === '';
    this.membershipKey = key;
    if (first || this.stopped) return;
    if (this.changeTimer !== null) clearTimeout(this.changeTimer);
    this.changeTimer = setTimeout(() => {
      this.changeTimer = null;
      void this.runRound().catch(() => undefined);
    }, CHANGE_DEBOUNCE_MS);
    this.changeTimer.unref();
  }

  /** One round now (or the one running, then one more). */
  runRound(full = false): Promise<RoundReport> {
    if (this.current !== null) {
      this.again = true;
      return this.current;
    }
    this.current = this.round(full)
      .catch((error: unknown) => {
        if (error instanceof NothingToRepair) throw error;
        const text = String((error as Error)?.message ?? error).slice(0, MAX_ERROR_TEXT);
        if (text !== this.status.lastError) this.deps.log(`repair round failed: ${text}`);
        this.status.lastError = text;
        throw error;
      })
      .finally(() => {
        this.current = null;
        if (this.again && !this.stopped) {
          this.again = false;
          setTimeout(() => void this.runRound().catch(() => undefined), 0).unref();
        }
      });
    return this.current;
  }

  /**
   * A round that starts after this call (one already running may predate what the caller saw),
   * planned in full: asked for, it never stands on the last plan.
   */
  async runFreshRound(): Promise<RoundReport> {
    if (this.current !== null) await this.current.catch(() => undefined);
    return this.runRound(true);
  }

  /** Where every listed shard is now (latest listings of current members; null before any). */
  shardLocations(): ShardLocations | null {
    const { kept, version } = this.listings;
    if (kept.size === 0) return null;
    if (this.locations?.version !== version) {
      const { self } = this.deps;
      this.locations = locationsFrom(kept, version, (owner) => ownerMemberId(owner) === self);
    }
    return this.locations;
  }

  private remote(member: string): RemoteShardStore {
    let store = this.stores.get(member);
    if (store === undefined) {
      const gate = this.deps.uploadGate;
      store = new RemoteShardStore(this.deps.node, member, {
        maxInFlight: 4,
        ...(gate ? { uploadGate: gate } : {}),
      });
      this.stores.set(member, store);
    }
    return store;
  }

  /** This round's share of the audit of held shards (a damaged one leaves the listing). */
  private async audit(): Promise<void> {
    const { backend, config } = this.deps;
    try {
      const r = await backend.audit(config.auditBytesPerRound);
      if (r.corrupt > 0) this.deps.log(`audit: ${r.corrupt} of ${r.shards} shards read were damaged or gone`);
    } finally {
      this.status.auditedShards = backend.health.auditedShards;
      this.status.auditedBytes = backend.health.auditedBytes;
      this.status.corruptFound = backend.health.corruptFound;
    }
  }

  private async round(full: boolean): Promise<RoundReport> {
    const state = this.deps.group();
    if (state === null || !state.members.some((m) => m.id === this.deps.self))
      throw new NothingToRepair('this node is not a member of a group: nothing to repair');
    if (state.agreement === null) throw new NothingToRepair('the group has no agreement yet');
    const started = this.now();
    const { config } = this.deps;
    await this.audit();
    const answered = await this.listings.gather(state);
    const nowMs = this.now();
    const held = full ? null : this.stillSteady(state, answered, nowMs);
    if (held !== null) {
      this.status.steadyRounds++;
      this.noteRound(nowMs, started, held.plan);
      return held;
    }
    const round = repairRound({
      self: this.deps.self,
      state,
      nowMs,
      listings: this.listings.kept,
      answered,
      lastSeenMs: (member) => {
        const heard = [this.listings.answeredAtMs.get(member), this.deps.lastSeen.get(member)].filter(
          (ms): ms is number => ms !== undefined,
        );
        const facts = {
          id: member,
          seenMs: heard.length === 0 ? null : Math.max(...heard),
          joinedAtMs: state.members.find((m) => m.id === member)?.sinceMs ?? null,
        };
        const trackingSinceMs = this.deps.trackingSinceMs ?? this.startedAtMs;
        return lastSeenOf(facts, { nowMs, trackingSinceMs, onlineWindowMs: 0 });
      },
      settleMs: config.settleMs,
      graceMs: config.graceMs,
      maxTasks: config.maxTasks,
      roomTasks: Math.max(0, config.maxTasks - this.queuedCount() - this.active),
      busyStripeIds: new Set(this.busy.keys()),
    });
    const { inventory, plan, report, mine } = round;
    const online = new Set(answered);
    for (const task of mine.repairs) {
      this.enqueue({ kind: 'repair', task, stripe: inventory.byId.get(task.stripeId)!, online });
    }
    for (const task of mine.migrations) {
      this.enqueue({ kind: 'migration', task, stripe: inventory.byId.get(task.stripeId)!, online });
    }
    for (const task of mine.cleanups) this.enqueue({ kind: 'cleanup', task });
    const repairs = mine.repairs.length;
    const migrations = mine.migrations.length + mine.cleanups.length;
    this.lastDeferred = plan.deferredStripeIds.length;
    const lastPlan = {
      stripes: plan.counts.stripes,
      needRepair: plan.counts.needRepair,
      needMigration: plan.counts.needMigration,
      waiting: plan.waitingStripeIds.length,
      unrecoverable: plan.unrecoverableStripeIds.length,
      settling: inventory.skipped.settling,
      exposedBytes: report.totals.exposedBytes,
      mine: repairs + migrations,
    };
    this.noteRound(nowMs, started, lastPlan);
    if (repairs + migrations > 0)
      this.deps.log(`repair: queued ${repairs} repairs and ${migrations} migrations`);
    this.pump();
    const all = state.members.map((m) => m.id);
    const out: RoundReport = {
      atMs: nowMs,
      planned: true,
      answered: all.filter((id) => answered.has(id)),
      reused: all.filter(
        (id) => id !== this.deps.self && answered.has(id) && this.listings.kept.get(id)?.reused === true,
      ),
      silent: all.filter((id) => !answered.has(id)),
      stripes: inventory.stripes.length,
      plan: lastPlan,
      skipped: inventory.skipped,
      exposure: [...report.owners],
      queuedNow: { repairs, migrations },
    };
    const quiet = this.queuedCount() === 0 && this.active === 0;
    const steady = quiet && roundHoldsWhileUnchanged(round, out.silent.length === 0);
    this.steady = steady ? { state, sinceMs: nowMs, report: out } : null;
    return out;
  }

  /**
   * The last round's answer, when it holds now (the engine's `roundHoldsWhileUnchanged`): the same
   * group state, every member answering with the listing it had, nothing queued or running, and
   * the last full plan less than STEADY_REPLAN_MS old. Null: plan in full.
   */
  private stillSteady(state: GroupState, answered: ReadonlySet<string>, nowMs: number): RoundReport | null {
    const steady = this.steady;
    if (steady === null || steady.state !== state || nowMs - steady.sinceMs >= STEADY_REPLAN_MS) return null;
    if (this.queuedCount() > 0 || this.active > 0 || !this.listings.allUnchanged(state, answered))
      return null;
    const others = state.members.map((m) => m.id).filter((id) => id !== this.deps.self);
    return { ...steady.report, atMs: nowMs, planned: false, reused: others };
  }

  private noteRound(nowMs: number, started: number, lastPlan: RepairStatus['lastPlan']): void {
    this.status.rounds++;
    this.status.lastRoundAtMs = nowMs;
    this.status.lastRoundMs = this.now() - started;
    this.status.lastPlan = lastPlan;
  }

  private queuedCount(): number {
    return this.repairs.length + this.migrations.length;
  }

  private enqueue(q: Queued): void {
    (q.kind === 'repair' ? this.repairs : this.migrations).push(q);
    // (cleanups wait with the migrations: they finish one)
    this.busy.set(q.task.stripeId, (this.busy.get(q.task.stripeId) ?? 0) + 1);
    this.status.queued = this.queuedCount();
  }

  private release(stripeId: string): void {
    const n = (this.busy.get(stripeId) ?? 1) - 1;
    if (n <= 0) this.busy.delete(stripeId);
    else this.busy.set(stripeId, n);
  }

  /** Starts queued tasks up to `concurrency`, repairs before migrations. */
  private pump(): void {
    while (!this.stopped && this.active < this.deps.config.concurrency) {
      const q = this.repairs.shift() ?? this.migrations.shift();
      if (q === undefined) break;
      this.active++;
      this.status.queued = this.queuedCount();
      this.status.running = this.active;
      void this.perform(q).finally(() => {
        this.active--;
        this.status.running = this.active;
        this.release(q.task.stripeId);
        if (this.active === 0 && this.queuedCount() === 0 && this.lastDeferred > 0 && !this.stopped) {
          this.lastDeferred = 0;
          setTimeout(() => void this.runRound().catch(() => undefined), 0).unref();
        }
        this.pump();
      });
    }
  }

  private async perform(q: Queued): Promise<void> {
    const deps: TaskDeps = {
      self: this.deps.self,
      local: {
        get: (id) => this.deps.backend.get(id),
        putFrom: (from, id, bytes) => this.deps.backend.putFrom(from, id, bytes),
      },
      remote: (member) => this.remote(member),
      bucket: this.bucket,
      online: q.kind === 'cleanup' ? new Set<string>() : q.online,
      onBytes: (bytes) => {
        this.status.bytesMoved += bytes;
      },
    };
    const what =
      q.kind === 'repair'
        ? `repair of ${q.task.stripeId} (${q.task.moves.length} shards)`
        : q.kind === 'migration'
          ? `migration of ${q.task.stripeId} shard ${q.task.shardIndex} from ${q.task.from.slice(-8)}`
          : `removal of the old copy of a shard of ${q.task.stripeId} on ${q.task.extra.slice(-8)}`;
    try {
      if (q.kind === 'cleanup') {
        await this.remote(q.task.extra).deleteMigrated(q.task.shardId, this.deps.self);
        this.status.migrationsDone++;
      } else if (q.kind === 'repair') {
        const r = await performRepair(q.task, q.stripe, deps);
        this.status.repairsDone++;
        this.status.shardsMoved += r.shardsPushed;
      } else {
        const r = await performMigration(q.task, q.stripe, deps);
        this.status.migrationsDone++;
        this.status.shardsMoved += r.shardsPushed;
      }
      this.deps.log(`repair: ${what} done`);
    } catch (error) {
      if (error instanceof StripeGoneError) {
        this.deps.log(`repair: ${what} dropped: ${error.message}`.slice(0, MAX_ERROR_TEXT));
        return;
      }
      this.status.failedTasks++;
      const text = `${what} failed: ${(error as Error).message}`.slice(0, MAX_ERROR_TEXT);
      this.status.lastError = text;
      this.deps.log(`repair: ${text}`);
    }
  }
}
