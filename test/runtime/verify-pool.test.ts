import { describe, expect, it } from 'vitest';
import { type GroupOp, signOp } from '../../engine/index.ts';
import { VerifyPool } from '../../runtime/crypto/verify-pool.ts';
import { createOp, keysOf, opOn, T0 } from '../engine/group/helpers.ts';

describe('VerifyPool', () => {
  it('decodes and verifies on worker threads: the same ops, and typed errors for bad bytes', async () => {
    const ops: GroupOp[] = [createOp(1)];
    for (let i = 0; i < 40; i++) ops.push(opOn(ops, 1, { kind: 'pledge', pledgeBytes: i }));
    const forged = ops[3]!.bytes.slice();
    forged[forged.length - 1]! ^= 1;
    const anotherGroup = signOp(
      keysOf(2),
      { group: null, clock: 0, atMs: T0, parents: [] },
      {
        kind: 'create',
        agreement: { ratio: 2, tolerance: 1 },
        name: 'x',
        addresses: [],
      },
    );
    const pool = new VerifyPool(2);
    try {
      const results = await pool.decodeAll([
        ...ops.map((o) => o.bytes),
        forged,
        new Uint8Array([1, 2, 3]),
        anotherGroup.bytes,
      ]);
      expect(results).toHaveLength(ops.length + 3);
      ops.forEach((op, i) => {
        const r = results[i]!;
        expect('ok' in r && r.ok.hash).toBe(op.hash);
        if ('ok' in r) expect(r.ok).toEqual(op);
      });
      expect(results[ops.length]).toMatchObject({ error: { code: 'bad-signature' } });
      expect(results[ops.length + 1]).toMatchObject({ error: { code: 'bad-encoding' } });
      expect(results[ops.length + 2]).toMatchObject({ ok: { hash: anotherGroup.hash } });
    } finally {
      await pool.close();
    }
  });
});
