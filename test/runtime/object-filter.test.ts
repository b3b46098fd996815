/**
 * The object-id filter (runtime/pipeline/object-filter.ts) and the index's use of it: an id added
 * is never reported absent, few absent ids pass as "maybe", and the index's answers are the same
 * before and after it builds the filter, also for objects committed after that.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { IndexDb, KIND_DATA, OBJECT_FILTER_AFTER_MISSES } from '../../runtime/pipeline/index-db.ts';
import { ObjectFilter } from '../../runtime/pipeline/object-filter.ts';
import { tempDir } from './helpers.ts';

const ids = (n: number): Buffer[] => Array.from({ length: n }, () => randomBytes(32));

describe('the object-id filter', () => {
  it('never says absent for an id added; says maybe for under 1 % of others at 200,000 ids', () => {
    const filter = new ObjectFilter();
    const added = ids(200_000);
    for (const id of added) filter.add(id);
    expect(added.every((id) => filter.mayHave(id))).toBe(true);
    const others = ids(100_000);
    const maybe = others.filter((id) => filter.mayHave(id)).length;
    expect(maybe).toBeLessThan(1_000);
    expect(filter.added).toBe(200_000);
  });
});

describe('the index with its object filter', () => {
  it('answers the same before and after the filter is built, also for objects committed later', () => {
    const db = new IndexDb(join(tempDir('object-filter'), 'index.sqlite'));
    let seq = 0;
    const commit = (objects: Buffer[]): void => {
      seq++;
      db.commitStripe(
        { seq, stripeId: `x/${seq}/0`, k: 2, m: 1, shardBytes: 10, dataBytes: 10, createdMs: 1 },
        [0, 1, 2].map((idx) => ({ idx, shardId: `s${seq}-${idx}`, member: 'm', fileBytes: 10 })),
        objects.map((id, n) => ({
          id,
          kind: KIND_DATA,
          stripeSeq: seq,
          offset: n * 100,
          sealedBytes: 100,
          plainBytes: 100,
          codec: 0,
        })),
        [],
      );
    };
    try {
      const before = ids(3_000);
      commit(before);
      const absent = ids(OBJECT_FILTER_AFTER_MISSES * 2);
      // The first misses ask SQLite; the filter is built at the threshold and answers the rest.
      expect(absent.some((id) => db.hasObject(id))).toBe(false);
      expect(before.every((id) => db.hasObject(id))).toBe(true);
      const after = ids(500);
      commit(after);
      expect(after.every((id) => db.hasObject(id))).toBe(true);
      expect(absent.some((id) => db.hasObject(id))).toBe(false);
    } finally {
      db.close();
    }
  });
});
