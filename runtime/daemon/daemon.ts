/**
 * pb-node, the daemon: composes the libp2p node with its services (group log and its syncer,
 * join desk, shard store and repair, backups, status, alerts, relay links, control socket) in
 * js-libp2p style: each service registers its handlers and subscribes to events; the daemon
 * owns the start and stop order. It decides nothing itself.
 */
import * as fs from 'node:fs';
import type { Server } from 'node:net';
import { join } from 'node:path';
import {
  announceable,
  type GroupState,
  MAX_ADDRESS_BYTES,
  MAX_ADDRESSES,
  type MemberKeys,
  memberIdFromPublicKey,
} from '../../engine/index.ts';
import { memberKeysOf } from '../crypto/ed25519.ts';
import { serveGroupSync } from '../net/group-sync.ts';
import { serveHeads } from '../net/head-protocol.ts';
import { serveJoin } from '../net/join.ts';
import { libp2pKeyFromSeed } from '../net/keys.ts';
import { createPbNode, type PbLibp2p } from '../net/node.ts';
import { observeTransfers, PeerHealth } from '../net/peer-health.ts';
import { RemoteShardStore } from '../net/remote-shard-store.ts';
import { toPeerId } from '../net/serve.ts';
import { serveShards } from '../net/shard-protocol.ts';
import { watchWebRTCLinks } from '../net/webrtc-probe.ts';
import { releaseIdleWebRTC } from '../net/webrtc-release.ts';
import { PledgedShardStore } from '../store/pledged-shard-store.ts';
import { AlertMonitor } from './alerts/monitor.ts';
import { BackupService } from './backup/backup-service.ts';
import { ChangeWatcher } from './backup/change-watcher.ts';
import { scheduleIntervalMs } from './backup/schedule.ts';
import {
  dataDirNotes,
  loadConfig,
  type NodeConfig,
  paths,
  readSecret,
  reserveRootOf,
} from './config/config.ts';
import { ControlError, startControlServer } from './control/control.ts';
import { controlMethods, type DaemonParts } from './control/control-methods.ts';
import { decide } from './control/member-methods.ts';
import { uploadMethods } from './control/upload-control.ts';
import { rotateLog, writeLog } from './daemon-log.ts';
import { readState } from './daemon-state.ts';
import { AddressPublisher, learnRelayRoutes } from './group/address-publisher.ts';
import { GroupService } from './group/group-service.ts';
import { GroupSyncer } from './group/group-syncer.ts';
import { JoinDesk } from './group/join-desk.ts';
import { LAST_SEEN_FILE, LastSeenFile, SAVE_EVERY_MS as SAVE_SIGHTINGS_EVERY_MS } from './group/last-seen.ts';
import { announcedMultiaddrs } from './group/network-directory.ts';
import { RelayLinks, relayPeerId } from './group/relay-links.ts';
import { MemoryTrim } from './memory-trim.ts';
import { acquirePidLock, type PidLock } from './pid-lock.ts';
import { deleteCheck } from './shards/delete-check.ts';
import { HeadStore } from './shards/head-store.ts';
import { RepairService } from './shards/repair-service.ts';
import { CatalogBackend, ShardCatalog } from './shards/shard-catalog.ts';
import { repairProgressFrom } from './status/status-report.ts';
import { StatusService } from './status/status-service.ts';
import { parseUploadConfig } from './upload/upload-config.ts';
import { UploadGovernor } from './upload/upload-governor.ts';

/** After start, the listen addresses settle before they are compared with the group's. */
const REPUBLISH_DELAY_MS = 2_000;
/** Bound on libp2p's own stop (WebRTC links can hold it); the process exits regardless (shutdown.ts). */
const NODE_STOP_BOUND_MS = 4_000;

export class Daemon implements DaemonParts {
  private control: Server | null = null;
  private watcher: ChangeWatcher | null = null;
  private stopped = false;
  /** When each other member was last reached; persisted (last-seen.ts), loaded at start. */
  readonly lastSeen: Map<string, number>;
  private readonly sightings: LastSeenFile;
  private sightingsTimer: NodeJS.Timeout | null = null;
  /** The group log kept reconciled with every member (group-syncer.ts). */
  readonly syncer: GroupSyncer;
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
  /** How each member is reached and how its shard requests went (peer-health.ts). */
  private readonly peerHealth = new PeerHealth();
  /** Gives the start's and each backup run's memory back (memory-trim.ts). */
  private readonly memoryTrim = new MemoryTrim({ log: (line) => this.log(line) });

  private constructor(
    readonly dir: string,
    readonly config: NodeConfig,
    readonly self: string,
    readonly node: PbLibp2p,
    readonly group: GroupService,
    readonly store: PledgedShardStore,
    readonly heads: HeadStore,
    readonly keys: MemberKeys,
    logFd: number,
    private readonly pidLock: PidLock,
  ) {
    this.logFd = logFd;
    observeTransfers(node, (note) => this.peerHealth.record(note, Date.now()));
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
      afterRun: () => this.memoryTrim.soon(),
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
      exclude: () => config.exclude,
      excludePaths: () => [reserveRootOf(dir, config)],
      configText: () => {
        try {
          return fs.readFileSync(paths(dir).config, 'utf8');
        } catch {
          return null; // the backup goes on; the recovery then writes a fresh config
        }
      },
    });
    this.alerts = new AlertMonitor({
      dataDir: dir,
      config,
      self,
      log: (line) => this.log(line),
      group: () => group.state,
      backupStatus: () => this.backups.status,
      storeReport: () => store.report(),
      report: async () =>
        this.statusService === null ? null : this.statusService.report({ background: true }),
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
    this.syncer = new GroupSyncer({
      node,
      group,
      self,
      webrtc: config.webrtc,
      lastSeen: this.lastSeen,
      log: (line) => this.log(line),
      afterRound: () => {
        this.relays.dialMissing();
        this.publisher.check();
      },
    });
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
    const keys = memberKeysOf(readSecret(dir));
    const self = memberIdFromPublicKey(keys.publicKey);
    const pidLock = acquirePidLock(dir);
    rotateLog(p.log);
    const logFd = fs.openSync(p.log, 'a', 0o600);
    const log = (line: string): void => writeLog(logFd, line);
    const state = readState(dir, config);
    const { service: group, warnings } = GroupService.open(p.group, self, keys);
    warnings.forEach(log);
    for (const note of dataDirNotes(dir, config)) log(`note: ${note}`);
    const reserveRoot = reserveRootOf(dir, config);
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

  get name(): string {
    return this.config.name;
  }

  async report(): Promise<unknown> {
    if (this.statusService === null) throw new ControlError('starting', 'the daemon is still starting');
    return this.statusService.report();
  }

  private async wire(): Promise<void> {
    await this.serveProtocols();
    this.startServices();
    await this.startWatcher();
    this.statusService = await this.startStatus();
    this.control = await startControlServer(paths(this.dir).socket, controlMethods(this), (e) =>
      this.log(`control: ${String(e)}`),
    );
    this.log(`pb-node ${this.self} started; listening on ${this.addresses().join(' ') || '(none yet)'}`);
  }

  /** The four protocols, each behind the group's access policy (docs/protocols.md). */
  private async serveProtocols(): Promise<void> {
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
        reconciled: (peer) => this.syncer.reconciled(peer),
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
  }

  /** Group-following services, timers and schedules. */
  private startServices(): void {
    this.group.on('change', (state) => this.onGroupChange(state));
    this.group.on('change', (state) => this.repair.groupChanged(state));
    if (this.group.state !== null) this.repair.groupChanged(this.group.state);
    this.repair.start();
    const unwatchLinks = watchWebRTCLinks(this.node, (line) => this.log(line));
    const unwatchRelease = this.config.webrtc
      ? releaseIdleWebRTC(this.node, (line) => this.log(line))
      : () => {};
    this.unwatchWebRTC = () => {
      unwatchLinks();
      unwatchRelease();
    };
    this.relays.dialMissing();
    this.relays.start();
    if (this.group.state !== null) this.onGroupChange(this.group.state);
    this.syncer.start(this.config.syncIntervalMs);
    setTimeout(() => this.publisher.check(), REPUBLISH_DELAY_MS).unref();
    // A relay reservation made or lost, a new listen address: republish if the group must know.
    this.node.addEventListener('self:peer:update', () => this.publisher.check());
    this.sightingsTimer = setInterval(() => this.saveSightings(false), SAVE_SIGHTINGS_EVERY_MS);
    this.sightingsTimer.unref();
    const backupEveryMs = scheduleIntervalMs(this.config.schedule);
    if (backupEveryMs !== null) this.backups.startSchedule(backupEveryMs);
    this.backups.resumeSoon(2000);
    this.alerts.start();
    this.memoryTrim.soon(); // the start's own burst
  }

  /** File-change events start a backup once the directories settle (config watchDebounceMs). */
  private async startWatcher(): Promise<void> {
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
  }

  private startStatus(): Promise<StatusService> {
    return StatusService.start({
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
      paths: (id) =>
        this.peerHealth.view(
          id,
          this.node.getConnections(toPeerId(id)).map((c) => c.remoteAddr.toString()),
          Date.now(),
        ),
      store: async () => {
        // Bytes held for owners no longer in the group: known once the catalog read every trailer.
        const catalog = this.shards.catalog;
        void catalog.load().catch(() => undefined);
        const members = new Set(this.group.state?.members.map((m) => m.id) ?? []);
        return {
          ...(await this.store.report()),
          formerMembersBytes: catalog.bytesForNonMembers((id) => members.has(id)),
        };
      },
      backup: () => this.backups.status,
      interrupted: () => this.backups.interrupted(),
      directories: () => this.config.directories,
      usageOf: (id) => new RemoteShardStore(this.node, id).usage(),
      repair: () => repairProgressFrom(this.repair.status, this.config.repair.bytesPerSecond),
      graceMs: this.config.repair.graceMs,
      upload: () => ({ state: this.upload.state(), windows: this.upload.schedule.windows }),
      decide: (who, kind) => decide(this, who, kind),
      // The control socket's own pause/resume (until resumed), so the dashboard does what the CLI does.
      uploads: (verb) =>
        uploadMethods(this.upload, (line) => this.log(`dashboard: ${line}`))[verb]!({}, () => {}),
      log: (line) => this.log(line),
    });
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
    this.syncer.soon();
  }

  async stop(): Promise<void> {
    if (this.stopped) return this.stoppedPromise;
    this.stopped = true;
    this.resolveStopRequested();
    this.log('pb-node stopping');
    this.syncer.stop();
    this.relays.stop();
    this.unwatchWebRTC();
    if (this.sightingsTimer) clearInterval(this.sightingsTimer);
    this.saveSightings(true);
    this.backups.stopSchedule();
    this.alerts.stop();
    this.memoryTrim.stop();
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
