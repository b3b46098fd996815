/**
 * The repair worker's listings in columns: every row comes back as it was added (ids, trailer
 * fields, rows without a trailer), ages move on only below the age that matters, status's shard
 * ids are filtered by owner, and anything a listing cannot hold is refused before it is half added.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ListedShard } from '../../../engine/index.ts';
import { CompactListing, ListingBuilder } from '../../../runtime/daemon/shards/compact-listing.ts';

const idOf = (n: number): string => createHash('sha256').update(`shard ${n}`).digest('hex');
const OWNERS = ['a'.repeat(64), 'b'.repeat(64), 'c'.repeat(64)];

function rows(count: number): ListedShard[] {
  return Array.from({ length: count }, (_, n) =>
    n % 7 === 3
      ? { id: idOf(n), info: null }
      : {
          id: idOf(n),
          info: {
            stripeId: `${OWNERS[n % 3]}/${Math.floor(n / 6)}/0`,
            owner: OWNERS[n % 3]!,
            k: 4,
            m: 2,
            index: n % 6,
            bodyBytes: 4 * 1024 * 1024 - (n % 5),
            fileBytes: 4 * 1024 * 1024 + 300,
            ageMs: n * 1000 + (n % 2 === 0 ? 2 ** 40 : 0),
          },
        },
  );
}

describe('CompactListing', () => {
  it('gives back every row as added, past several growths of its columns', () => {
    const input = rows(5000);
    const listing = CompactListing.from(input);
    expect(listing.length).toBe(5000);
    expect([...listing]).toEqual(input);
    expect([...listing]).toEqual(input); // iterable again
    expect(listing.at(4999)).toEqual(input[4999]);
    expect(() => listing.at(5000)).toThrow(RangeError);
    expect([...CompactListing.from([])]).toEqual([]);
  });

  it('ages only the rows younger than the age that matters, from the ages as listed', () => {
    const input = rows(40);
    const listing = CompactListing.from(input);
    const aged = [...listing.aged(500, 20_000)];
    for (const [n, row] of aged.entries()) {
      const was = input[n]!.info;
      if (was === null) expect(row.info).toBeNull();
      else expect(row.info!.ageMs).toBe(was.ageMs < 20_000 ? was.ageMs + 500 : was.ageMs);
    }
    expect([...listing]).toEqual(input); // the listing itself is not changed
    expect(() => listing.aged(-1, 0)).toThrow(RangeError);
  });

  it('names the shard ids of the owners kept, and those without a trailer', () => {
    const input = rows(60);
    const listing = CompactListing.from(input);
    const mine = [...listing.idsWhere((owner) => owner === OWNERS[1])];
    const expected = input.filter((r) => r.info === null || r.info.owner === OWNERS[1]).map((r) => r.id);
    expect(mine).toEqual(expected);
  });

  it('refuses a row it cannot hold without adding part of it', () => {
    const builder = new ListingBuilder();
    const good = rows(1)[0]!;
    builder.add(good);
    const info = good.info!;
    const bad: ListedShard[] = [
      { id: 'A'.repeat(64), info },
      { id: idOf(1).slice(1), info },
      { id: idOf(2), info: { ...info, k: 256 } },
      { id: idOf(3), info: { ...info, index: -1 } },
      { id: idOf(4), info: { ...info, bodyBytes: 2 ** 32 } },
      { id: idOf(5), info: { ...info, ageMs: -1 } },
      { id: idOf(6), info: { ...info, ageMs: Number.NaN } },
    ];
    for (const row of bad) expect(() => builder.add(row), JSON.stringify(row)).toThrow(/ListingBuilder/);
    const listing = builder.finish();
    expect([...listing]).toEqual([good]);
    expect(() => builder.add(good)).toThrow(/after finish/);
  });
});
