/**
 * Retention: which snapshots to keep (restic's `forget` semantics), and garbage collection of
 * stripes that no remaining snapshot needs.
 *
 * Policy rules are applied newest first; a snapshot is kept if any rule keeps it:
 *   keepLast N    the N newest snapshots
 *   keepDaily N   the newest snapshot of each of the N newest UTC days that have one
 *   keepWeekly N  the newest snapshot of each of the N newest ISO weeks (UTC) that have one
 * GC keeps a stripe while any object in it is reachable; stripes with no live object are deleted
 * from every member (partly live stripes are kept whole: no repacking yet).
 */
import { PipelineError } from './errors.ts';
import type { Repository } from './repository.ts';
import { decodeShardHeader } from './shard-format.ts';
import { ObjectReader } from './stripe-reader.ts';
import { decodeSnapshot, decodeTree, ENTRY_DIR, ENTRY_FILE } from './tree.ts';

export interface RetentionPolicy {
  keepLast?: number;
  keepDaily?: number;
  keepWeekly?: number;
}

export interface SnapshotRef {
  id: string;
  timeMs: number;
}

function dayKey(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** ISO-8601 week key (UTC), e.g. "2026-W48". */
export function weekKey(ms: number): string {
  const d = new Date(ms);
  const date = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
  const dayNumber = date.getUTCDay() || 7; // Monday = 1 ... Sunday = 7
  date.setUTCDate(date.getUTCDate() + 4 - dayNumber); // the Thursday of this week decides the year
  const yearStart = Date.UTC(date.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((date.getTime() - yearStart) / 86_400_000 + 1) / 7);
  return `${date.getUTCFullYear()}-W${String(week).padStart(2, '0')}`;
}

export function selectForget(
  snapshots: readonly SnapshotRef[],
  policy: RetentionPolicy,
): { keep: SnapshotRef[]; forget: SnapshotRef[] } {
  const rules = [policy.keepLast, policy.keepDaily, policy.keepWeekly];
  for (const n of rules) {
    if (n !== undefined && (!Number.isInteger(n) || n < 0 || n > 1_000_000)) {
      throw new PipelineError('invalid-argument', `keep counts must be whole numbers >= 0, got ${n}`);
    }
  }
  if (rules.every((n) => !n)) {
    throw new PipelineError(
      'invalid-argument',
      'a retention policy must keep something (--keep-last, --keep-daily or --keep-weekly)',
    );
  }
  const sorted = [...snapshots].sort((a, b) => b.timeMs - a.timeMs || (a.id < b.id ? 1 : -1));
  const keep = new Set<string>();
  for (const s of sorted.slice(0, policy.keepLast ?? 0)) keep.add(s.id);
  const bucketRule = (n: number | undefined, key: (ms: number) => string): void => {
    if (!n) return;
    const seen = new Set<string>();
    for (const s of sorted) {
      const k = key(s.timeMs);
      if (seen.has(k)) continue;
      if (seen.size >= n) break;
      seen.add(k);
      keep.add(s.id);
    }
  };
  bucketRule(policy.keepDaily, dayKey);
  bucketRule(policy.keepWeekly, weekKey);
  return { keep: sorted.filter((s) => keep.has(s.id)), forget: sorted.filter((s) => !keep.has(s.id)) };
}

export interface GcSummary {
  liveObjects: number;
  stripesDeleted: number;
  stripesKept: number;
  partlyLiveStripes: number;
  shardsDeleted: number;
  orphanShardsDeleted: number;
  fileCacheRowsPruned: number;
}

/** Every object id reachable from the remaining snapshots (hex). */
export async function liveObjects(repo: Repository, reader: ObjectReader): Promise<Set<string>> {
  const live = new Set<string>();
  const walk = async (treeIds: Buffer[]): Promise<void> => {
    const key = treeIds.map((id) => id.toString('hex')).join('');
    if (treeIds.length > 0 && treeIds.every((id) => live.has(id.toString('hex')))) return; // seen subtree
    for (const id of treeIds) live.add(id.toString('hex'));
    if (key.length === 0) return;
    for (const entry of decodeTree(await reader.readAll(treeIds))) {
      if (entry.type === ENTRY_DIR) await walk(entry.tree);
      else if (entry.type === ENTRY_FILE) for (const c of entry.chunks) live.add(c.toString('hex'));
    }
  };
  for (const snap of repo.index.listSnapshots()) {
    live.add(snap.id.toString('hex'));
    const snapshot = decodeSnapshot(await reader.read(snap.id));
    for (const root of snapshot.roots) await walk(root.dir.tree);
  }
  return live;
}

/** Dead stripes forgotten per index transaction (each is one pass over the objects). */
const GC_BATCH_STRIPES = 256;

export async function collectGarbage(repo: Repository): Promise<GcSummary> {
  const reader = new ObjectReader(repo.index, repo.directory, repo.keys, 4);
  const live = await liveObjects(repo, reader);
  const summary: GcSummary = {
    liveObjects: live.size,
    stripesDeleted: 0,
    stripesKept: 0,
    partlyLiveStripes: 0,
    shardsDeleted: 0,
    orphanShardsDeleted: 0,
    fileCacheRowsPruned: 0,
  };
  const counts = repo.index.liveObjectCounts((id) => live.has(id.toString('hex')));
  const dead: number[] = [];
  for (const seq of repo.index.allStripeSeqs()) {
    const c = counts.get(seq) ?? { objects: 0, live: 0 };
    if (c.live > 0) {
      summary.stripesKept++;
      if (c.live < c.objects) summary.partlyLiveStripes++;
    } else dead.push(seq);
  }
  // Forget first, a batch at a time: a crash now leaves orphans, never dangling rows.
  for (let at = 0; at < dead.length; at += GC_BATCH_STRIPES) {
    const batch = dead.slice(at, at + GC_BATCH_STRIPES);
    const shards = batch.map((seq) => repo.index.getShards(seq));
    repo.index.deleteStripes(batch);
    for (const s of shards.flat()) {
      await repo.directory.storeFor(s.member).delete(s.shardId);
      summary.shardsDeleted++;
    }
    summary.stripesDeleted += batch.length;
  }
  // Orphans: shards of this owner that no stripe row names (left by a run killed mid-stripe).
  const known = repo.index.allShardIds();
  for (const member of repo.directory.members()) {
    const store = repo.directory.storeFor(member);
    for (const id of await store.list()) {
      if (known.has(id)) continue;
      try {
        const { header } = decodeShardHeader(await store.get(id));
        if (header.owner !== repo.owner) continue;
      } catch {
        continue; // unreadable: leave it for the store's own repair
      }
      await store.delete(id);
      summary.orphanShardsDeleted++;
    }
  }
  summary.fileCacheRowsPruned = repo.index.pruneFileCache();
  return summary;
}
