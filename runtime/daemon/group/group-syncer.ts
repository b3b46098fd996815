/**
 * Keeps this member's group log reconciled with every other member's: a round on a timer, one
 * soon after any change, one with a member as soon as a connection to it opens. Every part is
 * bounded: concurrent syncs, rounds back to back, the wait for a direct link, each exchange
 * (net/group-sync.ts). A member that refuses this node as unauthorized is remembered
 * (`refusedBy`): when all do, this node has been removed.
 */
import { dialPreferringWebRTC } from '../../net/dial.ts';
import { describeError, NetError } from '../../net/errors.ts';
import { syncWithPeer } from '../../net/group-sync.ts';
import type { PbLibp2p } from '../../net/node.ts';
import { Limiter, toPeerId } from '../../net/serve.ts';
import { webrtcPolicyOf } from '../../net/webrtc-policy.ts';
import type { GroupService } from './group-service.ts';

/** Syncs running at once (one per member, up to this many members at a time). */
const MAX_SYNC_CONCURRENCY = 8;
/** How long a sync waits for a free slot before it gives up. */
const SLOT_WAIT_MS = 60_000;
/** Sync rounds one syncAll runs back to back at most (changes during a round ask for another). */
const MAX_SYNC_ROUNDS = 4;
/** How long one sync waits for a direct (WebRTC) link before it syncs over the relayed one. */
const ENSURE_LINK_MS = 20_000;
/** A new connection to a member is synced over after this delay (its streams settle first). */
const ON_CONNECT_DELAY_MS = 200;
/**
 * A timer round leaves out a member reconciled with this one while this log has not changed
 * since, for at most this many periods: every change asks for a round of its own (`soon`, here
 * and on the member that made it), so such a round would find nothing; the periodic one remains
 * (a member removed meanwhile learns it from the refusals).
 */
export const QUIET_ROUND_PERIODS = 10;
/** Refusals within this long of this node's admission: the news has not spread to them yet. */
const FRESH_ADMISSION_MS = 5 * 60_000;

export interface GroupSyncerDeps {
  readonly node: PbLibp2p;
  readonly group: GroupService;
  readonly self: string;
  /** Whether to prefer a WebRTC link over a relayed one (config `webrtc`). */
  readonly webrtc: boolean;
  /** When each member was last reached; a finished sync writes it. */
  readonly lastSeen: Map<string, number>;
  readonly log: (line: string) => void;
  /** Called after every syncAll (relay links and address republishing follow the group). */
  readonly afterRound: () => void;
}

export class GroupSyncer {
  /** Members that refused this node as unauthorized on their last sync (it may have been removed). */
  readonly refusedBy = new Set<string>();
  private readonly limiter = new Limiter(MAX_SYNC_CONCURRENCY);
  private timer: NodeJS.Timeout | null = null;
  private syncing = false;
  private syncAgain = false;
  private stopped = false;
  /** The link attempt under way per member (at most one each). */
  private readonly linking = new Map<string, Promise<void>>();
  /** When each member's log and this one were last reconciled, by either side (members only). */
  private readonly reconciledAtMs = new Map<string, number>();
  /** This log's sync index at that reconciliation (the group service keeps one until a change). */
  private readonly reconciledIndex = new Map<string, unknown>();

  constructor(private readonly deps: GroupSyncerDeps) {}

  /** Rounds every `intervalMs`, and a sync with each member whose connection opens. */
  start(intervalMs: number): void {
    if (!(intervalMs >= 100)) throw new Error(`sync interval ${intervalMs} ms: must be >= 100`);
    const { node, group } = this.deps;
    node.addEventListener('connection:open', (event) => {
      const peer = event.detail.remotePeer.toString();
      if (group.isMember(peer)) setTimeout(() => void this.syncWith(peer), ON_CONNECT_DELAY_MS);
    });
    this.timer = setInterval(
      () => void this.syncAll(intervalMs / 2, QUIET_ROUND_PERIODS * intervalMs),
      intervalMs,
    );
  }

  /**
   * A reconciliation with `peer` finished, opened by either side: the two logs hold the same
   * ops, so the next timer round leaves that member out if this was less than half a period ago
   * (both members' timers would otherwise reconcile every pair twice per period), or while this
   * log has not changed since (QUIET_ROUND_PERIODS).
   */
  reconciled(peer: string): void {
    if (!this.deps.group.isMember(peer)) return;
    this.reconciledAtMs.set(peer, Date.now());
    this.reconciledIndex.set(peer, this.deps.group.syncIndex());
    this.deps.lastSeen.set(peer, Date.now());
    this.refusedBy.delete(peer); // it treats this node as a member
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearInterval(this.timer);
  }

  /** A round soon (after a change made here). */
  soon(): void {
    setTimeout(() => void this.syncAll(), 50);
  }

  /** Reconciles with one member; returns how many new ops arrived (0 on any failure, logged). */
  async syncWith(peer: string): Promise<number> {
    const { node, group, self } = this.deps;
    if (this.stopped || peer === self || !group.isMember(peer)) return 0;
    const release = await this.limiter.acquire(SLOT_WAIT_MS);
    try {
      // A direct link is tried for a bounded time; the sync goes over whatever link exists then.
      await Promise.race([
        this.ensureConnected(peer),
        new Promise((r) => setTimeout(r, ENSURE_LINK_MS).unref()),
      ]);
      const n = await syncWithPeer(node, peer, {
        index: () => group.syncIndex(),
        opBytes: (h) => group.opBytes(h),
        receive: async (_p, ops) => group.receive(ops).added,
      });
      this.reconciled(peer);
      return n;
    } catch (error) {
      this.noteFailure(peer, error);
      return 0;
    } finally {
      release();
    }
  }

  private noteFailure(peer: string, error: unknown): void {
    if (error instanceof NetError && error.remote && error.code === 'unauthorized') {
      this.refusedBy.add(peer);
      const others = (this.deps.group.state?.members.length ?? 1) - 1;
      if (others > 0 && this.refusedBy.size >= others) {
        const admittedMs = this.deps.group.state?.members.find((m) => m.id === this.deps.self)?.sinceMs;
        const agoMs = admittedMs === undefined ? null : Date.now() - admittedMs;
        // Right after an admission the others may not have its op yet: they refuse until they do.
        this.deps.log(
          agoMs !== null && agoMs < FRESH_ADMISSION_MS
            ? `every other member refuses this node for now: it was admitted ${Math.max(0, Math.round(agoMs / 1000))} s ago and the admission has not reached them yet`
            : 'every other member refuses this node: it has probably been removed from the group',
        );
      }
    }
    if (!this.stopped) this.deps.log(`sync with ${peer.slice(-8)} failed: ${describeError(error)}`);
  }

  /**
   * A member behind NAT: prefer a WebRTC link (retried, with backoff) over the relayed one. One
   * attempt per member at a time (the syncs that ask meanwhile wait for it), none while its
   * WebRTC is paused after failures (net/webrtc-policy.ts): the relayed link is used then.
   */
  private ensureConnected(peer: string): Promise<void> {
    const running = this.linking.get(peer);
    if (running !== undefined) return running;
    const linking = this.link(peer).finally(() => this.linking.delete(peer));
    this.linking.set(peer, linking);
    return linking;
  }

  private async link(peer: string): Promise<void> {
    const { node, log } = this.deps;
    const id = toPeerId(peer);
    if (node.getConnections(id).some((c) => c.limits === undefined)) return;
    if (webrtcPolicyOf(node)?.allowed(peer) === false) return;
    const known = await node.peerStore.get(id).catch(() => null);
    const addrs = (known?.addresses ?? []).map((a) => a.multiaddr);
    if (!this.deps.webrtc || !addrs.some((a) => a.toString().includes('/webrtc'))) return;
    const withPeer = addrs.map((a) =>
      a.getComponents().at(-1)?.name === 'p2p' ? a : a.encapsulate(`/p2p/${peer}`),
    );
    await dialPreferringWebRTC(node, withPeer, {
      attempts: 2,
      attemptTimeoutMs: 8_000,
      log: (l) => log(`${peer.slice(-8)}: ${l}`),
    }).then(
      (r) => log(`${peer.slice(-8)}: linked over ${r.transport}`),
      (e: unknown) => log(`cannot reach ${peer.slice(-8)} directly: ${describeError(e)}`),
    );
  }

  /**
   * One round with every other member; a round already running runs once more instead. The
   * timer's rounds pass `skipRecentMs`: members reconciled with this one that recently are left
   * out, and `quietMs`: so are those reconciled within it while this log did not change since
   * (any change asks for a full round, `soon`).
   */
  async syncAll(skipRecentMs = 0, quietMs = 0): Promise<void> {
    if (this.stopped) return;
    if (this.syncing) {
      this.syncAgain = true;
      return;
    }
    this.syncing = true;
    try {
      // Changes during a round ask for another, a bounded number of times: a group that keeps
      // changing (or a member that keeps failing slowly) is left to the next timer round.
      let rounds = 0;
      do {
        this.syncAgain = false;
        rounds++;
        const members = (this.deps.group.state?.members ?? []).map((m) => m.id);
        for (const id of this.reconciledAtMs.keys())
          if (!members.includes(id)) {
            this.reconciledAtMs.delete(id);
            this.reconciledIndex.delete(id);
          }
        const nowMs = Date.now();
        const since = nowMs - (rounds === 1 ? skipRecentMs : 0);
        const quietSince = nowMs - (rounds === 1 ? quietMs : 0);
        const index = this.deps.group.syncIndex();
        const skip = (id: string): boolean => {
          const atMs = this.reconciledAtMs.get(id) ?? -Infinity;
          return atMs > since || (atMs > quietSince && this.reconciledIndex.get(id) === index);
        };
        const peers = members.filter((id) => id !== this.deps.self && !skip(id));
        await Promise.allSettled(peers.map((p) => this.syncWith(p)));
      } while (this.syncAgain && !this.stopped && rounds < MAX_SYNC_ROUNDS);
      this.deps.afterRound();
    } finally {
      this.syncing = false;
    }
  }
}
