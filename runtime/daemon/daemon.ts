/**
 * pb-node, the daemon: composes the libp2p node with the group, join, shard and head services
 * and the control socket (js-libp2p style: each service registers its handlers and subscribes to
 * events; the daemon owns start and stop order).
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import type { Server } from 'node:net';
import { isAbsolute, join } from 'node:path';
import type { PeerId } from '@libp2p/interface';
import { multiaddr } from '@multiformats/multiaddr';
import {
  announceable,
  deriveMemberKeys,
  type GroupMember,
  type GroupState,
  inviteTokenHash,
  MAX_ADDRESS_BYTES,
  MAX_ADDRESSES,
  MAX_INVITE_TTL_MS,
  memberIdFromPublicKey,
  toHex,
} from '../../engine/index.ts';
import { dialPreferringWebRTC } from '../net/dial.ts';
import { describeError, NetError } from '../net/errors.ts';
import { serveGroupSync, syncWithPeer } from '../net/group-sync.ts';
import { serveHeads } from '../net/head-protocol.ts';
import { type JoinOutcome, requestJoin, serveJoin } from '../net/join.ts';
import { libp2pKeyFromSeed } from '../net/keys.ts';
import { createPbNode, type PbLibp2p } from '../net/node.ts';
import { RemoteShardStore } from '../net/remote-shard-store.ts';
import { Limiter, toPeerId } from '../net/serve.ts';
import { serveShards } from '../net/shard-protocol.ts';
import { linkKind, watchWebRTCLinks } from '../net/webrtc-probe.ts';
import { PledgedShardStore } from '../store/pledged-shard-store.ts';
import { AddressPublisher, learnRelayRoutes } from './address-publisher.ts';
import { AlertMonitor } from './alerts/monitor.ts';
import { BackupService } from './backup-service.ts';
import { ChangeWatcher } from './change-watcher.ts';
import { loadConfig, type NodeConfig, paths, readSecret } from './config.ts';
import { ControlError, type ControlMethod, startControlServer } from './control.ts';
import { rotateLog, writeLog } from './daemon-log.ts';
import { deleteCheck } from './delete-check.ts';
import { GroupService } from './group-service.ts';
import { HeadStore } from './head-store.ts';
import { decodeInviteCode, encodeInviteCode } from './invite-code.ts';
import { JoinDesk, makeJoinRequest } from './join-desk.ts';
import { LAST_SEEN_FILE, LastSeenFile, SAVE_EVERY_MS as SAVE_SIGHTINGS_EVERY_MS } from './last-seen.ts';
import { announcedMultiaddrs } from './network-directory.ts';
import { acquirePidLock, type PidLock } from './pid-lock.ts';
import { RelayLinks, relayPeerId } from './relay-links.ts';
import { RepairService } from './repair-service.ts';
import { scheduleIntervalMs } from './schedule.ts';
import { CatalogBackend, ShardCatalog } from './shard-catalog.ts';
import { repairProgressFrom } from './status-report.ts';
import { StatusService } from './status-service.ts';
import { parseUploadConfig } from './upload-config.ts';
import { uploadMethods } from './upload-control.ts';
import { UploadGovernor } from './upload-governor.ts';

const DEFAULT_INVITE_TTL_MS = 24 * 3600 * 1000;
/** After start, the listen addresses settle before they are compared with the group's. */
const REPUBLISH_DELAY_MS = 2_000;
const MAX_SYNC_CONCURRENCY = 8;
/** Attempts to reach the inviter (a stream that broke while waiting counts as one). */
const MAX_JOIN_DIAL_ATTEMPTS = 5;
/** Bound on libp2p's own stop (WebRTC links can hold it); the process exits regardless (shutdown.ts). */
const NODE_STOP_BOUND_MS = 4_000;

export interface DaemonState {
  pledgeBytes: number;
}

/** Sync rounds one syncAll runs back to back at most (changes during a round ask for another). */
const MAX_SYNC_ROUNDS = 4;
/** How long an approved join waits for its first sync with the group before answering. */
const JOIN_SYNC_WAIT_MS = 10_000;

export class Daemon {
  private control: Server | null = null;
  private watcher: ChangeWatcher | null = null;
  private timer: NodeJS.Timeout | null = null;
  private syncing = false;
  private syncAgain = false;
  private stopped = false;
  /** When each other member was last reached; persisted (last-seen.ts), loaded at start. */
  readonly lastSeen: Map<string, number>;
  private readonly sightings: LastSeenFile;
  private sightingsTimer: NodeJS.Timeout | null = null;
  /** Members that refused this node as unauthorized on their last sync (it may have been removed). */
  readonly refusedBy = new Set<string>();
  private readonly syncLimiter = new Limiter(MAX_SYNC_CONCURRENCY);
  readonly startedAtMs = Date.now();
  /** The status report, its history and the dashboard (status-service.ts). */
  private statusService: StatusService | null = null;
  private logFd: number;
  /** The owner's backups onto the group (backup-service.ts). */
  readonly backups: BackupService;
  /** Alert rules and their mails (alerts/monitor.ts). */
  readonly alerts: AlertMonitor;
  /** What `/pb/shard/1` serves: the store, its catalog, authorized deletes. */
  readonly shards: CatalogBackend;
  /** The repair worker (repair-service.ts). */
  readonly repair: RepairService;
  /** The upload cap and pause over backups and repairs (upload-governor.ts). */
  readonly upload: UploadGovernor;
  readonly stoppedPromise: Promise<void>;
  private resolveStopped!: () => void;
  /** Settles as soon as a stop begins (shutdown.ts bounds the time from there to the exit). */
  readonly stopRequested: Promise<void>;
  private resolveStopRequested!: () => void;
  /** The configured relays, dialed again whenever their link is gone (relay-links.ts). */
  readonly relays: RelayLinks;
  private unwatchWebRTC: () => void = () => {};
  /** This member's addresses in the group log, kept current (address-publisher.ts). */
  private readonly publisher: AddressPublisher;

  private constructor(
    readonly dir: string,
    readonly config: NodeConfig,
    readonly self: string,
    readonly node: PbLibp2p,
    readonly group: GroupService,
    readonly store: PledgedShardStore,
    readonly heads: HeadStore,
    private readonly keys: ReturnType<typeof deriveMemberKeys>,
    logFd: number,
    private readonly pidLock: PidLock,
  ) {
    this.logFd = logFd;
    this.relays = new RelayLinks(
      node,
      config.relays,
      (line) => this.log(line),
      () => this.group.isMember(this.self),
    );
    this.sightings = new LastSeenFile(join(dir, LAST_SEEN_FILE), Date.now(), (t) =>
      this.log(`warning: ${t}`),
    );
    this.lastSeen = this.sightings.seen;
    this.upload = new UploadGovernor(parseUploadConfig(config.upload, config.uploadWindows));
    this.backups = new BackupService({
      uploadGate: this.upload,
      dataDir: dir,
      node,
      keys,
      secret: readSecret(dir),
      self,
      directories: () => config.directories,
      group: () => group.state,
      log: (line) => this.log(line),
      emptyFraction: () => config.emptyFraction,
    });
    this.alerts = new AlertMonitor({
      dataDir: dir,
      config,
      self,
      log: (line) => this.log(line),
      group: () => group.state,
      backupStatus: () => this.backups.status,
      storeReport: () => store.report(),
      report: async () => (this.statusService === null ? null : this.statusService.report()),
    });
    this.shards = new CatalogBackend(
      store,
      new ShardCatalog(store),
      deleteCheck({
        self,
        group: () => group.state,
        memberHas: (member, id) => new RemoteShardStore(node, member).has(id),
      }),
      (line) => this.log(`audit: ${line}`),
    );
    this.repair = new RepairService({
      uploadGate: this.upload,
      self,
      node,
      group: () => group.state,
      config: config.repair,
      backend: this.shards,
      lastSeen: this.lastSeen,
      trackingSinceMs: this.sightings.trackingSinceMs,
      log: (line) => this.log(line),
    });
    this.publisher = new AddressPublisher(
      group,
      self,
      () => this.addresses(),
      (line) => this.log(line),
      MAX_ADDRESSES,
    );
    this.stoppedPromise = new Promise((r) => {
      this.resolveStopped = r;
    });
    this.stopRequested = new Promise((r) => {
      this.resolveStopRequested = r;
    });
  }

  static async start(dir: string): Promise<Daemon> {
    const config = loadConfig(dir);
    const p = paths(dir);
    const keys = deriveMemberKeys(readSecret(dir));
    const self = memberIdFromPublicKey(keys.publicKey);
    const pidLock = acquirePidLock(dir);
    rotateLog(p.log);
    const logFd = fs.openSync(p.log, 'a', 0o600);
    const log = (line: string): void => writeLog(logFd, line);
    const state = readState(dir, config);
    const { service: group, warnings } = GroupService.open(p.group, self, keys);
    warnings.forEach(log);
    const reserveRoot = isAbsolute(config.reserveDir) ? config.reserveDir : join(dir, config.reserveDir);
    const store = await PledgedShardStore.open(reserveRoot, {
      pledgeBytes: state.pledgeBytes,
      isMember: (id) => group.isMember(id),
      onWarning: (t) => log(`warning: ${t}`),
    });
    const heads = new HeadStore(
      p.heads,
      (owner) => group.isMember(owner),
      (t) => log(`warning: ${t}`),
    );
    for (const relay of config.relays) {
      const id = relayPeerId(relay);
      if (id !== null) group.trustedPeers.add(id);
    }
    const node = await createPbNode({
      privateKey: await libp2pKeyFromSeed(keys.signingSeed, keys.publicKey),
      listen: config.listen,
      relayServer: config.relayServer,
      webrtc: config.webrtc,
      iceServers: config.iceServers,
      ...(config.webrtcBindAddress === null ? {} : { webrtcBindAddress: config.webrtcBindAddress }),
      ...(config.announce.length > 0 ? { announce: config.announce } : {}),
      policy: () => group.policy(),
      log,
    });
    const daemon = new Daemon(dir, config, self, node, group, store, heads, keys, logFd, pidLock);
    await daemon.wire();
    return daemon;
  }

  log(line: string): void {
    writeLog(this.logFd, line);
  }

  private async wire(): Promise<void> {
    const onError = (protocol: string, remote: string, error: unknown): void =>
      this.log(`${protocol} from ${remote.slice(-8)}: ${(error as Error)?.message ?? String(error)}`);
    const policy = () => this.group.policy();
    await serveGroupSync(
      this.node,
      policy,
      {
        index: () => this.group.syncIndex(),
        opBytes: (h) => this.group.opBytes(h),
        receive: async (peer, ops) => {
          this.lastSeen.set(peer, Date.now());
          return this.group.receive(ops).added;
        },
      },
      onError,
    );
    await serveJoin(
      this.node,
      policy,
      new JoinDesk({
        group: this.group,
        self: this.self,
        log: (line) => this.log(line),
        joinerLeft: () => this.onGroupChange(this.group.state!),
      }),
      onError,
    );
    await serveShards(this.node, policy, this.shards, { onError });
    await serveHeads(this.node, policy, this.heads, onError);
    this.group.on('change', (state) => this.onGroupChange(state));
    this.group.on('change', (state) => this.repair.groupChanged(state));
    if (this.group.state !== null) this.repair.groupChanged(this.group.state);
    this.repair.start();
    this.node.addEventListener('connection:open', (event) => {
      const peer = event.detail.remotePeer.toString();
      if (this.group.isMember(peer)) setTimeout(() => void this.syncWith(peer), 200);
    });
    this.unwatchWebRTC = watchWebRTCLinks(this.node, (line) => this.log(line));
    this.relays.dialMissing();
    this.relays.start();
    if (this.group.state !== null) this.onGroupChange(this.group.state);
    this.timer = setInterval(() => void this.syncAll(), this.config.syncIntervalMs);
    setTimeout(() => this.publisher.check(), REPUBLISH_DELAY_MS).unref();
    // A relay reservation made or lost, a new listen address: republish if the group must know.
    this.node.addEventListener('self:peer:update', () => this.publisher.check());
    this.sightingsTimer = setInterval(() => this.saveSightings(false), SAVE_SIGHTINGS_EVERY_MS);
    this.sightingsTimer.unref();
    const backupEveryMs = scheduleIntervalMs(this.config.schedule);
    if (backupEveryMs !== null) this.backups.startSchedule(backupEveryMs);
    this.backups.resumeSoon(2000);
    this.alerts.start();
    if (this.config.watchDebounceMs > 0 && this.config.directories.length > 0) {
      this.watcher = new ChangeWatcher({
        debounceMs: this.config.watchDebounceMs,
        maxWaitMs: Math.max(this.config.watchDebounceMs, 10 * this.config.watchDebounceMs),
        ignore: [this.dir],
        onSettled: () => this.backups.requestRun(),
        onError: (e) => this.log(`watching the directories: ${e.message}`),
      });
      await this.watcher.start(this.config.directories);
    }
    this.statusService = await StatusService.start({
      dataDir: this.dir,
      self: this.self,
      name: this.config.name,
      startedAtMs: this.startedAtMs,
      trackingSinceMs: this.sightings.trackingSinceMs,
      shardLocations: () => this.repair.shardLocations(),
      config: this.config.dashboard,
      group: () => this.group.state,
      isMember: () => this.group.selfIsMember,
      lastSeen: this.lastSeen,
      connected: (id) => this.node.getConnections(toPeerId(id)).length > 0,
      store: () => this.store.report(),
      backup: () => this.backups.status,
      interrupted: () => this.backups.interrupted(),
      directories: () => this.config.directories,
      usageOf: (id) => new RemoteShardStore(this.node, id).usage(),
      repair: () => repairProgressFrom(this.repair.status, this.config.repair.bytesPerSecond),
      graceMs: this.config.repair.graceMs,
      upload: () => ({ state: this.upload.state(), windows: this.upload.schedule.windows }),
      decide: (who, kind) => this.decide(who, kind),
      log: (line) => this.log(line),
    });
    this.control = await startControlServer(paths(this.dir).socket, this.methods(), (e) =>
      this.log(`control: ${String(e)}`),
    );
    this.log(`pb-node ${this.self} started; listening on ${this.addresses().join(' ') || '(none yet)'}`);
  }

  /** Writes the sightings (at most once a minute unless `force`; only current members). */
  private saveSightings(force: boolean): void {
    const state = this.group.state;
    this.sightings.save(Date.now(), state === null ? null : new Set(state.members.map((m) => m.id)), force);
  }

  /** The addresses others can use (engine/addresses.ts: no loopback unless nothing else). */
  addresses(): string[] {
    return announceable(this.node.getMultiaddrs().map((a) => a.toString()))
      .filter((a) => a.length <= MAX_ADDRESS_BYTES)
      .slice(0, MAX_ADDRESSES);
  }

  /** New members' addresses go to the peer store; peers that lost access are cut off at once. */
  private onGroupChange(state: GroupState): void {
    for (const m of state.members) {
      if (m.id === this.self) continue;
      const addrs = announcedMultiaddrs(m);
      if (addrs.length > 0)
        void this.node.peerStore.merge(toPeerId(m.id), { multiaddrs: addrs }).catch(() => undefined);
    }
    learnRelayRoutes(this.node, state, this.self, this.config.relays, this.group.trustedPeers);
    const policy = this.group.policy();
    for (const conn of this.node.getConnections()) {
      const peer = conn.remotePeer.toString();
      if (!policy.mayConnect(peer)) {
        this.log(`closing the connection to ${peer}: no longer allowed`);
        void conn.close().catch(() => conn.abort(new Error('access revoked')));
      }
    }
    // A relay that refused this node before it was a member accepts it now: ask again.
    this.relays.dialMissing();
    this.scheduleSync();
  }

  private scheduleSync(): void {
    setTimeout(() => void this.syncAll(), 50);
  }

  async syncWith(peer: string): Promise<number> {
    if (this.stopped || peer === this.self || !this.group.isMember(peer)) return 0;
    const release = await this.syncLimiter.acquire(60_000);
    try {
      await this.ensureConnected(peer);
      const n = await syncWithPeer(this.node, peer, {
        index: () => this.group.syncIndex(),
        opBytes: (h) => this.group.opBytes(h),
        receive: async (_p, ops) => this.group.receive(ops).added,
      });
      this.lastSeen.set(peer, Date.now());
      this.refusedBy.delete(peer);
      return n;
    } catch (error) {
      if (error instanceof NetError && error.remote && error.code === 'unauthorized') {
        this.refusedBy.add(peer);
        const others = (this.group.state?.members.length ?? 1) - 1;
        if (others > 0 && this.refusedBy.size >= others) {
          this.log('every other member refuses this node: it has probably been removed from the group');
        }
      }
      if (!this.stopped) this.log(`sync with ${peer.slice(-8)} failed: ${describeError(error)}`);
      return 0;
    } finally {
      release();
    }
  }

  /** A member behind NAT: prefer a WebRTC link (retried, with backoff) over the relayed one. */
  private async ensureConnected(peer: string): Promise<void> {
    const id = toPeerId(peer);
    if (this.node.getConnections(id).some((c) => c.limits === undefined)) return;
    const known = await this.node.peerStore.get(id).catch(() => null);
    const addrs = (known?.addresses ?? []).map((a) => a.multiaddr);
    if (!this.config.webrtc || !addrs.some((a) => a.toString().includes('/webrtc'))) return;
    const withPeer = addrs.map((a) =>
      a.getComponents().at(-1)?.name === 'p2p' ? a : a.encapsulate(`/p2p/${peer}`),
    );
    await dialPreferringWebRTC(this.node, withPeer, {
      attempts: 2,
      attemptTimeoutMs: 8_000,
      log: (l) => this.log(`${peer.slice(-8)}: ${l}`),
    }).then(
      (r) => this.log(`${peer.slice(-8)}: linked over ${r.transport}`),
      (e: unknown) => this.log(`cannot reach ${peer.slice(-8)} directly: ${describeError(e)}`),
    );
  }

  async syncAll(): Promise<void> {
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
        const peers = (this.group.state?.members ?? []).map((m) => m.id).filter((id) => id !== this.self);
        await Promise.allSettled(peers.map((p) => this.syncWith(p)));
      } while (this.syncAgain && !this.stopped && rounds < MAX_SYNC_ROUNDS);
      this.relays.dialMissing();
      this.publisher.check();
    } finally {
      this.syncing = false;
    }
  }

  // --- control methods ------------------------------------------------------------------

  private methods(): Record<string, ControlMethod> {
    const state = (): GroupState => {
      const s = this.group.state;
      if (s === null)
        throw new ControlError(
          'no-group',
          'this node has no group yet: run `pb-node create` to found one or `pb-node join <code>`',
        );
      return s;
    };
    const num = (v: unknown, what: string): number => {
      if (typeof v !== 'number' || !Number.isFinite(v))
        throw new ControlError('bad-argument', `${what} must be a number`);
      return v;
    };
    return {
      status: async () => ({
        id: this.self,
        name: this.config.name,
        groupId: this.group.groupId,
        member: this.group.selfIsMember,
        members: this.group.state?.members.length ?? 0,
        addresses: this.addresses(),
        store: await this.store.report(),
        refusedBy: [...this.refusedBy],
        backup: this.backups.status,
        repair: this.repair.status,
        upload: this.upload.state(),
        pid: process.pid,
      }),
      ...uploadMethods(this.upload, (line) => this.log(line)),
      report: async () => {
        if (this.statusService === null) throw new ControlError('starting', 'the daemon is still starting');
        return this.statusService.report();
      },
      forget: async (params) => {
        const policy: Record<string, number> = {};
        for (const key of ['keepLast', 'keepDaily', 'keepWeekly'] as const) {
          if (params[key] === undefined) continue;
          const n = num(params[key], key);
          if (!Number.isInteger(n) || n < 0)
            throw new ControlError('bad-argument', `${key} must be a whole number`);
          policy[key] = n;
        }
        return this.backups.forget(policy, params.prune === true);
      },
      backup: async (params, progress) =>
        this.backups.run({ allowEmpty: params.allowEmpty === true, onProgress: progress }),
      create: async (params) => {
        const agreement = {
          ratio: num(params.ratio ?? 1.5, 'ratio'),
          tolerance: num(params.tolerance ?? 1, 'tolerance'),
        };
        const groupId = this.group.create(agreement, this.config.name, this.addresses());
        if (this.store.pledgeBytes > 0)
          this.group.author({ kind: 'pledge', pledgeBytes: this.store.pledgeBytes });
        return { groupId };
      },
      invite: async (params) => {
        state();
        const ttl = num(params.expiresMs ?? DEFAULT_INVITE_TTL_MS, 'expiresMs');
        if (ttl <= 0 || ttl > MAX_INVITE_TTL_MS)
          throw new ControlError('bad-argument', 'an invite lasts from 1 ms to 30 days');
        const token = randomBytes(32);
        const expiresAtMs = Date.now() + Math.round(ttl);
        this.group.author({ kind: 'invite', tokenHash: inviteTokenHash(toHex(token)), expiresAtMs });
        return {
          code: encodeInviteCode({ inviter: this.self, addresses: this.addresses(), token, expiresAtMs }),
          expiresAtMs,
        };
      },
      join: async (params, progress) =>
        this.join(String(params.code ?? ''), num(params.waitMs ?? 600_000, 'waitMs'), progress),
      requests: async () => state().pending.map((p) => ({ ...p, mine: p.invitedBy === this.self })),
      approve: async (params) => this.decide(String(params.who ?? ''), 'approve'),
      reject: async (params) => this.decide(String(params.who ?? ''), 'reject'),
      remove: async (params) => {
        const s = state();
        const target = resolveWho(
          String(params.who ?? ''),
          [...s.members, ...s.pending.map((p) => ({ id: p.candidate, name: p.name }))],
          this.self,
        );
        this.group.author({ kind: 'remove', member: target.id });
        await this.syncAll();
        return { removed: target.id, name: target.name };
      },
      members: async () =>
        state().members.map((m: GroupMember) => ({
          id: m.id,
          name: m.name,
          pledgeBytes: m.pledgeBytes,
          sinceMs: m.sinceMs,
          addresses: m.addresses,
          self: m.id === this.self,
          lastSeenMs: m.id === this.self ? Date.now() : (this.lastSeen.get(m.id) ?? null),
          connected: this.node.getConnections(toPeerId(m.id) as PeerId).length > 0,
          link: m.id === this.self ? null : linkKind(this.node.getConnections(toPeerId(m.id))),
        })),
      pledge: async (params) => {
        const bytes = num(params.bytes, 'bytes');
        try {
          await this.store.setPledge(bytes);
        } catch (error) {
          throw new ControlError('pledge-refused', (error as Error).message);
        }
        writeState(this.dir, { pledgeBytes: bytes });
        if (this.group.selfIsMember) this.group.author({ kind: 'pledge', pledgeBytes: bytes });
        return this.store.report();
      },
      agreement: async (params) => {
        state();
        const agreement = {
          ratio: num(params.ratio, 'ratio'),
          tolerance: num(params.tolerance, 'tolerance'),
        };
        this.group.author({ kind: 'agree', agreement });
        return agreement;
      },
      alerts: async () => this.alerts.report(),
      alertsTest: async () => {
        try {
          return await this.alerts.sendTest();
        } catch (error) {
          const e = error as { code?: string; message: string };
          throw new ControlError(e.code ?? 'mail', e.message);
        }
      },
      alertsCheck: async () => ({ transitions: await this.alerts.check() }),
      repair: async () => this.repair.runRound(),
      sync: async () => {
        await this.syncAll();
        return { ops: this.group.log.size };
      },
      stop: async () => {
        setTimeout(() => void this.stop(), 50);
        return { stopping: true };
      },
    };
  }

  private async decide(who: string, kind: 'approve' | 'reject'): Promise<unknown> {
    const s = this.group.state;
    if (s === null) throw new ControlError('no-group', 'this node has no group');
    const p = resolveWho(
      who,
      s.pending.map((r) => ({ id: r.candidate, name: r.name, request: r.request, invitedBy: r.invitedBy })),
      null,
    );
    if (p.invitedBy !== this.self)
      throw new ControlError(
        'not-inviter',
        `only the inviter (${p.invitedBy}) decides on ${p.name}'s request`,
      );
    this.group.author({ kind, candidate: p.id, request: p.request });
    void this.syncAll();
    return { [kind === 'approve' ? 'approved' : 'rejected']: p.id, name: p.name };
  }

  private async join(
    code: string,
    waitMs: number,
    progress: (event: string, data: unknown) => void,
  ): Promise<unknown> {
    if (this.group.groupId !== null)
      throw new ControlError('has-group', 'this node already belongs to a group');
    let invite: ReturnType<typeof decodeInviteCode>;
    try {
      invite = decodeInviteCode(code, Date.now());
    } catch (error) {
      throw new ControlError('bad-invite', (error as Error).message);
    }
    const addrs = invite.addresses.flatMap((a) => {
      try {
        return [multiaddr(a)];
      } catch {
        return [];
      }
    });
    const inviter = toPeerId(invite.inviter);
    await this.node.peerStore.merge(inviter, {
      multiaddrs: addrs.map((a) => (a.getComponents().at(-1)?.name === 'p2p' ? a.decapsulateCode(421) : a)),
    });
    progress('connecting', { inviter: invite.inviter });
    const started = Date.now();
    let result: { outcome: JoinOutcome; groupId: string; ops: Uint8Array[] } | null = null;
    for (let attempt = 0; attempt < MAX_JOIN_DIAL_ATTEMPTS && result === null; attempt++) {
      try {
        result = await requestJoin(
          this.node,
          invite.inviter,
          invite.token,
          Math.max(1000, waitMs - (Date.now() - started)),
          async (offer) =>
            makeJoinRequest(
              this.keys,
              this.self,
              offer,
              invite.token,
              { name: this.config.name, addresses: this.addresses() },
              Date.now(),
            ),
          () => progress('waiting', { sinceMs: Date.now() - started }),
        );
      } catch (error) {
        const e = error as NetError;
        if (e instanceof NetError && e.remote && e.code !== 'timeout')
          throw new ControlError(e.code, e.message);
        if (Date.now() - started > waitMs)
          throw new ControlError('timeout', `no decision within ${waitMs} ms: ${e.message}`);
        progress('retrying', { reason: e.message });
        await new Promise((r) => setTimeout(r, Math.min(5000, 500 * 2 ** Math.min(attempt, 4))));
      }
    }
    if (result === null) throw new ControlError('timeout', 'no decision');
    if (result.outcome !== 'approved') return { outcome: result.outcome };
    this.group.adopt(result.groupId, result.ops);
    if (!this.group.selfIsMember)
      throw new ControlError('internal', 'approved, but the log does not make this node a member');
    if (this.store.pledgeBytes > 0)
      this.group.author({ kind: 'pledge', pledgeBytes: this.store.pledgeBytes });
    // Tell the others at once, but answer the joiner within a bound: a member that cannot be
    // reached must not hold the join (the timer's rounds carry on).
    await Promise.race([this.syncAll(), new Promise((r) => setTimeout(r, JOIN_SYNC_WAIT_MS).unref())]);
    return { outcome: 'approved', groupId: result.groupId, members: this.group.state?.members.length };
  }

  async stop(): Promise<void> {
    if (this.stopped) return this.stoppedPromise;
    this.stopped = true;
    this.resolveStopRequested();
    this.log('pb-node stopping');
    if (this.timer) clearInterval(this.timer);
    this.relays.stop();
    this.unwatchWebRTC();
    if (this.sightingsTimer) clearInterval(this.sightingsTimer);
    this.saveSightings(true);
    this.backups.stopSchedule();
    this.alerts.stop();
    this.repair.stop();
    this.publisher.stop();
    await this.watcher?.stop();
    await this.statusService?.stop();
    await new Promise<void>((r) => (this.control ? this.control.close(() => r()) : r()));
    try {
      fs.unlinkSync(paths(this.dir).socket);
    } catch {}
    const nodeStopped = await Promise.race([
      Promise.resolve(this.node.stop()).then(
        () => true,
        () => true,
      ),
      new Promise<false>((r) => setTimeout(() => r(false), NODE_STOP_BOUND_MS).unref()),
    ]);
    if (!nodeStopped) this.log(`libp2p did not stop within ${NODE_STOP_BOUND_MS} ms; going on`);
    this.group.close();
    this.log(`pb-node stopped (the lock ${this.pidLock.file} goes with the process)`);
    fs.closeSync(this.logFd);
    this.resolveStopped();
  }
}

interface Who {
  id: string;
  name: string;
}

/** Finds one of `list` by exact id, id prefix (6+ characters) or name; friendly when ambiguous. */
export function resolveWho<T extends Who>(who: string, list: T[], _self: string | null): T {
  const w = who.trim();
  if (w === '') throw new ControlError('bad-argument', 'name a member or candidate (name or id)');
  const exact = list.filter((m) => m.id === w);
  if (exact.length > 0) return exact[0]!;
  const byName = list.filter((m) => m.name.toLowerCase() === w.toLowerCase());
  const byPrefix = w.length >= 6 ? list.filter((m) => m.id.startsWith(w) || m.id.endsWith(w)) : [];
  const found = [...new Map([...byName, ...byPrefix].map((m) => [m.id, m])).values()];
  if (found.length === 1) return found[0]!;
  if (found.length === 0) throw new ControlError('not-found', `nobody called "${w}" here`);
  throw new ControlError(
    'ambiguous',
    `"${w}" is ambiguous: ${found.map((m) => `${m.name} (${m.id})`).join(', ')}; use the id`,
  );
}

function readState(dir: string, config: NodeConfig): DaemonState {
  try {
    const s = JSON.parse(fs.readFileSync(paths(dir).state, 'utf8')) as DaemonState;
    if (Number.isSafeInteger(s.pledgeBytes) && s.pledgeBytes >= 0) return s;
  } catch {}
  return { pledgeBytes: config.pledgeBytes };
}

function writeState(dir: string, state: DaemonState): void {
  const file = paths(dir).state;
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(state), { mode: 0o600 });
  fs.renameSync(`${file}.tmp`, file);
}
