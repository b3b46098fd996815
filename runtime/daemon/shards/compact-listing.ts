/**
 * A member's shard listing kept in columns, for the repair worker that keeps every member's
 * listing between rounds (member-listings.ts).
 *
 * Why: a group of eight holding 100,000 stripes of 4+2 lists 600,000 rows, and every member
 * keeps all of them. As decoded objects a row took 356-385 bytes (two objects, a 64-character id,
 * numbers boxed past 2^30): 204 MiB per member, twice the idle target. Here a row is its 32-byte
 * id, a reference to its shared stripe id, an owner number, three small numbers and three sizes:
 * 63 bytes (docs/design.md §9). Rows are handed out as objects only while something reads them
 * (a full plan, hourly when the group is quiet, or the status's shard locations).
 *
 * Rows come from a holder's listing (shard-protocol.ts has checked them) or this member's own
 * catalog; anything else here is a bug, and is thrown as one.
 */
import type { ListedShard, ListedShardInfo as ShardInfo } from '../../../engine/index.ts';

/** Bound on one listing's rows (a holder's catalog holds at most this many shards). */
export const MAX_LISTING_ROWS = 4_000_000;
const ID_BYTES = 32;
const ID_RE = /^[0-9a-f]{64}$/;
const NO_OWNER = 0xffff_ffff;
const FIRST_CAPACITY = 1024;

interface Columns {
  /** Row i's shard id in binary at [i*32, i*32+32). */
  readonly ids: Buffer;
  /** Row i's stripe id (shared strings; '' for a row without a trailer). */
  readonly stripeIds: string[];
  /** Row i's owner as a number in `owners` (NO_OWNER: no trailer). */
  readonly ownerOf: Uint32Array;
  readonly owners: string[];
  /** Row i's k, m and index at [3i, 3i+3). */
  readonly shape: Uint8Array;
  readonly bodyBytes: Uint32Array;
  readonly fileBytes: Uint32Array;
  /** Row i's age when it was listed. */
  readonly ageMs: Float64Array;
}

function columns(capacity: number, owners: string[], stripeIds: string[]): Columns {
  return {
    ids: Buffer.alloc(capacity * ID_BYTES),
    stripeIds,
    ownerOf: new Uint32Array(capacity),
    owners,
    shape: new Uint8Array(capacity * 3),
    bodyBytes: new Uint32Array(capacity),
    fileBytes: new Uint32Array(capacity),
    ageMs: new Float64Array(capacity),
  };
}

/** The first `rows` rows of `from` in columns of `capacity` rows (stripe ids: `stripeIds`). */
function copied(from: Columns, rows: number, capacity: number, stripeIds: string[]): Columns {
  const to = columns(capacity, from.owners, stripeIds);
  from.ids.copy(to.ids, 0, 0, rows * ID_BYTES);
  to.ownerOf.set(from.ownerOf.subarray(0, rows));
  to.shape.set(from.shape.subarray(0, rows * 3));
  to.bodyBytes.set(from.bodyBytes.subarray(0, rows));
  to.fileBytes.set(from.fileBytes.subarray(0, rows));
  to.ageMs.set(from.ageMs.subarray(0, rows));
  return to;
}

/** Rows added one at a time (as a listing's pages arrive), then `finish()`ed into a listing. */
export class ListingBuilder {
  private cols = columns(FIRST_CAPACITY, [], []);
  private capacity = FIRST_CAPACITY;
  private rows = 0;
  private readonly ownerNumbers = new Map<string, number>();
  private done = false;

  add(row: ListedShard): void {
    if (this.done) throw new Error('ListingBuilder: add after finish');
    if (!ID_RE.test(row.id))
      throw new Error(`ListingBuilder: shard id ${JSON.stringify(row.id)} is not 64 hex`);
    if (this.rows >= MAX_LISTING_ROWS)
      throw new Error(`ListingBuilder: a listing holds at most ${MAX_LISTING_ROWS} rows`);
    const info = row.info;
    if (info !== null) checkInfo(info);
    if (this.rows === this.capacity) this.grow();
    const i = this.rows++;
    const c = this.cols;
    c.ids.write(row.id, i * ID_BYTES, ID_BYTES, 'hex');
    if (info === null) {
      c.stripeIds.push('');
      c.ownerOf[i] = NO_OWNER;
      return;
    }
    c.stripeIds.push(info.stripeId);
    c.ownerOf[i] = this.ownerNumber(info.owner);
    c.shape.set([info.k, info.m, info.index], i * 3);
    c.bodyBytes[i] = info.bodyBytes;
    c.fileBytes[i] = info.fileBytes;
    c.ageMs[i] = info.ageMs;
  }

  /** The listing of every row added, in columns trimmed to its length. */
  finish(): CompactListing {
    if (this.done) throw new Error('ListingBuilder: finished twice');
    this.done = true;
    // Trimmed: the stripe ids' array sheds the room it grew by, the typed columns theirs.
    const { stripeIds } = this.cols;
    return new CompactListing(copied(this.cols, this.rows, this.rows, stripeIds.slice()), this.rows);
  }

  private grow(): void {
    this.capacity = Math.min(MAX_LISTING_ROWS, this.capacity * 2);
    this.cols = copied(this.cols, this.rows, this.capacity, this.cols.stripeIds);
  }

  private ownerNumber(owner: string): number {
    let n = this.ownerNumbers.get(owner);
    if (n === undefined) {
      n = this.cols.owners.length;
      this.cols.owners.push(owner);
      this.ownerNumbers.set(owner, n);
    }
    return n;
  }
}

const small = (n: number): boolean => Number.isInteger(n) && n >= 0 && n <= 255;
const size = (n: number): boolean => Number.isInteger(n) && n >= 0 && n <= 0xffff_ffff;

function checkInfo(info: ShardInfo): void {
  if (!(small(info.k) && small(info.m) && small(info.index) && size(info.bodyBytes) && size(info.fileBytes)))
    throw new Error(
      `ListingBuilder: row of stripe ${info.stripeId} has k=${info.k} m=${info.m} index=${info.index} ` +
        `body ${info.bodyBytes} file ${info.fileBytes}: outside what a listing row holds`,
    );
  if (!(Number.isFinite(info.ageMs) && info.ageMs >= 0))
    throw new Error(`ListingBuilder: row of stripe ${info.stripeId} has age ${info.ageMs}`);
}

/** A listing's rows in columns: iterable as `ListedShard`s, as listed or aged. */
export class CompactListing implements Iterable<ListedShard> {
  constructor(
    private readonly cols: Columns,
    readonly length: number,
  ) {
    if (!(Number.isSafeInteger(length) && length >= 0 && cols.stripeIds.length === length))
      throw new Error(`CompactListing: ${cols.stripeIds.length} stripe ids for ${length} rows`);
  }

  static from(rows: Iterable<ListedShard>): CompactListing {
    const builder = new ListingBuilder();
    for (const row of rows) builder.add(row);
    return builder.finish();
  }

  [Symbol.iterator](): Iterator<ListedShard> {
    return this.rowsAged(0, 0);
  }

  /** Row `i` as listed. */
  at(i: number): ListedShard {
    if (!(Number.isInteger(i) && i >= 0 && i < this.length))
      throw new RangeError(`CompactListing: row ${i} of ${this.length}`);
    return this.row(i, 0, 0);
  }

  /**
   * The rows with each age below `belowMs` moved on by `elapsedMs` (the time since the listing):
   * the engine reads an age only to let a young stripe settle, and one past it stays past it.
   */
  aged(elapsedMs: number, belowMs: number): Iterable<ListedShard> {
    if (!(elapsedMs >= 0 && belowMs >= 0))
      throw new RangeError(`CompactListing: aged by ${elapsedMs} ms below ${belowMs} ms`);
    return { [Symbol.iterator]: () => this.rowsAged(elapsedMs, belowMs) };
  }

  /** The shard ids of the rows whose owner `keep` accepts (rows without a trailer: always). */
  *idsWhere(keep: (ownerText: string) => boolean): Generator<string> {
    const kept = this.cols.owners.map(keep);
    for (let i = 0; i < this.length; i++) {
      const owner = this.cols.ownerOf[i]!;
      if (owner === NO_OWNER || kept[owner] === true) yield this.idAt(i);
    }
  }

  private *rowsAged(elapsedMs: number, belowMs: number): Generator<ListedShard> {
    for (let i = 0; i < this.length; i++) yield this.row(i, elapsedMs, belowMs);
  }

  private idAt(i: number): string {
    return this.cols.ids.toString('hex', i * ID_BYTES, (i + 1) * ID_BYTES);
  }

  private row(i: number, elapsedMs: number, belowMs: number): ListedShard {
    const c = this.cols;
    const owner = c.ownerOf[i]!;
    if (owner === NO_OWNER) return { id: this.idAt(i), info: null };
    const listedAgeMs = c.ageMs[i]!;
    return {
      id: this.idAt(i),
      info: {
        stripeId: c.stripeIds[i]!,
        owner: c.owners[owner]!,
        k: c.shape[i * 3]!,
        m: c.shape[i * 3 + 1]!,
        index: c.shape[i * 3 + 2]!,
        bodyBytes: c.bodyBytes[i]!,
        fileBytes: c.fileBytes[i]!,
        ageMs: listedAgeMs < belowMs ? listedAgeMs + elapsedMs : listedAgeMs,
      },
    };
  }
}
