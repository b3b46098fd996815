/**
 * This owner's exposure for the alert rules: the stripes and holders in its backup index
 * (`<data dir>/backup/index.sqlite`, opened read-only beside a running backup; WAL allows it) and
 * the members' sightings, through the engine's `exposure` (the same function status and the
 * simulator use). Stripes of identical shape and holders are passed once with a count.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import {
  type CountedStripe,
  exposure,
  MAX_STRIPES_PER_CALL,
  type MemberSighting,
} from '../../../engine/index.ts';

export const INDEX_FILE = join('backup', 'index.sqlite');

export interface OwnIndexFacts {
  /** null when there is no index yet (nothing backed up). */
  stripes: CountedStripe[] | null;
  /** The newest snapshot's time; null before the first. */
  lastSnapshotMs: number | null;
}

/** Reads the index once (read-only); throws when it exists but cannot be read. */
export function readOwnIndex(dataDir: string, owner: string): OwnIndexFacts {
  const file = join(dataDir, INDEX_FILE);
  if (!fs.existsSync(file)) return { stripes: null, lastSnapshotMs: null };
  const db = new Database(file, { readonly: true, fileMustExist: true, timeout: 5_000 });
  try {
    const last = db.prepare<[], { t: number | null }>('SELECT MAX(time_ms) AS t FROM snapshots').get();
    const count = db.prepare<[], { n: number }>('SELECT COUNT(*) AS n FROM stripes').get()?.n ?? 0;
    if (count > MAX_STRIPES_PER_CALL) throw new Error(`${count} stripes: more than one exposure call takes`);
    const rows = db
      .prepare<[], { k: number; m: number; shard_bytes: number; holders: string | null }>(
        `SELECT s.k AS k, s.m AS m, s.shard_bytes AS shard_bytes,
                (SELECT group_concat(sh.idx || '=' || sh.member, ',') FROM shards sh WHERE sh.stripe_seq = s.seq) AS holders
           FROM stripes s`,
      )
      .all();
    const groups = new Map<string, CountedStripe & { count: number }>();
    for (const r of rows) {
      const holders: (string | null)[] = new Array(r.k + r.m).fill(null);
      for (const pair of (r.holders ?? '').split(',')) {
        const eq = pair.indexOf('=');
        if (eq < 0) continue;
        const idx = Number(pair.slice(0, eq));
        if (Number.isInteger(idx) && idx >= 0 && idx < holders.length) holders[idx] = pair.slice(eq + 1);
      }
      const key = `${r.k}/${r.m}/${r.shard_bytes}/${holders.join(',')}`;
      const g = groups.get(key);
      if (g !== undefined) g.count++;
      else
        groups.set(key, {
          stripeId: `group-${groups.size}`,
          owner,
          dataShards: r.k,
          parityShards: r.m,
          shardBytes: r.shard_bytes,
          holders,
          count: 1,
        });
    }
    return { stripes: [...groups.values()], lastSnapshotMs: last?.t ?? null };
  } finally {
    db.close();
  }
}

/** Exposed and stored bytes of this owner's stripes under tolerance `f` now. */
export function ownExposure(
  stripes: CountedStripe[],
  members: MemberSighting[],
  tolerance: number,
  nowMs: number,
): { exposedBytes: number; storedBytes: number; tolerance: number } {
  const report = exposure({ members, stripes, tolerance, nowMs });
  return { exposedBytes: report.totals.exposedBytes, storedBytes: report.totals.storedBytes, tolerance };
}
