/**
 * Where an owner's shards are now (docs/group-backup.md, "Repair"; docs/status.md). The owner's
 * index names each shard's holder at backup time; repairs rebuild a lost shard (same id) onto
 * another member and migrations move one. Given the index rows and the members' listings, this
 * decides which rows now name the wrong member and where each such shard sits.
 *
 * - A shard listed by its recorded holder stays.
 * - A shard listed elsewhere moves to a listing member, preferring one that holds no other shard
 *   of the stripe (the order is by member id: deterministic).
 * - A shard nobody lists stays as it is; it is `missing` when its recorded holder listed.
 */
import { EngineError } from './errors.ts';

export interface ShardRow {
  readonly seq: number;
  readonly idx: number;
  readonly shardId: string;
  readonly member: string;
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
): { moves: ShardRelocation[]; missing: number } {
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
  let missing = 0;
  for (const r of rows) {
    const at = where.get(r.shardId);
    if (at === undefined || at.length === 0) {
      if (listed.has(r.member)) missing++;
      continue;
    }
    if (at.includes(r.member)) continue;
    const taken = byStripe.get(r.seq)!;
    const sorted = [...at].sort();
    const to = sorted.find((m) => !taken.has(m)) ?? sorted[0]!;
    taken.add(to);
    moves.push({ seq: r.seq, idx: r.idx, shardId: r.shardId, from: r.member, to });
  }
  return { moves, missing };
}
