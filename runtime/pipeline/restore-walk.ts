/**
 * The tree walk of a restore, in stripe order (docs/design.md §6.1, "How the trees are read").
 *
 * A backup writes a directory's tree after the trees of everything below it, into whichever stripe
 * is open then, so trees lie scattered among the data stripes, a child's never in a later stripe
 * than its parent's. Walked depth first, a restore went back and forth between those stripes and
 * read some of them three or four times (a stripe read is k shard files, each hashed, then joined):
 * a 267 MB tree of 10 stripes read 31 before writing a byte.
 *
 * - A tree piece in a store on a local disk is read alone, its bytes only (`ObjectReader.openRange`:
 *   authenticated by its tag and id like any object); so is one on a member over the network,
 *   with a range request, when its stripe holds few pieces (`openRangeAsync`). The stripe is read
 *   only when that fails.
 * - The pieces that need their stripe are kept by stripe, and the latest such stripe is read next:
 *   every tree in it is opened at once, and the trees below them are in that stripe or an earlier
 *   one, so each stripe is read at most once.
 * - A directory whose pieces are all open is visited by `run`, one at a time, and `run` lets the
 *   caller pause between two visits (`between`): a restore restores the files gathered so far
 *   before the walk goes on, so its memory does not grow with the snapshot's file count. What
 *   waits meanwhile is bounded by one stripe's tree pieces.
 */
import { eachLimit } from './each-limit.ts';
import { assert } from './errors.ts';
import type { IndexDb } from './index-db.ts';
import type { ObjectReader } from './stripe-reader.ts';
import { decodeTree, type TreeEntry } from './tree.ts';

/** A stripe with more tree pieces than this is read whole, not piece by piece, from a member. */
export const MAX_REMOTE_PIECES = 64;
/** Range requests for tree pieces in flight at once. */
const REMOTE_PIECES_IN_FLIGHT = 8;

/** A directory to read: the pieces of its tree, and what the visitor needs to place its entries. */
export interface WalkDir<C> {
  tree: readonly Buffer[];
  ctx: C;
}

/** A directory's entries, or why they cannot be read; returns the directories below to read too. */
export type Visit<C> = (ctx: C, entries: TreeEntry[] | Error) => WalkDir<C>[];

/** Called after each directory visited; the walk waits for a promise it returns. */
export type Between = () => Promise<void> | undefined;

interface Reading<C> {
  dir: WalkDir<C>;
  pieces: (Buffer | null)[];
  left: number;
  failed: boolean;
}

interface Piece<C> {
  reading: Reading<C>;
  n: number;
  offset: number;
  sealedBytes: number;
  codec: number;
}

export class TreeWalk<C> {
  /** Pieces still to open, by stripe sequence number. */
  private readonly pending = new Map<number, Piece<C>[]>();
  private piecesLeft = 0;
  /** Directories with every piece open, not yet visited (in the order they completed). */
  private ready: Reading<C>[] = [];

  constructor(
    private readonly index: IndexDb,
    private readonly reader: ObjectReader,
    private readonly visit: Visit<C>,
  ) {}

  /**
   * Reads `roots` and every directory the visitor returns below them; after each visit, waits for
   * what `between` returns.
   */
  async run(roots: readonly WalkDir<C>[], between: Between = () => undefined): Promise<void> {
    for (const dir of roots) this.add(dir);
    // Each round opens every piece pending in one stripe; a tree is opened once, so the rounds
    // are bounded by the trees the snapshot holds.
    while (this.pending.size > 0 || this.ready.length > 0) {
      if (this.ready.length > 0) {
        await this.visitReady(between);
        continue;
      }
      const seq = latest(this.pending.keys());
      const all = this.pending.get(seq)!;
      this.pending.delete(seq);
      // A piece read alone (a local store; a member over the network when the stripe holds few
      // pieces) spares reading the stripe; the others need it.
      const pieces = await this.openAlone(seq, all);
      if (pieces.length === 0) continue;
      await this.openFromStripe(seq, pieces);
    }
    assert(this.piecesLeft === 0, 'every tree piece of the walk was opened or failed');
  }

  private add(dir: WalkDir<C>): void {
    const reading: Reading<C> = {
      dir,
      pieces: dir.tree.map(() => null),
      left: dir.tree.length,
      failed: false,
    };
    if (dir.tree.length === 0) {
      this.done(reading);
      return;
    }
    const rows = dir.tree.map((id) => this.index.getObject(id));
    const missing = rows.indexOf(undefined);
    if (missing >= 0) {
      const id = dir.tree[missing]!.toString('hex');
      this.fail(reading, new Error(`object ${id} is not in the index`));
      return;
    }
    rows.forEach((row, n) => {
      const list = this.pending.get(row!.stripeSeq) ?? [];
      list.push({ reading, n, offset: row!.offset, sealedBytes: row!.sealedBytes, codec: row!.codec });
      this.pending.set(row!.stripeSeq, list);
      this.piecesLeft++;
    });
  }

  /**
   * Opens the stripe's pieces from their bytes alone where it can; returns those that must be
   * opened from the stripe. A local store reads each piece at once. A member over the network is
   * asked for each piece's bytes (a range request) when the stripe holds at most
   * MAX_REMOTE_PIECES of them, a few at a time: a round trip each, where the stripe would be k
   * whole shards (a 267 MB tree read 80 MiB of stripes this way before its first file).
   */
  private async openAlone(seq: number, all: Piece<C>[]): Promise<Piece<C>[]> {
    const live = all.filter((p) => {
      if (!p.reading.failed) return true;
      this.piecesLeft--;
      return false;
    });
    const id = (p: Piece<C>) => p.reading.dir.tree[p.n]!;
    const left = live.filter((p) => {
      const plain = this.reader.openRange(seq, id(p), p.offset, p.sealedBytes, p.codec);
      if (plain !== null) this.accept(p, plain);
      return plain === null;
    });
    if (left.length === 0 || left.length > MAX_REMOTE_PIECES) return left;
    const opened: (Buffer | null)[] = new Array(left.length).fill(null);
    await eachLimit(left, REMOTE_PIECES_IN_FLIGHT, async (p, i) => {
      opened[i] = await this.reader.openRangeAsync(seq, id(p), p.offset, p.sealedBytes, p.codec);
    });
    left.forEach((p, i) => {
      if (opened[i] !== null) this.accept(p, opened[i]!);
    });
    return left.filter((_, i) => opened[i] === null);
  }

  /** An opened piece: its directory is read once it has every piece. */
  private accept(p: Piece<C>, plain: Buffer): void {
    this.piecesLeft--;
    p.reading.pieces[p.n] = plain;
    if (--p.reading.left === 0) this.done(p.reading);
  }

  /**
   * Opens the pieces from their stripe's area; pieces that fail in an area read unverified are
   * opened again from the verified (or rebuilt) stripe, and fail for good only there.
   */
  private async openFromStripe(seq: number, pieces: Piece<C>[]): Promise<void> {
    const stripes = this.reader.stripes;
    let left = pieces;
    for (let attempt = 0; attempt < 2 && left.length > 0; attempt++) {
      let final = false;
      let read = false;
      // Only a failure to read the area drops the pieces; one while opening them is not caught.
      const openAll = (area: Buffer): Piece<C>[] => {
        read = true;
        final = stripes.isVerified(seq);
        return left.filter((p) => !this.open(area, p, final));
      };
      try {
        left = await stripes.withArea(seq, openAll, attempt > 0);
      } catch (error) {
        if (read) throw error;
        for (const p of left) this.drop(p, error as Error);
        return;
      }
      if (final) break;
    }
  }

  /** Opens one piece; false (and nothing done) when it fails and `final` is false. */
  private open(area: Buffer, p: Piece<C>, final: boolean): boolean {
    const r = p.reading;
    if (r.failed) {
      this.piecesLeft--;
      return true;
    }
    let plain: Buffer;
    try {
      plain = this.reader.openIn(area, r.dir.tree[p.n]!, p.offset, p.sealedBytes, p.codec);
    } catch (error) {
      if (!final) return false;
      this.drop(p, error as Error);
      return true;
    }
    this.accept(p, plain);
    return true;
  }

  /** A piece that cannot be opened: its directory fails. */
  private drop(p: Piece<C>, error: Error): void {
    this.piecesLeft--;
    this.fail(p.reading, error);
  }

  /** Visits the directories whose pieces are all open, pausing after each as `between` says. */
  private async visitReady(between: Between): Promise<void> {
    const ready = this.ready;
    this.ready = [];
    for (const r of ready) {
      this.visitOpened(r);
      const pause = between();
      if (pause) await pause;
    }
  }

  private done(r: Reading<C>): void {
    this.ready.push(r);
  }

  private visitOpened(r: Reading<C>): void {
    let entries: TreeEntry[];
    try {
      entries = decodeTree(Buffer.concat(r.pieces as Buffer[]));
    } catch (error) {
      this.fail(r, error as Error);
      return;
    }
    r.pieces.fill(null);
    for (const child of this.visit(r.dir.ctx, entries)) this.add(child);
  }

  /** A directory that cannot be read is reported once; its other pieces are dropped when opened. */
  private fail(r: Reading<C>, error: Error): void {
    if (r.failed) return;
    r.failed = true;
    this.visit(r.dir.ctx, error);
  }
}

function latest(seqs: Iterable<number>): number {
  let max = Number.NEGATIVE_INFINITY;
  for (const seq of seqs) if (seq > max) max = seq;
  return max;
}
