/**
 * The owner's backups in daemon mode (docs/design.md §6 and §9): the local pipeline
 * (`runtime/pipeline/backup.ts`) run over the group, i.e. over a NetworkShardDirectory of the
 * members other than this one (with their pledges, from the folded group state). A stripe is
 * committed to the index only after every shard put was acknowledged by its holder (the stripe
 * writer awaits each `put`, which resolves on the holder's `ok`, after its fsync).
 *
 * After each snapshot the owner's head goes to every member over `/pb/head/1`, wrapped in the
 * engine's signed head (docs/protocols.md section 5) whose body is the pipeline's head
 * (docs/formats.md section 6) and whose seq is the pipeline's headSeq.
 *
 * The owner's index lives in `<data dir>/backup/` (index.sqlite, head, put-journal). One run
 * at a time. A run first settles the stripes an interrupted run left in flight (the put journal,
 * backup-journal.ts): shards that landed are not sent again.
 *
 * Excludes: the config's `exclude` patterns plus a run's own (the `backup` control method's
 * `exclude`), CACHEDIR.TAG directories, and always the data directory and the reservation's.
 *
 * The empty-directory rule (docs/design.md §10): a run whose sources hold fewer than `emptyFraction` of
 * the newest snapshot's files or bytes is refused before anything is read or sent; the head and
 * the old snapshots stay; status says `refused` with the restore command, the log gets one ALERT
 * line and `onAlert` listeners (alert mail) get `{ kind: 'empty-sources', ... }`, once until a
 * backup succeeds again. `allowEmpty` records the emptiness on purpose.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import type { GroupState, MemberKeys } from '../../../engine/index.ts';
import type { PbLibp2p } from '../../net/node.ts';
import { RemoteShardStore, type UploadGate } from '../../net/remote-shard-store.ts';
import type { BackupSummary } from '../../pipeline/backup.ts';
import { EmptySourcesError } from '../../pipeline/errors.ts';
import { lockDataDir, type Repository } from '../../pipeline/repository.ts';
import type { GcSummary, RetentionPolicy } from '../../pipeline/retention.ts';
import { ControlError } from '../control/control.ts';
import { holdersOf, NetworkShardDirectory } from '../group/network-directory.ts';
import { removeLeftRecoveryCache } from '../recovery/recovery-cache.ts';
import { FormerMembersTolerant, locateShards } from '../shards/shard-locations.ts';
import { restoreInPlace } from '../status/status-words.ts';
import { journaling, PutJournal, type SettleSummary, settleJournal } from './backup-journal.ts';
import {
  BACKUP_SUBDIR,
  groupRepositoryConfig,
  type HeadPushReport,
  networkHead,
  openGroupRepository,
  PUT_JOURNAL_FILE,
  pushHead,
} from './group-repository.ts';
import { countSources } from './source-census.ts';

export { BACKUP_SUBDIR, groupRepositoryConfig, openGroupRepository, PUT_JOURNAL_FILE };
/** Default of the config's `emptyFraction`. */
export const DEFAULT_EMPTY_FRACTION = 0.05;
const PROGRESS_EVERY_MS = 500;

export interface ForgetSummary {
  kept: string[];
  forgotten: string[];
  gc: GcSummary | null;
}

export interface GroupBackupSummary extends BackupSummary {
  holders: number;
  heads: HeadPushReport;
  /** What the run settled of an interrupted one before it scanned (null: nothing to settle). */
  resumed: SettleSummary | null;
}

/** What the alert mailer (or anything else) hears from the backups. */
export interface BackupAlert {
  kind: 'empty-sources';
  atMs: number;
  /** One line for a human. */
  message: string;
  /** The command that brings the newest snapshot back. */
  restoreHint: string;
  sources: string[];
  /** What the sources hold now (counted up to what the rule needs). */
  found: { files: number; bytes: number };
  /** The newest snapshot's totals. */
  newest: { files: number; bytes: number };
}

export type BackupStatus =
  | { state: 'idle' | 'running'; last: { atMs: number; snapshotId: string } | null }
  | { state: 'refused'; reason: string; atMs: number; restoreHint: string };

export interface BackupDeps {
  dataDir: string;
  node: PbLibp2p;
  keys: MemberKeys;
  secret: Uint8Array;
  self: string;
  directories: () => string[];
  group: () => GroupState | null;
  log: (line: string) => void;
  /** The config's `emptyFraction` (0..1; default DEFAULT_EMPTY_FRACTION). */
  emptyFraction?: () => number;
  /** Every shard put waits here first (the member's upload cap and pause). */
  uploadGate?: UploadGate;
  /** The config's `exclude` patterns (docs/config.md). */
  exclude?: () => string[];
  /** The config file's text, kept in each snapshot (encrypted) so a recovery restores it. */
  configText?: () => string | null;
  /** Paths always left out besides the data directory (the pledge reservation's directory). */
  excludePaths?: () => string[];
  /** A run ended, however it ended (the daemon gives the run's memory back: memory-trim.ts). */
  afterRun?: () => void;
}

export class BackupService {
  private running = false;
  private timer: NodeJS.Timeout | null = null;
  private lastTickProblem = '';
  status: BackupStatus = { state: 'idle', last: null };
  private readonly alertListeners = new Set<(alert: BackupAlert) => void>();

  constructor(private readonly deps: BackupDeps) {}

  /** Hear every alert (alert mail subscribes here); returns the unsubscribe function. */
  onAlert(listener: (alert: BackupAlert) => void): () => void {
    this.alertListeners.add(listener);
    return () => this.alertListeners.delete(listener);
  }

  private emit(alert: BackupAlert): void {
    for (const listener of this.alertListeners) {
      try {
        listener(alert);
      } catch (error) {
        this.deps.log(`alert listener failed: ${(error as Error).message}`);
      }
    }
  }

  /** Refuses the run (emptied sources): status, one ALERT line and one alert per episode. */
  private refuse(
    wasRefused: boolean,
    message: string,
    details: { sources: string[]; found: BackupAlert['found']; newest: BackupAlert['newest'] },
  ): ControlError {
    const hint = `pb-node stop --dir ${this.deps.dataDir}; pb-node restore --peer <a member's address> --dir ${this.deps.dataDir} --target /`;
    const atMs = Date.now();
    this.status = { state: 'refused', reason: message, atMs, restoreHint: hint };
    if (!wasRefused) {
      this.deps.log(`ALERT: backup refused: ${message} To restore: ${hint}`);
      this.emit({ kind: 'empty-sources', atMs, message, restoreHint: hint, ...details });
    }
    return new ControlError('empty-sources', `${message} (restore with: ${hint})`);
  }

  /**
   * Backs up every `intervalMs` by itself (the first run one period after start). A tick with
   * nothing to do (no directories, no group or holders yet, a run in progress) is skipped; a
   * problem is logged once until it changes. Emptied sources keep being refused (status
   * 'refused', one ALERT line) until a backup succeeds again.
   */
  startSchedule(intervalMs: number): void {
    if (!Number.isSafeInteger(intervalMs) || intervalMs < 1000)
      throw new ControlError('bad-argument', 'a backup schedule is at least one second');
    this.stopSchedule();
    this.timer = setInterval(() => void this.tick(), intervalMs);
    this.timer.unref();
  }

  /**
   * Retention across members: forget snapshots outside `policy`, and with `prune` free the
   * stripes no remaining snapshot needs on every holder (the pipeline's collectGarbage over the
   * group). The head's snapshot (the newest) is never forgotten.
   */
  async forget(policy: RetentionPolicy, prune: boolean): Promise<ForgetSummary> {
    if (this.running) throw new ControlError('busy', 'a backup is running: forget after it');
    const { deps } = this;
    const state = deps.group();
    if (state === null || !state.members.some((m) => m.id === deps.self))
      throw new ControlError('no-group', 'this node is not a member of a group');
    const config = groupRepositoryConfig(deps.dataDir, state, deps.self, deps.directories());
    this.running = true;
    let repo: Repository | null = null;
    let unlock: (() => void) | null = null;
    try {
      // Old stripes may sit on members that hold no new ones: every current member is asked.
      const everyone = state.members
        .filter((m) => m.id !== deps.self)
        .map((m) => ({ id: m.id, dir: '', pledgeBytes: Math.max(1, m.pledgeBytes) }));
      // Rows naming a removed member: nothing to delete there (and nothing to read).
      const directory = new FormerMembersTolerant(new NetworkShardDirectory(deps.node, everyone));
      repo = await openGroupRepository(config, deps.secret, directory);
      unlock = lockDataDir(config.dataDir);
      if (prune) {
        // Deletes go where the shards are now (repairs and migrations moved some).
        const owner = repo.owner;
        const located = await locateShards(
          repo.index,
          everyone.map((m) => m.id),
          (member) => new RemoteShardStore(deps.node, member).listDetailed(owner),
        );
        if (located.moved > 0 || located.unreachable.length > 0)
          deps.log(
            `forget: ${located.moved} shard rows moved to their current holders` +
              (located.unreachable.length > 0 ? `; not listed: ${located.unreachable.join('; ')}` : ''),
          );
      }
      const { collectGarbage, selectForget } = await import('../../pipeline/retention.ts');
      const snaps = repo.index.listSnapshots().map((x) => ({ id: x.id.toString('hex'), timeMs: x.timeMs }));
      const { keep, forget } = selectForget(snaps, policy);
      const newest = snaps.at(-1);
      if (newest !== undefined && forget.some((f) => f.id === newest.id))
        throw new ControlError(
          'keeps-head',
          'the newest snapshot (the head) is always kept: keep at least one',
        );
      repo.index.deleteSnapshots(forget.map((f) => Buffer.from(f.id, 'hex')));
      const gc = prune ? await collectGarbage(repo) : null;
      if (gc !== null && directory.skippedDeletes > 0)
        deps.log(`forget: ${directory.skippedDeletes} shards were on members no longer in the group`);
      deps.log(
        `forget: kept ${keep.length}, forgot ${forget.length}${gc ? `, freed ${gc.stripesDeleted} stripes` : ''}`,
      );
      return { kept: keep.map((k) => k.id), forgotten: forget.map((f) => f.id), gc };
    } finally {
      this.running = false;
      unlock?.();
      repo?.close();
      deps.afterRun?.();
    }
  }

  /**
   * Runs `fn` on the owner's repository over every current member (browsing and restoring read
   * shards wherever they are; former members' rows are skipped). One at a time with backups and
   * forgets: the index has one writer.
   */
  async withRepository<T>(
    what: string,
    fn: (repo: Repository) => Promise<T>,
    options: { locate?: boolean } = {},
  ): Promise<T> {
    if (this.running)
      throw new ControlError('busy', `a backup or another command is running: ${what} after it`);
    const { deps } = this;
    const state = deps.group();
    if (state === null || !state.members.some((m) => m.id === deps.self))
      throw new ControlError('no-group', 'this node is not a member of a group: no snapshots yet');
    const config = groupRepositoryConfig(deps.dataDir, state, deps.self, deps.directories());
    const everyone = state.members
      .filter((m) => m.id !== deps.self)
      .map((m) => ({ id: m.id, dir: '', pledgeBytes: Math.max(1, m.pledgeBytes) }));
    this.running = true;
    let repo: Repository | null = null;
    let unlock: (() => void) | null = null;
    try {
      const directory = new FormerMembersTolerant(new NetworkShardDirectory(deps.node, everyone));
      repo = await openGroupRepository(config, deps.secret, directory);
      unlock = lockDataDir(config.dataDir);
      if (options.locate === true) {
        const { locateOwnerShards } = await import('./browse-service.ts');
        const r = await locateOwnerShards(
          deps.node,
          repo,
          everyone.map((m) => m.id),
        );
        if (r.moved > 0 || r.unreachable.length > 0)
          deps.log(
            `${what}: ${r.moved} shard rows moved to their current holders` +
              (r.unreachable.length > 0 ? `; not listed: ${r.unreachable.join('; ')}` : ''),
          );
      }
      return await fn(repo);
    } finally {
      this.running = false;
      unlock?.();
      repo?.close();
    }
  }

  private markerPath(): string {
    return join(this.deps.dataDir, BACKUP_SUBDIR, 'in-progress');
  }

  /** Whether the last run was cut off (the process died during it). */
  interrupted(): boolean {
    return fs.existsSync(this.markerPath());
  }

  /**
   * After a restart: finish a cut-off run soon. Stripes committed before the crash are not sent
   * again (their chunks are in the index); only the uncommitted tail is.
   */
  resumeSoon(delayMs: number): void {
    if (!this.interrupted()) return;
    this.deps.log('resuming an interrupted backup');
    setTimeout(() => void this.tick(), delayMs).unref();
  }

  stopSchedule(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private again = false;

  /** A run now, or right after the one in progress (file changes arrived during it). */
  requestRun(): void {
    if (this.running) this.again = true;
    else void this.tick();
  }

  private async tick(): Promise<void> {
    if (this.running || this.deps.directories().length === 0) return;
    this.again = false;
    const state = this.deps.group();
    if (state === null || holdersOf(state, this.deps.self).length === 0) return;
    try {
      await this.run();
      this.lastTickProblem = '';
    } catch (error) {
      const problem = (error as Error).message;
      if (
        problem !== this.lastTickProblem &&
        !(error instanceof ControlError && error.code === 'empty-sources')
      )
        this.deps.log(`scheduled backup failed: ${problem}`);
      this.lastTickProblem = problem;
    }
    if (this.again) setTimeout(() => this.requestRun(), 0).unref();
  }

  /** One backup of the configured directories onto the group, then the head to every member. */
  async run(
    options: {
      allowEmpty?: boolean;
      onProgress?: (event: string, data: unknown) => void;
      /** Exclude patterns for this run, added to the config's. */
      exclude?: readonly string[];
    } = {},
  ): Promise<GroupBackupSummary> {
    if (this.running) throw new ControlError('busy', 'a backup is already running');
    const { deps } = this;
    const state = deps.group();
    if (state === null || !state.members.some((m) => m.id === deps.self))
      throw new ControlError('no-group', 'this node is not a member of a group: nothing to back up onto');
    const sources = deps.directories();
    if (sources.length === 0)
      throw new ControlError(
        'no-directories',
        'no directories to back up: set `directories` in the config of the data directory',
      );
    for (const s of sources) {
      if (!fs.existsSync(s))
        throw new ControlError(
          'bad-directory',
          `the directory ${s} does not exist; if it was deleted after a backup, restore it: ${restoreInPlace([s])}`,
        );
    }
    const config = groupRepositoryConfig(deps.dataDir, state, deps.self, sources);
    this.running = true;
    const wasRefused = this.status.state === 'refused';
    const last = this.status.state === 'refused' ? null : this.status.last;
    this.status = { state: 'running', last };
    let repo: Repository | null = null;
    let unlock: (() => void) | null = null;
    try {
      const gate = deps.uploadGate;
      const directory = new NetworkShardDirectory(
        deps.node,
        config.members,
        gate ? { uploadGate: gate } : {},
      );
      repo = await openGroupRepository(config, deps.secret, directory);
      unlock = lockDataDir(config.dataDir);
      removeLeftRecoveryCache(config.dataDir); // a recovery that crashed left it: nothing reads it
      const excludes = {
        patterns: [...(deps.exclude?.() ?? []), ...(options.exclude ?? [])],
        // The data directory (index, shards, reservation) never goes into a backup.
        paths: [deps.dataDir, ...(deps.excludePaths?.() ?? [])],
      };
      const newest = repo.index.listSnapshots().at(-1);
      if (newest !== undefined && options.allowEmpty !== true) {
        const fraction = deps.emptyFraction?.() ?? DEFAULT_EMPTY_FRACTION;
        const needFiles = Math.ceil(fraction * newest.files);
        const needBytes = Math.ceil(fraction * newest.bytes);
        const found = await countSources(sources, needFiles, needBytes, {
          patterns: excludes.patterns,
          paths: excludes.paths,
        });
        if (!found.reached)
          throw this.refuse(
            wasRefused,
            `the directories hold ${found.files} files (${found.bytes} bytes), fewer than ${Number((fraction * 100).toFixed(2))}% of the newest snapshot's ` +
              `${newest.files} files (${newest.bytes} bytes): not backing up the emptiness (a lost disk or mount?).`,
            {
              sources,
              found: { files: found.files, bytes: found.bytes },
              newest: { files: newest.files, bytes: newest.bytes },
            },
          );
      }
      // Left behind only by a run that never finished (a crash, kill -9, power loss).
      fs.writeFileSync(this.markerPath(), String(Date.now()), { mode: 0o600 });
      const journal = new PutJournal(join(config.dataDir, PUT_JOURNAL_FILE));
      let resumed: SettleSummary | null = null;
      if (fs.existsSync(journal.path)) {
        resumed = await settleJournal(repo, journal, Date.now(), deps.log);
        deps.log(
          `resume: ${resumed.completed} stripes of the interrupted run completed from their holders ` +
            `(${resumed.shardsLanded} shards had landed and were not sent again, ${resumed.shardsRebuilt} rebuilt), ` +
            `${resumed.abandoned} dropped, ${resumed.deferred} deferred`,
        );
      }
      const { backup } = await import('../../pipeline/backup.ts');
      let summary: BackupSummary;
      let lastProgressMs = 0;
      try {
        summary = await backup(
          { ...repo, directory: journaling(repo.directory, journal) },
          {
            allowEmpty: options.allowEmpty === true,
            configText: deps.configText?.() ?? null,
            exclude: excludes.patterns,
            excludePaths: excludes.paths,
            onStripe: (seq) => {
              journal.committed(seq);
              options.onProgress?.('stripe', { seq });
            },
            hooks: {
              // At most one progress line per PROGRESS_EVERY_MS (the scan reports every file).
              onProgress: (s) => {
                const now = Date.now();
                if (now - lastProgressMs < PROGRESS_EVERY_MS) return;
                lastProgressMs = now;
                options.onProgress?.('scan', {
                  files: s.files,
                  bytes: s.bytes,
                  bytesRead: s.bytesRead,
                  filesUnchanged: s.filesUnchanged,
                  bytesUnchanged: s.bytesUnchanged,
                });
              },
            },
          },
        );
      } catch (error) {
        if (error instanceof EmptySourcesError && newest !== undefined)
          throw this.refuse(wasRefused, error.message, {
            sources,
            found: { files: 0, bytes: 0 },
            newest: { files: newest.files, bytes: newest.bytes },
          });
        throw error;
      }
      const head = networkHead(repo);
      if (head === null) throw new ControlError('internal', 'a snapshot was saved but the index has no head');
      const heads = await pushHead(deps.node, deps.group() ?? state, deps.self, head);
      for (const f of heads.failed)
        deps.log(`head ${head.seq} not stored on ${f.member.slice(-8)}: ${f.reason}`);
      deps.log(
        `backup: snapshot ${summary.snapshotId.slice(0, 16)} (${summary.scan.files} files, ${summary.stored.stripes} stripes); ` +
          `head ${head.seq} on ${heads.storedOn.length} of ${heads.storedOn.length + heads.failed.length} members`,
      );
      this.status = { state: 'idle', last: { atMs: summary.timeMs, snapshotId: summary.snapshotId } };
      journal.rewrite([]); // every stripe of this run is committed
      return { ...summary, holders: config.members.length, heads, resumed };
    } finally {
      if (this.status.state === 'running') this.status = { state: 'idle', last };
      this.running = false;
      if (unlock !== null) fs.rmSync(this.markerPath(), { force: true });
      unlock?.();
      repo?.close();
    }
  }
}
