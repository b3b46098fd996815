/**
 * A Bloom filter over the index's object ids, so that a backup of many new objects does not ask
 * SQLite about each one (about 6-14 µs a question; a tiny file is one object). Object ids are
 * keyed MACs, uniform bytes, so three 32-bit words of the id are the filter's three hashes.
 * It answers "certainly absent" or "maybe present" (then SQLite decides): a false "maybe" costs
 * one question; a false "absent" cannot happen for an id added to it.
 */
import { assert } from './errors.ts';

/** The filter's size: 2^24 bits (2 MiB), about 1 % false "maybe" at 1.5 million objects. */
export const OBJECT_FILTER_BITS = 1 << 24;
/** The bytes of an id the filter reads (three 32-bit words). */
const ID_BYTES_READ = 12;

export class ObjectFilter {
  private readonly words = new Uint32Array(OBJECT_FILTER_BITS / 32);
  private count = 0;

  /** How many ids were added (duplicates counted). */
  get added(): number {
    return this.count;
  }

  add(id: Uint8Array): void {
    assert(id.length >= ID_BYTES_READ, 'an object id has at least 12 bytes');
    for (let i = 0; i < 3; i++) {
      const bit = probe(id, i);
      this.words[bit >>> 5]! |= 1 << (bit & 31);
    }
    this.count++;
  }

  /** False: the id was never added. True: it may have been. */
  mayHave(id: Uint8Array): boolean {
    if (id.length < ID_BYTES_READ) return true;
    for (let i = 0; i < 3; i++) {
      const bit = probe(id, i);
      if ((this.words[bit >>> 5]! & (1 << (bit & 31))) === 0) return false;
    }
    return true;
  }
}

/** The filter bit of probe `i` (0-2): the id's i-th little-endian 32-bit word, masked. */
function probe(id: Uint8Array, i: number): number {
  const o = i * 4;
  const word = (id[o]! | (id[o + 1]! << 8) | (id[o + 2]! << 16) | (id[o + 3]! << 24)) >>> 0;
  return word & (OBJECT_FILTER_BITS - 1);
}
