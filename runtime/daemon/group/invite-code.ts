/**
 * Invite codes: one copy-pasteable string holding the inviter's PeerId, its addresses (relay
 * addresses included) and a one-time token (docs/design.md §8).
 *
 *   code = "pb1" || base64url( pb-cbor [1, inviter: text, [address: text...], token: bytes(32), expiresAtMs] )
 */
import { decodeCbor, encodeCbor, MAX_ADDRESS_BYTES, MAX_ADDRESSES } from '../../../engine/index.ts';

export const INVITE_PREFIX = 'pb1';
export const MAX_INVITE_CODE_CHARS = 8192;

export class InviteCodeError extends Error {
  readonly code = 'bad-invite';
  constructor(message: string) {
    super(message);
    this.name = 'InviteCodeError';
  }
}

export interface InviteCode {
  inviter: string;
  addresses: string[];
  token: Uint8Array;
  expiresAtMs: number;
}

export function encodeInviteCode(invite: InviteCode): string {
  const body = encodeCbor([
    1,
    invite.inviter,
    invite.addresses.slice(0, MAX_ADDRESSES),
    invite.token,
    invite.expiresAtMs,
  ]);
  return INVITE_PREFIX + Buffer.from(body).toString('base64url');
}

export function decodeInviteCode(text: string, nowMs: number): InviteCode {
  const code = text.trim();
  if (
    code.length > MAX_INVITE_CODE_CHARS ||
    !code.startsWith(INVITE_PREFIX) ||
    !/^[A-Za-z0-9_-]+$/.test(code)
  ) {
    throw new InviteCodeError(
      'this is not a pb invite code (it starts with "pb1" and is one word of letters, digits, - and _)',
    );
  }
  let value: unknown;
  try {
    value = decodeCbor(
      new Uint8Array(Buffer.from(code.slice(INVITE_PREFIX.length), 'base64url')),
      'invite code',
    );
  } catch {
    throw new InviteCodeError('the invite code is damaged (copy it again, whole)');
  }
  if (!Array.isArray(value) || value.length !== 5 || value[0] !== 1)
    throw new InviteCodeError('the invite code is damaged or from another pb version');
  const [, inviter, addresses, token, expiresAtMs] = value as unknown[];
  if (
    typeof inviter !== 'string' ||
    !/^12D3KooW[1-9A-HJ-NP-Za-km-z]{44}$/.test(inviter) ||
    !Array.isArray(addresses) ||
    addresses.length > MAX_ADDRESSES ||
    !addresses.every((a) => typeof a === 'string' && a.length <= MAX_ADDRESS_BYTES) ||
    !(token instanceof Uint8Array) ||
    token.length !== 32 ||
    typeof expiresAtMs !== 'number'
  ) {
    throw new InviteCodeError('the invite code is damaged (a field is malformed)');
  }
  if (expiresAtMs <= nowMs) {
    throw new InviteCodeError(
      `the invite code expired at ${new Date(expiresAtMs).toISOString()}: ask for a new one`,
    );
  }
  return { inviter, addresses: addresses as string[], token, expiresAtMs };
}
