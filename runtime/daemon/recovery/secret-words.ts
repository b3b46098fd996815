/**
 * The recovery secret as words a person can write down: proquints (pronounceable 16-bit words,
 * consonant-vowel-consonant-vowel-consonant; "A Proposal for Proquints", Wilkerson 2009).
 * 32 secret bytes + 2 checksum bytes (the first two of SHA-256 of the secret) make 17 words, so a
 * mistyped word is caught instead of silently deriving another identity.
 */
import { createHash } from 'node:crypto';

const CONSONANTS = 'bdfghjklmnprstvz';
const VOWELS = 'aiou';
export const SECRET_WORDS = 17;

function word(v: number): string {
  return (
    CONSONANTS[(v >> 12) & 15]! +
    VOWELS[(v >> 10) & 3]! +
    CONSONANTS[(v >> 6) & 15]! +
    VOWELS[(v >> 4) & 3]! +
    CONSONANTS[v & 15]!
  );
}

function value(w: string): number {
  if (!/^[bdfghjklmnprstvz][aiou][bdfghjklmnprstvz][aiou][bdfghjklmnprstvz]$/.test(w)) {
    throw new Error(
      `"${w.slice(0, 20)}" is not a secret word (five letters: consonant, vowel, consonant, vowel, consonant)`,
    );
  }
  return (
    (CONSONANTS.indexOf(w[0]!) << 12) |
    (VOWELS.indexOf(w[1]!) << 10) |
    (CONSONANTS.indexOf(w[2]!) << 6) |
    (VOWELS.indexOf(w[3]!) << 4) |
    CONSONANTS.indexOf(w[4]!)
  );
}

export function secretToWords(secret: Uint8Array): string {
  if (secret.length !== 32) throw new Error('the recovery secret is 32 bytes');
  const check = createHash('sha256').update(secret).digest();
  const bytes = new Uint8Array([...secret, check[0]!, check[1]!]);
  const words: string[] = [];
  for (let i = 0; i < bytes.length; i += 2) words.push(word((bytes[i]! << 8) | bytes[i + 1]!));
  return words.join('-');
}

export function wordsToSecret(text: string): Uint8Array {
  const words = text
    .trim()
    .toLowerCase()
    .split(/[\s-]+/);
  if (words.length !== SECRET_WORDS)
    throw new Error(`a recovery secret is ${SECRET_WORDS} words, got ${words.length}`);
  const bytes = new Uint8Array(34);
  words.forEach((w, i) => {
    const v = value(w);
    bytes[2 * i] = v >> 8;
    bytes[2 * i + 1] = v & 255;
  });
  const secret = bytes.slice(0, 32);
  const check = createHash('sha256').update(secret).digest();
  if (check[0] !== bytes[32] || check[1] !== bytes[33])
    throw new Error('the secret words do not check out: a word is mistyped');
  return secret;
}
