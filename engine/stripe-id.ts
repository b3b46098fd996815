/**
 * The stripe id format, built and parsed here and nowhere else (docs/formats.md §7,
 * docs/placement.md §5):
 *
 *   stripeId = `${baseId}/${salt}`      salt 0 or 1: the writer's best of two (placement.ts)
 *   baseId   = `${owner}/${seq}`        in the data path: owner hex, seq a whole number >= 1
 *
 * Placement hashes the whole id, so these bytes are part of every stripe's placement: the format
 * never changes without a new version of the formats.
 */

/** The base id of an owner's stripe `seq` (the id before the writer's salt). */
export function stripeBaseId(owner: string, seq: number): string {
  return `${owner}/${seq}`;
}

/** The stripe id for a base id and a salt (0 or 1): `${baseId}/${salt}`. */
export function saltedStripeId(baseId: string, salt: 0 | 1): string {
  return `${baseId}/${salt}`;
}

export interface ParsedStripeId {
  readonly owner: string;
  readonly seq: number;
  /** The salt as written (the writer writes "0" or "1"). */
  readonly salt: string;
}

/** An id of the form `${owner}/${seq}/${salt}` (seq a whole number >= 1), or null. */
export function parseStripeId(stripeId: string): ParsedStripeId | null {
  const parts = stripeId.split('/');
  if (parts.length !== 3) return null;
  const [owner, seqText, salt] = parts as [string, string, string];
  const seq = Number(seqText);
  if (!/^[1-9][0-9]*$/.test(seqText) || !Number.isSafeInteger(seq)) return null;
  return { owner, seq, salt };
}

/** The seq in an owner's stripe id `${owner}/${seq}/${salt}`, or null for another owner's. */
export function stripeSeqOf(stripeId: string, owner: string): number | null {
  const parsed = parseStripeId(stripeId);
  return parsed !== null && parsed.owner === owner ? parsed.seq : null;
}
