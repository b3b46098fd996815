/**
 * Gathers the live inputs of the status report (status-report.ts) inside the daemon: the group
 * state, this member's own stripes and snapshots from its index (read-only, through the pipeline's
 * index-reader.ts; the backup keeps writing it) with each shard's holder corrected by the repair worker's latest listings
 * (the engine's `relocateShards`: repairs and migrations move shards without the owner), each
 * other member's pledge use over `/pb/shard/1` `usage` (which also tells whether it is
 * reachable), the pending-bytes check of the directories, and the store. Measures that cost
 * network or disk are remembered for a few seconds (a slow pending check for a few times its own
 * duration, its age then shown), so a dashboard that polls does not multiply them; a backup that
 * commits or starts makes the next report check again at once.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import {
  type CountedStripe,
  type GroupState,
  relocateShards,
  type ShardRow,
  uploadSample,
} from '../../../engine/index.ts';
import type { PeerHealthView } from '../../net/peer-health.ts';
import { IndexReader } from '../../pipeline/index-reader.ts';
import { BACKUP_SUBDIR, type BackupStatus } from '../backup/backup-service.ts';
import { type PendingScan, scanPending } from '../backup/pending-scan.ts';
import { announcedMultiaddrs } from '../group/network-directory.ts';
import type { ShardLocations } from '../shards/shard-locations.ts';
import {
  buildStatusReport,
  MAX_REPORT_MEMBERS,
  type RepairProgress,
  type StatusReport,
} from './status-report.ts';
import type { UploadInput } from './status-upload.ts';

/** How long a usage answer or a pending check stays fresh. */
export const USAGE_FRESH_MS = 5_000;
/**
 * How long a usage answer stays fresh for the daemon's own reports (the minute's history sample,
 * the alert check): members' use changes only with shard transfers, and a backup's start or
 * commit asks again at once; someone asking (`pb-node status`, the dashboard) gets USAGE_FRESH_MS.
 */
export const BACKGROUND_USAGE_FRESH_MS = 5 * 60_000;
export const PENDING_FRESH_MS = 5_000;
/** A costly read of the index is reused for this many times its own duration, so status never
 * spends more than about 1/20 of the daemon's time on it. */
export const DUTY_FACTOR = 20;
/** A slow pending check is reused for this many times its own duration (its age is shown). */
export const PENDING_DUTY_FACTOR = 4;
/** Bound on one usage question (an unreachable member costs at most this). */
export const USAGE_TIMEOUT_MS = 5_000;
/** Stripe commits read for the upload rate (newest first; the engine's `uploadSample` picks). */
export const RATE_COMMITS = 20_000;

export interface StatusDeps {
  dataDir: string;
  self: string;
  name: string;
  startedAtMs: number;
  /** When this data directory began keeping sightings (last-seen.ts); default `startedAtMs`. */
  trackingSinceMs?: number;
  group: () => GroupState | null;
  isMember: () => boolean;
  lastSeen: Map<string, number>;
  connected: (id: string) => boolean;
  /** How a member is reached now and how its recent requests went (peer-health.ts). */
  paths?: (id: string) => PeerHealthView;
  store: () => Promise<{
    pledgeBytes: number;
    storedBytes: number;
    reservationBytes: number;
    formerMembersBytes?: number | null;
  }>;
  backup: () => BackupStatus;
  interrupted: () => boolean;
  directories: () => string[];
  usageOf: (id: string) => Promise<{ usedBytes: number }>;
  repair: () => RepairProgress;
  dashboardUrl: () => string | null;
  /** Last sightings recorded before (the history file): used for members not seen since start. */
  previousSightings?: () => ReadonlyMap<string, number>;
  graceMs?: number;
  /** The upload gate's state and the config's windows (status-upload.ts). */
  upload?: () => UploadInput;
  /** Where shards are now, from the repair worker's latest listings (null before any). */
  shardLocations?: () => ShardLocations | null;
}

/** A member's announced addresses, direct ones first, each ending in `/p2p/<id>`. */
function reachableAddresses(m: { id: string; addresses: readonly string[] }): string[] {
  const all = announcedMultiaddrs(m).map((a) => `${a.toString()}/p2p/${m.id}`);
  const direct = all.filter((a) => !a.includes('/p2p-circuit'));
  return [...direct, ...all.filter((a) => a.includes('/p2p-circuit'))].slice(0, 8);
}

/**
 * This owner's stripes from its index, identical shapes and holders aggregated with `count`;
 * each shard's holder as the members' listings show it now where they differ from the index.
 */
function ownStripes(index: IndexReader, owner: string, locations: ShardLocations | null): CountedStripe[] {
  const shape = new Map(index.stripeShapes().map((s) => [s.seq, s]));
  const rows: ShardRow[] = index.shardRows();
  // Where each shard is now: moved to the member that lists it, or null when its recorded holder
  // listed without it and nobody else lists it (counted as lost, never as held).
  const moved = new Map<string, string | null>();
  if (locations !== null) {
    const now = relocateShards(rows, locations.where, locations.listed, locations.listedAtMs);
    for (const m of now.moves) moved.set(`${m.seq}/${m.idx}`, m.to);
    for (const g of now.gone) moved.set(`${g.seq}/${g.idx}`, null);
  }
  const holdersOf = new Map<number, (string | null)[]>();
  for (const r of rows) {
    const s = shape.get(r.seq);
    if (s === undefined || r.idx < 0 || r.idx >= s.k + s.m) continue;
    const holders = holdersOf.get(r.seq) ?? new Array<string | null>(s.k + s.m).fill(null);
    holdersOf.set(r.seq, holders);
    const key = `${r.seq}/${r.idx}`;
    const member = moved.has(key) ? moved.get(key)! : r.member;
    // A holder that is the owner itself counts as gone.
    holders[r.idx] = member === owner ? null : member;
  }
  const groups = new Map<string, CountedStripe & { count: number }>();
  for (const [seq, s] of shape) {
    const holders = holdersOf.get(seq);
    if (holders === undefined) continue; // no shard rows: not a stored stripe
    const key = `${s.k}/${s.m}/${s.shardBytes}/${holders.join(',')}`;
    const g = groups.get(key);
    if (g !== undefined) g.count++;
    else
      groups.set(key, {
        stripeId: `aggregate-${groups.size}`,
        owner,
        dataShards: s.k,
        parityShards: s.m,
        shardBytes: s.shardBytes,
        holders,
        count: 1,
      });
  }
  return [...groups.values()];
}

/** What a pending check saw of the backup: a commit or a start since makes it stale. */
function backupKey(b: BackupStatus): string {
  return b.state === 'refused' ? `refused/${b.atMs}` : `${b.state}/${b.last?.snapshotId ?? ''}`;
}

export class StatusSource {
  private readonly index: IndexReader;
  private readonly usage = new Map<string, { usedBytes: number; atMs: number }>();
  private usageAskedMs = 0;
  /** The backup's state at the last usage round: a backup's start or commit asks again. */
  private usageBackupKey = '';
  private usageRound: Promise<void> | null = null;
  private pending: (PendingScan & { backupKey: string; missing: string[] }) | null = null;
  private pendingTookMs = 0;
  private pendingRound: Promise<void> | null = null;
  private stripes: { atMs: number; tookMs: number; key: string; value: CountedStripe[] } | null = null;

  constructor(private readonly deps: StatusDeps) {
    this.index = new IndexReader(join(deps.dataDir, BACKUP_SUBDIR, 'index.sqlite'));
  }

  private askUsage(state: GroupState | null, freshMs: number): Promise<void> {
    if (this.usageRound !== null) return this.usageRound;
    const key = backupKey(this.deps.backup());
    if (key === this.usageBackupKey && Date.now() - this.usageAskedMs < freshMs) return Promise.resolve();
    this.usageBackupKey = key;
    const others = (state?.members ?? []).map((m) => m.id).filter((id) => id !== this.deps.self);
    for (const id of this.usage.keys()) if (!others.includes(id)) this.usage.delete(id);
    this.usageRound = Promise.all(
      others.slice(0, MAX_REPORT_MEMBERS).map(async (id) => {
        let timer: NodeJS.Timeout | undefined;
        try {
          const answer = await Promise.race([
            this.deps.usageOf(id),
            new Promise<never>((_, reject) => {
              timer = setTimeout(() => reject(new Error('no answer in time')), USAGE_TIMEOUT_MS);
            }),
          ]);
          const now = Date.now();
          this.usage.set(id, { usedBytes: answer.usedBytes, atMs: now });
          this.deps.lastSeen.set(id, now);
        } catch {
          // Unreachable now: its last answer (if any) stays, with its time.
        } finally {
          clearTimeout(timer);
        }
      }),
    ).then(() => {
      this.usageAskedMs = Date.now();
      this.usageRound = null;
    });
    return this.usageRound;
  }

  /**
   * A pending check fresh enough for now: one started after the backup's last commit or start
   * (else checked again at once, so "backed up" is exact when a backup commits), and younger
   * than 5 s or a few times its own duration.
   */
  private async checkPending(): Promise<void> {
    for (let attempt = 0; attempt < 2; attempt++) {
      if (this.pendingRound !== null) await this.pendingRound;
      const key = backupKey(this.deps.backup());
      const freshMs = Math.max(PENDING_FRESH_MS, PENDING_DUTY_FACTOR * this.pendingTookMs);
      const p = this.pending;
      if (p !== null && p.backupKey === key && Date.now() - p.checkedAtMs < freshMs) return;
      if (this.pendingRound === null) this.pendingRound = this.runPendingCheck(key);
    }
    if (this.pendingRound !== null) await this.pendingRound;
  }

  private runPendingCheck(key: string): Promise<void> {
    const started = Date.now();
    const directories = this.deps.directories();
    const missing = directories.filter((d) => !fs.existsSync(d)).slice(0, MAX_REPORT_MEMBERS);
    return scanPending(directories, (p) => this.index.fileRow(p), { nowMs: Date.now })
      .then((p) => {
        // The check counts from its start: a change during the walk may be missed by it.
        this.pending = { ...p, checkedAtMs: started, backupKey: key, missing };
        this.pendingTookMs = Date.now() - started;
      })
      .finally(() => {
        this.pendingRound = null;
      });
  }

  private ownStripes(): CountedStripe[] {
    const now = Date.now();
    const locations = this.deps.shardLocations?.() ?? null;
    const key = `${backupKey(this.deps.backup())}/${locations?.version ?? -1}`;
    const cached = this.stripes;
    if (cached !== null && cached.key === key && now - cached.atMs < DUTY_FACTOR * cached.tookMs)
      return cached.value;
    const value = ownStripes(this.index, this.deps.self, locations);
    this.stripes = { atMs: now, tookMs: Date.now() - now, key, value };
    return value;
  }
  /** Live sightings, and for a member not seen since the start its last recorded one. */
  private sightings(): ReadonlyMap<string, number> {
    const before = this.deps.previousSightings?.();
    if (before === undefined || before.size === 0) return this.deps.lastSeen;
    const merged = new Map(before);
    for (const [id, ms] of this.deps.lastSeen) merged.set(id, Math.max(ms, merged.get(id) ?? 0));
    return merged;
  }

  /** `background`: a report the daemon makes for itself (BACKGROUND_USAGE_FRESH_MS). */
  async report(options: { background?: boolean } = {}): Promise<StatusReport> {
    const { deps } = this;
    const state = deps.group();
    const directories = deps.directories();
    const usageFreshMs = options.background === true ? BACKGROUND_USAGE_FRESH_MS : USAGE_FRESH_MS;
    await Promise.all([
      this.askUsage(state, usageFreshMs),
      directories.length > 0 ? this.checkPending() : undefined,
    ]);
    const nowMs = Date.now();
    const backup = deps.backup();
    const members = (state?.members ?? []).map((m) => ({
      id: m.id,
      name: m.name,
      pledgeBytes: m.pledgeBytes,
      sinceMs: m.sinceMs,
      addresses: reachableAddresses(m),
    }));
    const memberIds = new Set(members.map((m) => m.id));
    return buildStatusReport({
      nowMs,
      startedAtMs: deps.startedAtMs,
      ...(deps.trackingSinceMs === undefined ? {} : { trackingSinceMs: deps.trackingSinceMs }),
      self: { id: deps.self, name: deps.name },
      groupId: state?.groupId ?? null,
      isMember: deps.isMember(),
      agreement: state?.agreement ?? null,
      members,
      requests: (state?.pending ?? []).map((p) => ({
        candidate: p.candidate,
        request: p.request,
        name: p.name,
        invitedBy: p.invitedBy,
        atMs: p.atMs,
      })),
      stripes: this.ownStripes(),
      lastSeenMs: this.sightings(),
      connected: new Set([...memberIds].filter((id) => id !== deps.self && deps.connected(id))),
      ...(deps.paths === undefined
        ? {}
        : {
            paths: new Map(
              [...memberIds].filter((id) => id !== deps.self).map((id) => [id, deps.paths!(id)]),
            ),
          }),
      usage: this.usage,
      store: await deps.store(),
      backup: {
        directories,
        state: backup.state,
        refused:
          backup.state === 'refused'
            ? { reason: backup.reason, restoreHint: backup.restoreHint, atMs: backup.atMs }
            : null,
        interrupted: deps.interrupted(),
        lastSnapshot: this.index.lastSnapshot(),
        pending: directories.length > 0 ? this.pending : null,
        recentUpload: uploadSample(this.index.recentCommits(RATE_COMMITS)),
      },
      repair: deps.repair(),
      ...(deps.graceMs === undefined ? {} : { graceMs: deps.graceMs }),
      dashboardUrl: deps.dashboardUrl(),
      ...(deps.upload === undefined ? {} : { upload: deps.upload() }),
    });
  }

  close(): void {
    this.index.close();
  }
}
