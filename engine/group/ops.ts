/**
 * Group ops: encoding, signing and defensive decoding (specified in docs/group-log.md).
 *
 * Wire form of one op (pb-cbor v1, see cbor.ts), at most MAX_OP_BYTES bytes:
 *
 *   op       = [ payload: bytes, signature: bytes(64) ]
 *   payload  = encoded [ version=1, kind, group, author, clock, atMs, parents, body ]
 *   signature = Ed25519(author's key, "pb/v1/group-op" || payload)
 *   op hash  = SHA-256(payload)      (hex; the op's name in parents, approvals and sync)
 *
 * The payload bytes are kept exactly as received: the hash and the signature cover them and
 * nothing is ever re-encoded. `decodeOp` checks, in order: size, outer shape, version, schema,
 * signature; only then does it return a `GroupOp`, the one type the fold accepts.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { type Agreement, validateAgreement } from '../capacity.ts';
import { EngineError } from '../errors.ts';
import { type CborValue, decodeCbor, encodeCbor } from './cbor.ts';
import { GroupError } from './errors.ts';
import { ED25519_PUBLIC_KEY_BYTES, memberIdFromPublicKey, publicKeyFromMemberId } from './member-id.ts';

export const GROUP_OP_VERSION = 1;
export const MAX_OP_BYTES = 64 * 1024;
export const MAX_PARENTS = 64;
export const MAX_NAME_BYTES = 64;
export const MAX_ADDRESSES = 16;
export const MAX_ADDRESS_BYTES = 256;
/** An invite lives at most this long after it was made. */
export const MAX_INVITE_TTL_MS = 30 * 24 * 3600 * 1000;
/** The ratio is carried as a whole number of millionths, so no float is ever encoded. */
export const RATIO_SCALE = 1_000_000;
export const SIGNATURE_CONTEXT = 'pb/v1/group-op';
export const SIGNATURE_BYTES = 64;
export const HASH_BYTES = 32;

/** Kind numbers on the wire. Never renumber: it would change every op hash. */
export const OP_KINDS = [
  'create',
  'invite',
  'request',
  'approve',
  'reject',
  'remove',
  'pledge',
  'agree',
  // A member's current addresses (a daemon restarted on another port republishes them).
  'addresses',
] as const;
export type OpKind = (typeof OP_KINDS)[number];

/** What an op says, by kind. 32-byte values are lowercase hex; members are member ids. */
export type OpBody =
  | {
      readonly kind: 'create';
      readonly agreement: Agreement;
      readonly name: string;
      readonly addresses: readonly string[];
    }
  | { readonly kind: 'invite'; readonly tokenHash: string; readonly expiresAtMs: number }
  | {
      readonly kind: 'request';
      readonly name: string;
      readonly addresses: readonly string[];
      readonly token: string;
    }
  | { readonly kind: 'approve'; readonly candidate: string; readonly request: string }
  | { readonly kind: 'reject'; readonly candidate: string; readonly request: string }
  | { readonly kind: 'remove'; readonly member: string }
  | { readonly kind: 'pledge'; readonly pledgeBytes: number }
  | { readonly kind: 'agree'; readonly agreement: Agreement }
  | { readonly kind: 'addresses'; readonly addresses: readonly string[] };

/** The header every op carries besides its author. */
export interface OpHeader {
  /** Hash of the group's create op; null in the create op itself. */
  readonly group: string | null;
  /** Lamport clock: greater than the clock of every op named in `parents`. */
  readonly clock: number;
  /** The author's wall clock when it made the op (ms since the epoch); informative, plus invite expiry. */
  readonly atMs: number;
  /** Hashes of the ops the author had seen that no other op it had seen names (sorted, unique). */
  readonly parents: readonly string[];
}

declare const verifiedBrand: unique symbol;

/** A decoded op whose size, schema and signature were checked: the only input the fold takes. */
export type GroupOp = OpBody &
  OpHeader & {
    /** SHA-256 of the payload, hex. */
    readonly hash: string;
    /** The author's member id (libp2p PeerId string). */
    readonly author: string;
    /** The exact wire bytes, to store and to forward. */
    readonly bytes: Uint8Array;
    /** SHA-256(token) for a request: which invite it redeems. */
    readonly tokenHash?: string;
    readonly [verifiedBrand]: true;
  };

/** Verifies an Ed25519 signature; must return false (not throw) for any well-formed bad input. */
export type Ed25519Verify = (signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array) => boolean;

/** Strict RFC 8032 verification (canonical encodings, as OpenSSL/node:crypto), so all members agree. */
export const nobleVerify: Ed25519Verify = (signature, message, publicKey) => {
  try {
    return ed25519.verify(signature, message, publicKey, { zip215: false });
  } catch {
    return false;
  }
};

export interface DecodeOptions {
  /** Signature check; @noble/curves by default. The runtime passes node:crypto's (faster). */
  readonly verify?: Ed25519Verify;
}

const CONTEXT_BYTES = new TextEncoder().encode(SIGNATURE_CONTEXT);
const utf8 = new TextEncoder();

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
export function toHex(bytes: Uint8Array): string {
  let out = '';
  for (let i = 0; i < bytes.length; i++) out += HEX[bytes[i]!];
  return out;
}
export function fromHex(hex: string, bytes: number, what: string): Uint8Array {
  if (typeof hex !== 'string' || hex.length !== bytes * 2 || !/^[0-9a-f]*$/.test(hex)) {
    throw new GroupError('invalid-argument', `${what} must be ${bytes} bytes as lowercase hex`);
  }
  const out = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** The hash an invite carries for a token (hex in, hex out): SHA-256 of the 32 token bytes. */
export function inviteTokenHash(tokenHex: string): string {
  return toHex(sha256(fromHex(tokenHex, HASH_BYTES, 'token')));
}

function signedMessage(payload: Uint8Array): Uint8Array {
  const msg = new Uint8Array(CONTEXT_BYTES.length + payload.length);
  msg.set(CONTEXT_BYTES, 0);
  msg.set(payload, CONTEXT_BYTES.length);
  return msg;
}

// ---------------------------------------------------------------------------------------------
// Encoding and signing

function agreementFields(a: Agreement): number[] {
  try {
    validateAgreement(a);
  } catch (e) {
    throw new GroupError('invalid-argument', (e as Error).message);
  }
  const micros = Math.round(a.ratio * RATIO_SCALE);
  if (micros / RATIO_SCALE !== a.ratio) {
    throw new GroupError('invalid-argument', `ratio ${a.ratio} has more than 6 decimal places`);
  }
  return [micros, a.tolerance];
}

function bodyFields(body: OpBody): CborValue[] {
  switch (body.kind) {
    case 'create':
      return [...agreementFields(body.agreement), body.name, [...body.addresses]];
    case 'invite':
      return [fromHex(body.tokenHash, HASH_BYTES, 'tokenHash'), body.expiresAtMs];
    case 'request':
      return [body.name, [...body.addresses], fromHex(body.token, HASH_BYTES, 'token')];
    case 'approve':
    case 'reject':
      return [publicKeyFromMemberId(body.candidate), fromHex(body.request, HASH_BYTES, 'request')];
    case 'remove':
      return [publicKeyFromMemberId(body.member)];
    case 'pledge':
      return [body.pledgeBytes];
    case 'agree':
      return agreementFields(body.agreement);
    case 'addresses':
      return [[...body.addresses]];
    default:
      throw new GroupError('invalid-argument', `unknown op kind ${String((body as { kind: unknown }).kind)}`);
  }
}

/** Signs with an Ed25519 seed (RFC 8032, deterministic). */
export type Ed25519Sign = (message: Uint8Array, signingSeed: Uint8Array) => Uint8Array;
export const nobleSign: Ed25519Sign = (message, signingSeed) => ed25519.sign(message, signingSeed);

export interface SignOptions {
  /** Signer; @noble/curves by default. The runtime passes node:crypto's (faster, same bytes). */
  readonly sign?: Ed25519Sign;
}

export interface SigningKeys {
  readonly signingSeed: Uint8Array;
  readonly publicKey: Uint8Array;
}

/**
 * Encodes and signs an op, then decodes the result (so a signed op passes the very checks a
 * received one does). Ed25519 signatures are deterministic: the same input gives the same bytes.
 */
export function signOp(
  keys: SigningKeys,
  header: OpHeader,
  body: OpBody,
  options: SignOptions = {},
): GroupOp {
  const kind = OP_KINDS.indexOf(body.kind);
  if (kind < 0) throw new GroupError('invalid-argument', `unknown op kind ${String(body.kind)}`);
  if (!(keys.publicKey instanceof Uint8Array) || keys.publicKey.length !== ED25519_PUBLIC_KEY_BYTES) {
    throw new GroupError('invalid-argument', 'the signing public key must be 32 bytes');
  }
  const parents = [...header.parents].sort();
  const payload = encodeCbor([
    GROUP_OP_VERSION,
    kind,
    header.group === null ? new Uint8Array(0) : fromHex(header.group, HASH_BYTES, 'group'),
    keys.publicKey,
    header.clock,
    header.atMs,
    parents.map((p) => fromHex(p, HASH_BYTES, 'parent')),
    bodyFields(body),
  ]);
  requireMatchingKeys(keys);
  const signature = (options.sign ?? nobleSign)(signedMessage(payload), keys.signingSeed);
  if (!(signature instanceof Uint8Array) || signature.length !== SIGNATURE_BYTES) {
    throw new GroupError('invalid-argument', `the signer must return ${SIGNATURE_BYTES} bytes`);
  }
  const bytes = encodeCbor([payload, signature]);
  try {
    // The seed matches the public key (checked above) and Ed25519 signing is deterministic: the
    // signature verifies, so the costly check is skipped; every other check runs.
    return decodeOp(bytes, { verify: trustOwnSignature });
  } catch (e) {
    if (e instanceof EngineError)
      throw new GroupError('invalid-argument', `cannot make this op: ${e.message}`);
    throw e;
  }
}

const trustOwnSignature: Ed25519Verify = () => true;
const matchedKeys = new Map<string, string>();
const MATCHED_KEYS_MAX = 4096;
/** The seed must give the public key (checked once per seed; a mismatch would sign garbage). */
function requireMatchingKeys(keys: SigningKeys): void {
  if (!(keys.signingSeed instanceof Uint8Array) || keys.signingSeed.length !== 32) {
    throw new GroupError('invalid-argument', 'the signing seed must be 32 bytes');
  }
  const seedHash = toHex(sha256(keys.signingSeed)); // the cache holds no copy of a seed
  let publicKey = matchedKeys.get(seedHash);
  if (publicKey === undefined) {
    publicKey = toHex(ed25519.getPublicKey(keys.signingSeed));
    if (matchedKeys.size >= MATCHED_KEYS_MAX) matchedKeys.clear();
    matchedKeys.set(seedHash, publicKey);
  }
  if (publicKey !== toHex(keys.publicKey)) {
    throw new GroupError('invalid-argument', 'the signing seed does not belong to the public key');
  }
}

// ---------------------------------------------------------------------------------------------
// Decoding

function bad(what: string): never {
  throw new GroupError('bad-op', what);
}

function uint(v: CborValue | undefined, what: string): number {
  if (typeof v !== 'number') bad(`${what} must be an unsigned integer`);
  return v;
}
function bytesOf(v: CborValue | undefined, length: number, what: string): Uint8Array {
  if (!(v instanceof Uint8Array) || v.length !== length) bad(`${what} must be ${length} bytes`);
  return v;
}
function text(v: CborValue | undefined, maxBytes: number, what: string, allowEmpty: boolean): string {
  if (typeof v !== 'string') bad(`${what} must be a text string`);
  if (!allowEmpty && v.length === 0) bad(`${what} must not be empty`);
  // UTF-8 length <= 3 bytes per UTF-16 unit; encode only when it could exceed the bound
  if (v.length * 3 > maxBytes && utf8.encode(v).length > maxBytes) bad(`${what} exceeds ${maxBytes} bytes`);
  for (let i = 0; i < v.length; i++) {
    if (v.charCodeAt(i) < 0x20 || v.charCodeAt(i) === 0x7f) bad(`${what} contains a control character`);
  }
  return v;
}
function array(v: CborValue | undefined, length: number | null, what: string): CborValue[] {
  if (!Array.isArray(v)) bad(`${what} must be an array`);
  if (length !== null && v.length !== length) bad(`${what} must have ${length} fields, has ${v.length}`);
  return v;
}
function addresses(v: CborValue | undefined): string[] {
  const list = array(v, null, 'addresses');
  if (list.length > MAX_ADDRESSES) bad(`at most ${MAX_ADDRESSES} addresses`);
  return list.map((a, i) => text(a, MAX_ADDRESS_BYTES, `addresses[${i}]`, false));
}
function agreementOf(ratioMicros: CborValue | undefined, tolerance: CborValue | undefined): Agreement {
  const agreement = {
    ratio: uint(ratioMicros, 'ratio') / RATIO_SCALE,
    tolerance: uint(tolerance, 'tolerance'),
  };
  try {
    validateAgreement(agreement);
  } catch (e) {
    bad(`agreement: ${(e as Error).message}`);
  }
  return agreement;
}

const memberIdCache = new Map<string, string>();
const MEMBER_ID_CACHE_MAX = 4096;
function memberIdOf(key: Uint8Array): string {
  const hex = toHex(key);
  let id = memberIdCache.get(hex);
  if (id === undefined) {
    id = memberIdFromPublicKey(key);
    if (memberIdCache.size >= MEMBER_ID_CACHE_MAX) memberIdCache.clear();
    memberIdCache.set(hex, id);
  }
  return id;
}

function decodeBody(kind: OpKind, f: CborValue[], atMs: number): OpBody & { tokenHash?: string } {
  switch (kind) {
    case 'create': {
      array(f, 4, 'create body');
      return {
        kind,
        agreement: agreementOf(f[0], f[1]),
        name: text(f[2], MAX_NAME_BYTES, 'name', false),
        addresses: addresses(f[3]),
      };
    }
    case 'invite': {
      array(f, 2, 'invite body');
      const expiresAtMs = uint(f[1], 'expiresAtMs');
      if (expiresAtMs <= atMs) bad('an invite must expire after it is made');
      if (expiresAtMs - atMs > MAX_INVITE_TTL_MS) bad(`an invite lives at most ${MAX_INVITE_TTL_MS} ms`);
      return { kind, tokenHash: toHex(bytesOf(f[0], HASH_BYTES, 'tokenHash')), expiresAtMs };
    }
    case 'request': {
      array(f, 3, 'request body');
      const token = bytesOf(f[2], HASH_BYTES, 'token');
      return {
        kind,
        name: text(f[0], MAX_NAME_BYTES, 'name', false),
        addresses: addresses(f[1]),
        token: toHex(token),
        tokenHash: toHex(sha256(token)),
      };
    }
    case 'approve':
    case 'reject': {
      array(f, 2, `${kind} body`);
      return {
        kind,
        candidate: memberIdOf(bytesOf(f[0], ED25519_PUBLIC_KEY_BYTES, 'candidate')),
        request: toHex(bytesOf(f[1], HASH_BYTES, 'request')),
      };
    }
    case 'remove':
      array(f, 1, 'remove body');
      return { kind, member: memberIdOf(bytesOf(f[0], ED25519_PUBLIC_KEY_BYTES, 'member')) };
    case 'pledge':
      array(f, 1, 'pledge body');
      return { kind, pledgeBytes: uint(f[0], 'pledgeBytes') };
    case 'agree':
      array(f, 2, 'agree body');
      return { kind, agreement: agreementOf(f[0], f[1]) };
    case 'addresses':
      array(f, 1, 'addresses body');
      return { kind, addresses: addresses(f[0]) };
  }
}

/**
 * Decodes one op received from anywhere. Throws a `GroupError` naming the fault:
 * `too-large`, `bad-encoding`, `bad-version`, `bad-op` (schema) or `bad-signature`.
 */
export function decodeOp(bytes: Uint8Array, options: DecodeOptions = {}): GroupOp {
  if (!(bytes instanceof Uint8Array)) throw new GroupError('bad-encoding', 'an op must be a Uint8Array');
  if (bytes.length > MAX_OP_BYTES)
    throw new GroupError('too-large', `an op is at most ${MAX_OP_BYTES} bytes, got ${bytes.length}`);
  const outer = decodeCbor(bytes, 'op');
  if (!Array.isArray(outer) || outer.length !== 2)
    throw new GroupError('bad-encoding', 'an op is an array [payload, signature]');
  const [payload, signature] = outer;
  if (!(payload instanceof Uint8Array))
    throw new GroupError('bad-encoding', 'the op payload must be a byte string');
  if (!(signature instanceof Uint8Array) || signature.length !== SIGNATURE_BYTES) {
    throw new GroupError('bad-encoding', `the signature must be ${SIGNATURE_BYTES} bytes`);
  }
  const fields = decodeCbor(payload, 'op payload');
  if (!Array.isArray(fields) || fields.length === 0)
    throw new GroupError('bad-encoding', 'the payload must be a non-empty array');
  if (fields[0] !== GROUP_OP_VERSION)
    throw new GroupError('bad-version', `op version ${String(fields[0])} is not ${GROUP_OP_VERSION}`);
  array(fields, 8, 'payload');
  const kindNumber = uint(fields[1], 'kind');
  const kind = OP_KINDS[kindNumber];
  if (kind === undefined) bad(`unknown op kind ${kindNumber}`);
  const groupBytes = fields[2];
  if (!(groupBytes instanceof Uint8Array)) bad('group must be a byte string');
  let group: string | null;
  if (kind === 'create') {
    if (groupBytes.length !== 0) bad('a create op has an empty group');
    group = null;
  } else group = toHex(bytesOf(groupBytes, HASH_BYTES, 'group'));
  const authorKey = bytesOf(fields[3], ED25519_PUBLIC_KEY_BYTES, 'author');
  const clock = uint(fields[4], 'clock');
  const atMs = uint(fields[5], 'atMs');
  const parentList = array(fields[6], null, 'parents');
  if (parentList.length > MAX_PARENTS) bad(`at most ${MAX_PARENTS} parents`);
  if (kind === 'create' ? parentList.length !== 0 : parentList.length === 0) {
    bad(
      kind === 'create' ? 'a create op has no parents' : 'an op other than create names at least one parent',
    );
  }
  const parents: string[] = new Array(parentList.length);
  for (let i = 0; i < parentList.length; i++) {
    parents[i] = toHex(bytesOf(parentList[i], HASH_BYTES, `parents[${i}]`));
    if (i > 0 && parents[i]! <= parents[i - 1]!) bad('parents must be sorted and unique');
  }
  const body = decodeBody(kind, array(fields[7], null, 'body'), atMs);
  const verify = options.verify ?? nobleVerify;
  if (!verify(signature, signedMessage(payload), authorKey)) {
    throw new GroupError(
      'bad-signature',
      `the signature does not verify for author ${memberIdOf(authorKey)}`,
    );
  }
  return {
    ...body,
    group,
    clock,
    atMs,
    parents,
    hash: toHex(sha256(payload)),
    author: memberIdOf(authorKey),
    bytes,
  } as unknown as GroupOp;
}
