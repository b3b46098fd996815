/**
 * An invertible Bloom lookup table (Goodrich & Mitzenmacher; Eppstein et al., "What's the
 * difference?") over 64-bit keys: the first 8 bytes of op hashes. Two sides' tables subtract to a
 * table of their symmetric difference, which peels back into keys when it has room for them:
 * about 1.5 cells per differing key with 3 hash positions. A strata estimator (16 small tables,
 * key i in stratum clz32(mix(key))) estimates the difference's size first, so the real table is
 * sized once. Pure, fixed-size, bounded loops; specified in docs/group-log.md.
 */
import { invariant } from '../errors.ts';
import { fmix64 } from '../hash64.ts';
import { GroupError } from './errors.ts';

export const IBLT_HASHES = 3;
/** count (int32) | key high 32 bits | key low 32 bits | check (32 bits), little-endian. */
export const IBLT_CELL_BYTES = 16;
export const MAX_IBLT_CELLS = 1 << 18;
export const STRATA = 16;
export const STRATUM_CELLS = 24;

const SEED_POSITIONS = 0x9e3779b9;
const SEED_CHECK = 0x27d4eb2f;
const SEED_STRATUM = 0x5bd1e995;

const checkOf = (hi: number, lo: number): number => fmix64({ hi: (lo ^ SEED_CHECK) >>> 0, lo: hi }).lo;

export class Iblt {
  readonly cells: number;
  readonly count: Int32Array;
  readonly keyHi: Uint32Array;
  readonly keyLo: Uint32Array;
  readonly check: Uint32Array;

  constructor(cells: number) {
    if (
      !Number.isInteger(cells) ||
      cells < IBLT_HASHES ||
      cells % IBLT_HASHES !== 0 ||
      cells > MAX_IBLT_CELLS
    ) {
      throw new GroupError(
        'invalid-argument',
        `an IBLT has a multiple of 3 cells, 3..${MAX_IBLT_CELLS}, got ${cells}`,
      );
    }
    this.cells = cells;
    this.count = new Int32Array(cells);
    this.keyHi = new Uint32Array(cells);
    this.keyLo = new Uint32Array(cells);
    this.check = new Uint32Array(cells);
  }

  /** The three cells of a key, one in each third of the table. */
  positions(hi: number, lo: number, out: Int32Array): void {
    const third = this.cells / IBLT_HASHES;
    const a = fmix64({ hi: (hi ^ SEED_POSITIONS) >>> 0, lo });
    out[0] = a.hi % third;
    out[1] = third + (a.lo % third);
    const b = fmix64({ hi: (a.hi ^ SEED_POSITIONS) >>> 0, lo: a.lo });
    out[2] = 2 * third + (b.hi % third);
  }

  /** Adds (sign 1) or removes (sign -1) a key. */
  add(hi: number, lo: number, sign: 1 | -1, scratch = new Int32Array(IBLT_HASHES)): void {
    this.positions(hi, lo, scratch);
    const c = checkOf(hi, lo);
    for (let j = 0; j < IBLT_HASHES; j++) {
      const i = scratch[j]!;
      this.count[i]! += sign;
      this.keyHi[i]! ^= hi;
      this.keyLo[i]! ^= lo;
      this.check[i]! ^= c;
    }
  }

  /** this - other, cell by cell (both the same size). */
  subtract(other: Iblt): Iblt {
    invariant(other.cells === this.cells, 'IBLTs of the same size subtract');
    const out = new Iblt(this.cells);
    for (let i = 0; i < this.cells; i++) {
      out.count[i] = this.count[i]! - other.count[i]!;
      out.keyHi[i] = this.keyHi[i]! ^ other.keyHi[i]!;
      out.keyLo[i] = this.keyLo[i]! ^ other.keyLo[i]!;
      out.check[i] = this.check[i]! ^ other.check[i]!;
    }
    return out;
  }

  /**
   * Peels a difference table (consumed). `plus` holds keys counted +1 (only in the minuend),
   * `minus` those counted -1. `complete` is false when the table had too little room.
   */
  decode(): { complete: boolean; plus: [number, number][]; minus: [number, number][] } {
    const plus: [number, number][] = [];
    const minus: [number, number][] = [];
    const pure = (i: number): boolean =>
      (this.count[i] === 1 || this.count[i] === -1) &&
      this.check[i] === checkOf(this.keyHi[i]!, this.keyLo[i]!);
    const queue: number[] = [];
    for (let i = 0; i < this.cells; i++) if (pure(i)) queue.push(i);
    const scratch = new Int32Array(IBLT_HASHES);
    // Each peel removes one key from every cell it touches; a table of m cells holds at most
    // 3m/1 key occurrences, so this bound is never reached by a well-formed table.
    let budget = this.cells * IBLT_HASHES + queue.length + 1;
    while (queue.length > 0 && budget-- > 0) {
      const i = queue.pop()!;
      if (!pure(i)) continue;
      const hi = this.keyHi[i]!;
      const lo = this.keyLo[i]!;
      const sign = this.count[i] as 1 | -1;
      (sign === 1 ? plus : minus).push([hi, lo]);
      this.add(hi, lo, sign === 1 ? -1 : 1, scratch);
      for (let j = 0; j < IBLT_HASHES; j++) if (pure(scratch[j]!)) queue.push(scratch[j]!);
    }
    let complete = true;
    for (let i = 0; i < this.cells && complete; i++) {
      complete = this.count[i] === 0 && this.keyHi[i] === 0 && this.keyLo[i] === 0 && this.check[i] === 0;
    }
    return { complete, plus, minus };
  }

  toBytes(): Uint8Array {
    const out = new Uint8Array(this.cells * IBLT_CELL_BYTES);
    const view = new DataView(out.buffer);
    for (let i = 0; i < this.cells; i++) {
      const o = i * IBLT_CELL_BYTES;
      view.setInt32(o, this.count[i]!, true);
      view.setUint32(o + 4, this.keyHi[i]!, true);
      view.setUint32(o + 8, this.keyLo[i]!, true);
      view.setUint32(o + 12, this.check[i]!, true);
    }
    return out;
  }

  static fromBytes(bytes: Uint8Array, cells: number): Iblt {
    if (bytes.length !== cells * IBLT_CELL_BYTES) {
      throw new GroupError(
        'bad-encoding',
        `an IBLT of ${cells} cells is ${cells * IBLT_CELL_BYTES} bytes, got ${bytes.length}`,
      );
    }
    const t = new Iblt(cells);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < cells; i++) {
      const o = i * IBLT_CELL_BYTES;
      t.count[i] = view.getInt32(o, true);
      t.keyHi[i] = view.getUint32(o + 4, true);
      t.keyLo[i] = view.getUint32(o + 8, true);
      t.check[i] = view.getUint32(o + 12, true);
    }
    return t;
  }
}

/** The stratum of a key: P(stratum = i) = 2^-(i+1), the last stratum takes the tail. */
export function stratumOf(hi: number, lo: number): number {
  return Math.min(STRATA - 1, Math.clz32(fmix64({ hi: (hi ^ SEED_STRATUM) >>> 0, lo }).lo));
}

/** The strata estimator of a key set, as bytes (STRATA tables of STRATUM_CELLS cells). */
export function strataBytes(keysHi: Uint32Array, keysLo: Uint32Array): Uint8Array {
  const strata = Array.from({ length: STRATA }, () => new Iblt(STRATUM_CELLS));
  const scratch = new Int32Array(IBLT_HASHES);
  for (let k = 0; k < keysHi.length; k++) {
    strata[stratumOf(keysHi[k]!, keysLo[k]!)]!.add(keysHi[k]!, keysLo[k]!, 1, scratch);
  }
  const out = new Uint8Array(STRATA * STRATUM_CELLS * IBLT_CELL_BYTES);
  for (const [i, t] of strata.entries()) out.set(t.toBytes(), i * STRATUM_CELLS * IBLT_CELL_BYTES);
  return out;
}

export const STRATA_BYTES = STRATA * STRATUM_CELLS * IBLT_CELL_BYTES;

/** Estimated size of the symmetric difference of two key sets from their strata estimators. */
export function estimateDifference(mine: Uint8Array, theirs: Uint8Array): number {
  if (mine.length !== STRATA_BYTES || theirs.length !== STRATA_BYTES) {
    throw new GroupError('bad-encoding', `a strata estimator is ${STRATA_BYTES} bytes`);
  }
  const size = STRATUM_CELLS * IBLT_CELL_BYTES;
  let found = 0;
  for (let i = STRATA - 1; i >= 0; i--) {
    const a = Iblt.fromBytes(mine.subarray(i * size, (i + 1) * size), STRATUM_CELLS);
    const b = Iblt.fromBytes(theirs.subarray(i * size, (i + 1) * size), STRATUM_CELLS);
    const d = a.subtract(b).decode();
    if (!d.complete) return 2 ** (i + 1) * Math.max(found, 1);
    found += d.plus.length + d.minus.length;
  }
  return found;
}
