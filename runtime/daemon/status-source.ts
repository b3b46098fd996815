/**
 * Gathers the live inputs of the status report (status-report.ts) inside the daemon: the group
 * state, this member's own stripes and snapshots from its index (opened read-only; the backup
 * keeps writing it), each other member's pledge use over `/pb/shard/1` `usage` (which also tells
 * whether it is reachable), the pending-bytes check of the directories, and the store. Measures
 * that cost network or disk are remembered for a few seconds (and for 20 times their own
 * duration when they are slow), so a dashboard that polls does not multiply them.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { CountedStripe, GroupState } from '../../engine/index.ts';
import { INDEX_SCHEMA_VERSION } from '../pipeline/index-db.ts';
import { BACKUP_SUBDIR, type BackupStatus } from './backup-service.ts';
import { type CachedFile, type PendingScan, scanPending } from './pending-scan.ts';
import {
  buildStatusReport,
  MAX_REPORT_MEMBERS,
  type RepairProgress,
  type StatusReport,
} from './status-report.ts';
import type { UploadInput } from './status-upload.ts';

/** How long a usage answer or a pending check stays fresh. */
export const USAGE_FRESH_MS = 5_000;
export const PENDING_FRESH_MS = 5_000;
/** A costly measure (walking big directories, reading a big index) is reused for this many
 * times its own duration, so status never spends more than about 1/20 of the daemon's time. */
export const DUTY_FACTOR = 20;
/** Bound on one usage question (an unreachable member costs at most this). */
export const USAGE_TIMEOUT_MS = 5_000;
/** The upload rate is measured over stripes committed within this span before the latest one. */
export const RATE_WINDOW_MS = 10 * 60_000;
/**
 * Index schemas this reader understands (runtime/pipeline/index-db.ts): the current one and 1,
 * which differs only in what status does not read (2 added `objects.codec`) and is upgraded the
 * next time the pipeline opens it.
 */
const READABLE_INDEX_SCHEMAS: readonly string[] = ['1', String(INDEX_SCHEMA_VERSION)];

export interface StatusDeps {
  dataDir: string;
  self: string;
  name: string;
  startedAtMs: number;
  group: () => GroupState | null;
  isMember: () => boolean;
  lastSeen: Map<string, number>;
  connected: (id: string) => boolean;
  store: () => Promise<{ pledgeBytes: number; storedBytes: number; reservationBytes: number }>;
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
}

/** Read-only view of the owner's index. */
class IndexReader {
  private db: Database.Database | null = null;
  /** Prepared once: the pending check asks for one row per file. */
  private fileStmt: Database.Statement<
    [Buffer],
    { size: number; mtime_ns: string; ctime_ns: string; ino: string }
  > | null = null;
  constructor(private readonly path: string) {}

  private open(): Database.Database | null {
    if (this.db !== null) return this.db;
    if (!fs.existsSync(this.path)) return null;
    const db = new Database(this.path, { readonly: true, fileMustExist: true });
    const version = db
      .prepare<[], { value: string }>("SELECT value FROM meta WHERE key = 'schema_version'")
      .get()?.value;
    if (version === undefined || !READABLE_INDEX_SCHEMAS.includes(version)) {
      db.close();
      throw new Error(
        `the index ${this.path} has schema ${String(version)}; status reads ${READABLE_INDEX_SCHEMAS.join(' and ')}`,
      );
    }
    this.db = db;
    return db;
  }

  /** This owner's stripes, identical shapes and holders aggregated with `count`. */
  stripes(owner: string): CountedStripe[] {
    const db = this.open();
    if (db === null) return [];
    const rows = db
      .prepare<[], { seq: number; k: number; m: number; shard_bytes: number; idx: number; member: string }>(
        'SELECT s.seq, s.k, s.m, s.shard_bytes, h.idx, h.member FROM stripes s JOIN shards h ON h.stripe_seq = s.seq ORDER BY s.seq, h.idx',
      )
      .iterate();
    const groups = new Map<
      string,
      { k: number; m: number; shardBytes: number; holders: string[]; count: number }
    >();
    let seq = -1;
    let current: { k: number; m: number; shardBytes: number; holders: (string | null)[] } | null = null;
    const flush = (): void => {
      if (current === null) return;
      const holders = current.holders.map((h) => h ?? '');
      const key = `${current.k}/${current.m}/${current.shardBytes}/${holders.join(',')}`;
      const g = groups.get(key);
      if (g !== undefined) g.count++;
      else groups.set(key, { k: current.k, m: current.m, shardBytes: current.shardBytes, holders, count: 1 });
    };
    for (const r of rows) {
      if (r.seq !== seq) {
        flush();
        seq = r.seq;
        current = { k: r.k, m: r.m, shardBytes: r.shard_bytes, holders: new Array(r.k + r.m).fill(null) };
      }
      if (r.idx >= 0 && r.idx < current!.holders.length) current!.holders[r.idx] = r.member;
    }
    flush();
    return [...groups.values()].map((g, i) => ({
      stripeId: `aggregate-${i}`,
      owner,
      dataShards: g.k,
      parityShards: g.m,
      shardBytes: g.shardBytes,
      // A shard the index does not name, or a holder that is the owner itself, counts as gone.
      holders: g.holders.map((h) => (h === '' || h === owner ? null : h)),
      count: g.count,
    }));
  }

  lastSnapshot(): { id: string; atMs: number; files: number; bytes: number } | null {
    const db = this.open();
    if (db === null) return null;
    const r = db
      .prepare<[], { id: Buffer; time_ms: number; files: number; bytes: number }>(
        'SELECT id, time_ms, files, bytes FROM snapshots ORDER BY time_ms DESC, id DESC LIMIT 1',
      )
      .get();
    return r === undefined
      ? null
      : { id: r.id.toString('hex'), atMs: r.time_ms, files: r.files, bytes: r.bytes };
  }

  /** Data bytes of the stripes committed in the window before the latest, and the span they took. */
  recentUpload(): { bytes: number; spanMs: number } | null {
    const db = this.open();
    if (db === null) return null;
    const rows = db
      .prepare<[number], { created_ms: number; data_bytes: number }>(
        'SELECT created_ms, data_bytes FROM stripes WHERE created_ms >= (SELECT MAX(created_ms) FROM stripes) - ? ORDER BY created_ms LIMIT 100000',
      )
      .all(RATE_WINDOW_MS);
    if (rows.length < 2) return null;
    // The first stripe's bytes were sent before its commit time: count the ones after it.
    const bytes = rows.slice(1).reduce((s, r) => s + r.data_bytes, 0);
    return { bytes, spanMs: rows.at(-1)!.created_ms - rows[0]!.created_ms };
  }

  fileRow(path: Buffer): CachedFile | undefined {
    const db = this.open();
    if (db === null) return undefined;
    this.fileStmt ??= db.prepare<[Buffer], { size: number; mtime_ns: string; ctime_ns: string; ino: string }>(
      'SELECT size, mtime_ns, ctime_ns, ino FROM files WHERE path = ?',
    );
    const r = this.fileStmt.get(path);
    return r === undefined
      ? undefined
      : { size: r.size, mtimeNs: r.mtime_ns, ctimeNs: r.ctime_ns, ino: r.ino };
  }

  close(): void {
    this.fileStmt = null;
    this.db?.close();
    this.db = null;
  }
}

export class StatusSource {
  private readonly index: IndexReader;
  private readonly usage = new Map<string, { usedBytes: number; atMs: number }>();
  private usageAskedMs = 0;
  private usageRound: Promise<void> | null = null;
  private pending: PendingScan | null = null;
  private pendingTookMs = 0;
  private pendingRound: Promise<void> | null = null;
  private stripes: { atMs: number; tookMs: number; value: CountedStripe[] } | null = null;

  constructor(private readonly deps: StatusDeps) {
    this.index = new IndexReader(join(deps.dataDir, BACKUP_SUBDIR, 'index.sqlite'));
  }

  private askUsage(state: GroupState | null): Promise<void> {
    if (this.usageRound !== null) return this.usageRound;
    if (Date.now() - this.usageAskedMs < USAGE_FRESH_MS) return Promise.resolve();
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

  private checkPending(): Promise<void> {
    if (this.pendingRound !== null) return this.pendingRound;
    const freshMs = Math.max(PENDING_FRESH_MS, DUTY_FACTOR * this.pendingTookMs);
    if (this.pending !== null && Date.now() - this.pending.checkedAtMs < freshMs) return Promise.resolve();
    const started = Date.now();
    this.pendingRound = scanPending(this.deps.directories(), (p) => this.index.fileRow(p), {
      nowMs: Date.now,
    })
      .then((p) => {
        this.pending = p;
        this.pendingTookMs = Date.now() - started;
      })
      .finally(() => {
        this.pendingRound = null;
      });
    return this.pendingRound;
  }

  private ownStripes(): CountedStripe[] {
    const now = Date.now();
    const cached = this.stripes;
    if (cached !== null && now - cached.atMs < DUTY_FACTOR * cached.tookMs) return cached.value;
    const value = this.index.stripes(this.deps.self);
    this.stripes = { atMs: now, tookMs: Date.now() - now, value };
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

  async report(): Promise<StatusReport> {
    const { deps } = this;
    const state = deps.group();
    const directories = deps.directories();
    await Promise.all([this.askUsage(state), directories.length > 0 ? this.checkPending() : undefined]);
    const nowMs = Date.now();
    const backup = deps.backup();
    const members = (state?.members ?? []).map((m) => ({
      id: m.id,
      name: m.name,
      pledgeBytes: m.pledgeBytes,
    }));
    const memberIds = new Set(members.map((m) => m.id));
    return buildStatusReport({
      nowMs,
      startedAtMs: deps.startedAtMs,
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
        recentUpload: this.index.recentUpload(),
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
