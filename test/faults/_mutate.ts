/** Byte mutations of valid encodings (flip, set, insert, delete, truncate, append) for fast-check. */
import fc from 'fast-check';

export const mutation = fc.oneof(
  fc.record({ t: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat(7) }),
  fc.record({ t: fc.constant('set' as const), at: fc.nat(), value: fc.nat(255) }),
  fc.record({ t: fc.constant('insert' as const), at: fc.nat(), value: fc.nat(255) }),
  fc.record({ t: fc.constant('delete' as const), at: fc.nat() }),
  fc.record({ t: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ t: fc.constant('append' as const), value: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
);
export type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

export function mutate(bytes: Uint8Array, ms: readonly Mutation[]): Buffer {
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
  return Buffer.from(b);
}

/**
 * Hostile inputs built from a corpus of valid encodings: half mutated valid encodings (1-4
 * mutations), a quarter random bytes, a quarter valid encodings cut or spliced together.
 */
export function hostileBytes(corpus: readonly Uint8Array[], maxRandomBytes = 512): fc.Arbitrary<Buffer> {
  if (corpus.length === 0) throw new Error('hostileBytes needs at least one valid encoding');
  const pick = fc.nat(corpus.length - 1).map((i) => corpus[i]!);
  return fc.oneof(
    {
      arbitrary: fc
        .tuple(pick, fc.array(mutation, { minLength: 1, maxLength: 4 }))
        .map(([b, ms]) => mutate(b, ms)),
      weight: 2,
    },
    { arbitrary: fc.uint8Array({ maxLength: maxRandomBytes }).map((b) => Buffer.from(b)), weight: 1 },
    {
      arbitrary: fc
        .tuple(pick, pick, fc.nat(), fc.nat())
        .map(([a, b, i, j]) =>
          Buffer.concat([a.subarray(0, i % (a.length + 1)), b.subarray(j % (b.length + 1))]),
        ),
      weight: 1,
    },
  );
}
