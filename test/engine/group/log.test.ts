import { describe, expect, it } from 'vitest';
import { foldGroup, OpLog } from '../../../engine/index.ts';
import { nodeEd25519Verifier } from '../../../runtime/crypto/ed25519.ts';
import { createOp, opOn, T0 } from './helpers.ts';

describe('OpLog', () => {
  it('verifies received bytes once and reports added, duplicate (replayed) and rejected ops', () => {
    const create = createOp(1);
    const pledge = opOn([create], 1, { kind: 'pledge', pledgeBytes: 5 });
    const log = new OpLog({ verify: nodeEd25519Verifier(), maxOps: 3 });
    expect(log.add(create.bytes)).toMatchObject({ status: 'added', op: { hash: create.hash } });
    expect(log.add(create.bytes)).toEqual({ status: 'duplicate', hash: create.hash });
    const forged = pledge.bytes.slice();
    forged[20]! ^= 0x40;
    expect(log.add(forged)).toMatchObject({ status: 'rejected', error: { name: 'GroupError' } });
    expect(log.add(new Uint8Array(70_000))).toMatchObject({
      status: 'rejected',
      error: { code: 'too-large' },
    });
    expect(log.add(pledge.bytes).status).toBe('added');
    expect(log.size).toBe(2);
    expect(foldGroup(log.ops(), T0).members[0]!.pledgeBytes).toBe(5);
    const third = opOn(log.ops(), 1, { kind: 'pledge', pledgeBytes: 6 });
    const fourth = opOn([...log.ops(), third], 1, { kind: 'pledge', pledgeBytes: 7 });
    expect(log.addOp(third).status).toBe('added');
    expect(log.addOp(fourth)).toMatchObject({ status: 'rejected', error: { code: 'too-large' } });
  });
});
