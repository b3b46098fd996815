/**
 * Where an owner's shards are now (docs/group-backup.md, "Repair"; docs/status.md). The owner's
 * index names each shard's holder at backup time; repairs rebuild a lost shard (same id) onto
 * another member and migrations move one. Given the index rows and the members' listings, this
 * decides which rows now name the wrong member and where each such shard sits.
 *
 * - A shard listed by its recorded holder stays.
 * - A shard listed elsewhere moves to a listing member, preferring one that holds no other shard
 *   of the stripe (the order is by member id: deterministic).
 * - A shard nobody lists stays as it is when its recorded holder did not list (it may be offline);
 *   when the recorded holder listed without it, it is `gone`: nobody says they hold it, so status
 *   counts it as lost (a shard migrated to a member later removed is no longer held by the member
 *   it left), while a read still falls back to the stripe's other shards. With listing times, a
 *   listing asked before the stripe was committed says nothing about it (the shard may have been
 *   put after): such a row is not gone.
 */
import { EngineError } from './errors.ts';

export interface ShardRow {
  readonly seq: number;
  readonly idx: number;
  readonly shardId: string;
  readonly member: string;
  /** When the owner committed the stripe (its clock); listings asked before it are not evidence. */
  readonly createdMs?: number | undefined;
}

export interface ShardRelocation {
  readonly seq: number;
  readonly idx: number;
  readonly shardId: string;
  readonly from: string;
  readonly to: string;
}

/** Bound on the rows of one call (an index of a few TB of stripes). */
export const MAX_RELOCATION_ROWS = 10_000_000;

export function relocateShards(
  rows: readonly ShardRow[],
  where: ReadonlyMap<string, readonly string[]>,
  listed: ReadonlySet<string>,
  /** When each listed member's listing was asked (the owner's clock); without it every listing counts. */
  listedAtMs?: ReadonlyMap<string, number>,
): { moves: ShardRelocation[]; gone: ShardRow[]; missing: number } {
  if (rows.length > MAX_RELOCATION_ROWS)
    throw new EngineError(
      'invalid-argument',
      `at most ${MAX_RELOCATION_ROWS} shard rows, got ${rows.length}`,
    );
  const byStripe = new Map<number, Set<string>>();
  for (const r of rows) {
    const s = byStripe.get(r.seq) ?? new Set<string>();
    s.add(r.member);
    byStripe.set(r.seq, s);
  }
  const moves: ShardRelocation[] = [];
  const gone: ShardRow[] = [];
  for (const r of rows) {
    const at = where.get(r.shardId);
    if (at === undefined || at.length === 0) {
      if (listed.has(r.member) && listedAfter(r, listedAtMs)) gone.push(r);
      continue;
    }
    if (at.includes(r.member)) continue;
    const taken = byStripe.get(r.seq)!;
    const sorted = [...at].sort();
    const to = sorted.find((m) => !taken.has(m)) ?? sorted[0]!;
    taken.add(to);
    moves.push({ seq: r.seq, idx: r.idx, shardId: r.shardId, from: r.member, to });
  }
  return { moves, gone, missing: gone.length };
}

/** Whether the recorded holder's listing was asked after the row's stripe was committed. */
function listedAfter(r: ShardRow, listedAtMs: ReadonlyMap<string, number> | undefined): boolean {
  if (listedAtMs === undefined || r.createdMs === undefined) return true;
  const atMs = listedAtMs.get(r.member);
  return atMs !== undefined && atMs > r.createdMs;
}
