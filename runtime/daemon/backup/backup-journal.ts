/**
 * The put journal of the owner's backups: resume after a crash without re-sending what landed
 * (issue 7). The index records a stripe only once all its k+m shards were acknowledged; a stripe
 * whose puts were in flight when the process died is in no index, yet some or all of its shards
 * may sit on their holders. Before each put the stripe writer's shard is noted here (stripe,
 * position, shard id, member); a committed stripe leaves the journal. The next run, before it
 * scans, settles every stripe the journal names and the index does not (`settleJournal`).
 *
 * File `<data dir>/backup/put-journal`, one JSON object per line, version 1:
 *   {"v":1,"stripe":"<owner>/<seq>/<salt>","idx":0,"shard":"<64 hex>","member":"<id>",
 *    "fileBytes":n,"k":k,"m":m,"shardBytes":n}
 * Appended without fsync: the journal only saves traffic (a line lost to a power cut means those
 * shards are sent again); every line is checked against the holder (`has`) before it is trusted.
 * Bounded: at most MAX_JOURNAL_BYTES are read; the file is rewritten with only the pending
 * stripes whenever it grows past COMPACT_BYTES.
 */
import * as fs from 'node:fs';
import { parseStripeId, stripeSeqOf } from '../../../engine/index.ts';
import { allSettledOrThrow } from '../../pipeline/each-limit.ts';
import { recoverStripe } from '../../pipeline/recover-stripe.ts';
import type { Repository } from '../../pipeline/repository.ts';
import { decodeShardHeader } from '../../pipeline/shard-format.ts';
import { writeFileAtomic } from '../../store/atomic-file.ts';
import { isShardId, type ShardDirectory, type ShardStore } from '../../store/shard-store.ts';

export const JOURNAL_VERSION = 1;
/** A journal is read up to this size (a run has at most a few stripes in flight at once). */
export const MAX_JOURNAL_BYTES = 16 * 1024 * 1024;
/** The file is rewritten with the pending stripes only once it grows past this. */
const COMPACT_BYTES = 256 * 1024;

export interface JournalRow {
  stripe: string;
  idx: number;
  shard: string;
  member: string;
  fileBytes: number;
  k: number;
  m: number;
  shardBytes: number;
}

function validRow(x: unknown): x is JournalRow {
  if (x === null || typeof x !== 'object') return false;
  const r = x as Record<string, unknown>;
  const int = (v: unknown, min: number, max: number): boolean =>
    typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= max;
  return (
    r.v === JOURNAL_VERSION &&
    typeof r.stripe === 'string' &&
    r.stripe.length > 0 &&
    r.stripe.length <= 256 &&
    isShardId(r.shard) &&
    typeof r.member === 'string' &&
    r.member.length > 0 &&
    r.member.length <= 128 &&
    int(r.k, 1, 24) &&
    int(r.m, 1, 6) &&
    int(r.idx, 0, (r.k as number) + (r.m as number) - 1) &&
    int(r.fileBytes, 1, 2 ** 31) &&
    int(r.shardBytes, 8, 2 ** 31)
  );
}

export class PutJournal {
  /** Rows of stripes not yet committed, by stripe id. */
  private readonly pending = new Map<string, JournalRow[]>();
  private bytes: number;

  constructor(readonly path: string) {
    this.bytes = fs.existsSync(path) ? fs.statSync(path).size : 0;
  }

  /** Every well-formed row on disk (malformed lines are skipped: they only cost a re-send). */
  read(): JournalRow[] {
    if (!fs.existsSync(this.path)) return [];
    const fd = fs.openSync(this.path, 'r');
    let text: string;
    try {
      const size = Math.min(fs.fstatSync(fd).size, MAX_JOURNAL_BYTES);
      const buf = Buffer.alloc(size);
      const n = fs.readSync(fd, buf, 0, size, 0);
      text = buf.subarray(0, n).toString('utf8');
    } finally {
      fs.closeSync(fd);
    }
    const rows: JournalRow[] = [];
    for (const line of text.split('\n')) {
      if (line.length === 0) continue;
      try {
        const parsed = JSON.parse(line) as unknown;
        if (validRow(parsed)) {
          const { stripe, idx, shard, member, fileBytes, k, m, shardBytes } = parsed;
          rows.push({ stripe, idx, shard, member, fileBytes, k, m, shardBytes });
        }
      } catch {
        // a line cut by the crash
      }
    }
    return rows;
  }

  record(row: JournalRow): void {
    let rows = this.pending.get(row.stripe);
    if (!rows) {
      rows = [];
      this.pending.set(row.stripe, rows);
    }
    rows.push(row);
    const line = `${JSON.stringify({ v: JOURNAL_VERSION, ...row })}\n`;
    fs.appendFileSync(this.path, line, { mode: 0o600 });
    this.bytes += Buffer.byteLength(line);
  }

  /** Stripe `seq` is in the index now: forget it (and shrink the file now and then). */
  committed(seq: number): void {
    for (const stripeId of [...this.pending.keys()])
      if (parseStripeId(stripeId)?.seq === seq) this.pending.delete(stripeId);
    if (this.bytes > COMPACT_BYTES) this.rewrite([...this.pending.values()].flat());
  }

  /** Replace the file's content with `rows` (the stripes still to settle), or remove it. */
  rewrite(rows: JournalRow[]): void {
    if (rows.length === 0) {
      fs.rmSync(this.path, { force: true });
      this.bytes = 0;
      return;
    }
    const text = rows.map((r) => `${JSON.stringify({ v: JOURNAL_VERSION, ...r })}\n`).join('');
    writeFileAtomic(this.path, Buffer.from(text));
    this.bytes = Buffer.byteLength(text);
  }
}

/**
 * The directory the stripe writer puts through: each put is journaled (its shard's trailer gives
 * the stripe and position) before it is sent. Everything else passes through.
 */
export function journaling(directory: ShardDirectory, journal: PutJournal): ShardDirectory {
  return {
    members: () => directory.members(),
    storeFor: (member) => {
      const store = directory.storeFor(member);
      const wrapped: ShardStore = {
        put: (id, bytes) => {
          const { header } = decodeShardHeader(bytes);
          journal.record({
            stripe: header.stripeId,
            idx: header.index,
            shard: id,
            member,
            fileBytes: bytes.length,
            k: header.k,
            m: header.m,
            shardBytes: header.bodyBytes,
          });
          return store.put(id, bytes);
        },
        get: (id) => store.get(id),
        has: (id) => store.has(id),
        list: () => store.list(),
        delete: (id) => store.delete(id),
        usage: () => store.usage(),
      };
      return wrapped;
    },
  };
}

export interface SettleSummary {
  /** Stripes of the interrupted run committed from the shards already on their holders. */
  completed: number;
  /** Their shards that had landed: not sent again. */
  shardsLanded: number;
  /** Their shards that had not landed, rebuilt from the landed ones and put. */
  shardsRebuilt: number;
  /** Stripes with fewer than k shards landed: dropped (their landed shards deleted). */
  abandoned: number;
  /** Stripes left for the next run (a holder did not answer). */
  deferred: number;
}

/** Bound on the stripes one settle looks at (a run has at most a few in flight). */
const MAX_SETTLE_STRIPES = 1024;

/** The journal's rows by stripe (at most MAX_SETTLE_STRIPES stripes). */
function rowsByStripe(journal: PutJournal): Map<string, JournalRow[]> {
  const byStripe = new Map<string, JournalRow[]>();
  for (const row of journal.read()) {
    let rows = byStripe.get(row.stripe);
    if (!rows) {
      if (byStripe.size >= MAX_SETTLE_STRIPES) break;
      rows = [];
      byStripe.set(row.stripe, rows);
    }
    rows.push(row);
  }
  return byStripe;
}

interface Holding {
  /** The journaled shard of each index (rows of the first row's shape). */
  byIdx: Map<number, JournalRow>;
  /** The shards their holders say they have. */
  landed: JournalRow[];
  /** Holders that did not answer. */
  unanswered: number;
}

/** Asks each journaled shard's holder (a current member) whether it has the shard. */
async function holdingOf(repo: Repository, rows: JournalRow[]): Promise<Holding> {
  const { k, m, shardBytes } = rows[0]!;
  const byIdx = new Map<number, JournalRow>();
  for (const r of rows) if (r.k === k && r.m === m && r.shardBytes === shardBytes) byIdx.set(r.idx, r);
  const members = new Set(repo.directory.members());
  const landed: JournalRow[] = [];
  let unanswered = 0;
  await Promise.all(
    [...byIdx.values()]
      .filter((r) => members.has(r.member))
      .map(async (r) => {
        try {
          if (await repo.directory.storeFor(r.member).has(r.shard)) landed.push(r);
        } catch {
          unanswered++;
        }
      }),
  );
  return { byIdx, landed, unanswered };
}

/** Rebuilds the shards that did not land from those that did, puts them, commits the stripe. */
async function completeStripe(
  repo: Repository,
  stripeId: string,
  seq: number,
  h: Holding,
  nowMs: number,
): Promise<{ rebuilt: number }> {
  const { k, m, shardBytes } = h.landed[0]!;
  const recovered = await recoverStripe(repo.directory, repo.keys.dataKey, repo.owner, {
    stripeId,
    seq,
    k,
    m,
    shardBytes,
    present: h.landed.map((r) => ({
      idx: r.idx,
      shardId: r.shard,
      member: r.member,
      fileBytes: r.fileBytes,
    })),
    memberFor: (idx) => h.byIdx.get(idx)!.member,
  });
  for (const s of recovered.rebuilt) {
    if (s.shardId !== h.byIdx.get(s.idx)!.shard)
      throw new Error(`shard ${s.idx} rebuilds to another id than the one journaled`);
  }
  // All puts settle before a failure is reported: the caller may then delete the landed shards.
  await allSettledOrThrow(
    recovered.rebuilt.map((s) => repo.directory.storeFor(s.member).put(s.shardId, s.bytes)),
  );
  repo.index.commitStripe({ ...recovered.stripe, createdMs: nowMs }, recovered.shards, recovered.objects, []);
  return { rebuilt: recovered.rebuilt.length };
}

/**
 * One journaled stripe the index does not know: completed (every shard journaled, at least k
 * landed), deferred (holders that did not answer may still make it), or abandoned (its landed
 * shards deleted, best effort: a later prune removes what is left; its objects go into new
 * stripes).
 */
async function settleStripe(
  repo: Repository,
  stripeId: string,
  seq: number,
  rows: JournalRow[],
  nowMs: number,
  log: (line: string) => void,
): Promise<{ outcome: 'completed' | 'deferred' | 'abandoned'; landed: number; rebuilt: number }> {
  const { k, m } = rows[0]!;
  const h = await holdingOf(repo, rows);
  if (h.byIdx.size === k + m && h.landed.length >= k) {
    try {
      const { rebuilt } = await completeStripe(repo, stripeId, seq, h, nowMs);
      return { outcome: 'completed', landed: h.landed.length, rebuilt };
    } catch (error) {
      log(`resume: stripe ${stripeId} could not be completed: ${(error as Error).message}`);
      if (h.unanswered > 0) return { outcome: 'deferred', landed: 0, rebuilt: 0 };
    }
  } else if (h.unanswered > 0 && h.landed.length + h.unanswered >= k) {
    return { outcome: 'deferred', landed: 0, rebuilt: 0 }; // maybe enough once every holder answers
  }
  await Promise.all(
    h.landed.map((r) =>
      repo.directory
        .storeFor(r.member)
        .delete(r.shard)
        .catch(() => undefined),
    ),
  );
  return { outcome: 'abandoned', landed: 0, rebuilt: 0 };
}

/**
 * Settles the journal's stripes that the index does not know: asks each shard's holder `has`;
 * with every shard there the stripe is committed as it is; with at least k there the missing
 * ones are rebuilt from those (Reed-Solomon) and put, then it is committed; with fewer than k
 * the landed ones are deleted and the stripe is dropped (its objects go into new stripes). The
 * objects of a committed stripe are then known to the index: the scan that follows finds them
 * and sends nothing for them.
 */
export async function settleJournal(
  repo: Repository,
  journal: PutJournal,
  nowMs: number,
  log: (line: string) => void,
): Promise<SettleSummary> {
  const summary: SettleSummary = {
    completed: 0,
    shardsLanded: 0,
    shardsRebuilt: 0,
    abandoned: 0,
    deferred: 0,
  };
  const keep: JournalRow[] = [];
  for (const [stripeId, rows] of rowsByStripe(journal)) {
    const seq = stripeSeqOf(stripeId, repo.owner);
    if (seq === null || repo.index.getStripe(seq) !== undefined) continue; // not ours, or committed
    const r = await settleStripe(repo, stripeId, seq, rows, nowMs, log);
    summary[r.outcome]++;
    summary.shardsLanded += r.landed;
    summary.shardsRebuilt += r.rebuilt;
    if (r.outcome === 'deferred') keep.push(...rows);
  }
  journal.rewrite(keep);
  return summary;
}
