/**
 * Random and mutated byte strings through decodeOp: every outcome is a typed error (or, when a
 * mutation happens to give back a valid op's exact bytes, that op). PB_FUZZ_RUNS sets the count
 * (100k by default: half random, half mutations of valid ops of every kind).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type CborValue,
  decodeOp,
  EngineError,
  encodeCbor,
  type GroupOp,
  MAX_OP_BYTES,
} from '../../../engine/index.ts';
import { nodeEd25519Verifier } from '../../../runtime/crypto/ed25519.ts';
import { createOp, DAY_MS, idOf, Replica, T0, tokenOf } from './helpers.ts';

const RUNS = Number(process.env.PB_FUZZ_RUNS ?? 100_000);
const CODES = new Set(['bad-encoding', 'bad-version', 'too-large', 'bad-op', 'bad-signature']);
const verify = nodeEd25519Verifier();

/** One valid op of every kind. */
function corpus(): GroupOp[] {
  const { token, tokenHash } = tokenOf('fuzz');
  const r = new Replica([createOp(1)]);
  r.act(1, { kind: 'pledge', pledgeBytes: 123_456_789 });
  r.act(1, { kind: 'invite', tokenHash, expiresAtMs: T0 + DAY_MS });
  const req = r.act(2, {
    kind: 'request',
    name: 'bøb ✓',
    addresses: ['/ip4/10.0.0.2/tcp/4001', '/dns4/x/tcp/1'],
    token,
  });
  r.act(1, { kind: 'approve', candidate: idOf(2), request: req.hash });
  r.act(1, { kind: 'reject', candidate: idOf(3), request: req.hash });
  r.act(2, { kind: 'agree', agreement: { ratio: 2.5, tolerance: 2 } });
  r.act(2, { kind: 'addresses', addresses: ['/ip4/127.0.0.1/tcp/4001', '/ip6/::1/tcp/4002'] });
  r.act(2, { kind: 'remove', member: idOf(1) });
  return r.ops;
}

const { cborValue } = fc.letrec<{ cborValue: CborValue }>((tie) => ({
  cborValue: fc.oneof(
    { maxDepth: 2, withCrossShrink: true },
    fc.oneof(fc.nat(300), fc.constantFrom(0, 1, 2 ** 32, Number.MAX_SAFE_INTEGER)),
    fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.constant(new Uint8Array(32))),
    fc.string({ maxLength: 20 }),
    fc.array(tie('cborValue'), { maxLength: 4 }),
  ),
}));

const mutation = fc.oneof(
  fc.record({ t: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat(7) }),
  fc.record({ t: fc.constant('set' as const), at: fc.nat(), value: fc.nat(255) }),
  fc.record({ t: fc.constant('insert' as const), at: fc.nat(), value: fc.nat(255) }),
  fc.record({ t: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({ t: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ t: fc.constant('append' as const), value: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

function mutate(bytes: Uint8Array, ms: readonly Mutation[]): Uint8Array {
  let b = Array.from(bytes);
  for (const m of ms) {
    const at = b.length === 0 ? 0 : ('at' in m ? m.at : 0) % b.length;
    if (m.t === 'flip') b[at] = (b[at] ?? 0) ^ (1 << m.bit);
    else if (m.t === 'set') b[at] = m.value;
    else if (m.t === 'insert') b.splice(at, 0, m.value);
    else if (m.t === 'delete') b.splice(at, 1);
    else if (m.t === 'truncate') b = b.slice(0, at);
    else b = [...b, ...m.value];
  }
  return Uint8Array.from(b);
}

function expectTypedOutcome(bytes: Uint8Array, valid: Map<string, GroupOp>): void {
  try {
    const op = decodeOp(bytes, { verify });
    expect(valid.get(Buffer.from(bytes).toString('hex'))?.hash).toBe(op.hash);
  } catch (e) {
    if (!(e instanceof EngineError) || !CODES.has(e.code)) throw e;
  }
}

describe('decodeOp under fuzzing', () => {
  const ops = corpus();
  const valid = new Map(ops.map((op) => [Buffer.from(op.bytes).toString('hex'), op]));

  it('covers every op kind in its corpus, and each decodes back to itself', () => {
    expect(new Set(ops.map((o) => o.kind)).size).toBe(9);
    for (const op of ops) expect(decodeOp(op.bytes).hash).toBe(op.hash);
  });

  it(`${Math.floor(RUNS / 2)} random byte strings give only typed errors`, () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 400 }),
          // random payloads inside a well-formed envelope reach the schema checks
          fc
            .tuple(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ minLength: 64, maxLength: 64 }))
            .map(([p, s]) => encodeCbor([p, s])),
          // well-formed pb-cbor payloads of version 1 with random fields reach the field checks
          fc
            .tuple(
              fc.nat(9),
              fc.array(cborValue, { minLength: 6, maxLength: 6 }),
              fc.array(cborValue, { maxLength: 5 }),
            )
            .map(([kind, fields, body]) =>
              encodeCbor([encodeCbor([1, kind, ...fields, body]), new Uint8Array(64)]),
            ),
        ),
        (bytes) => expectTypedOutcome(bytes, valid),
      ),
      { numRuns: Math.floor(RUNS / 2) },
    );
  });

  it(`${Math.ceil(RUNS / 2)} mutations of valid ops give only typed errors`, () => {
    fc.assert(
      fc.property(fc.nat(ops.length - 1), fc.array(mutation, { minLength: 1, maxLength: 4 }), (i, ms) =>
        expectTypedOutcome(mutate(ops[i]!.bytes, ms), valid),
      ),
      { numRuns: Math.ceil(RUNS / 2) },
    );
  });

  it('refuses an oversized op before parsing it', () => {
    expect(() => decodeOp(new Uint8Array(MAX_OP_BYTES + 1))).toThrow(
      expect.objectContaining({ code: 'too-large' }),
    );
  });
});
