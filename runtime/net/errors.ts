/**
 * Typed errors of the network layer. `code` travels on the wire in error frames
 * (docs/protocols.md section 1), so a remote refusal arrives as the same code it left with.
 */
export type NetErrorCode =
  | 'bad-frame'
  | 'too-large'
  | 'bad-message'
  | 'bad-version'
  | 'unauthorized'
  | 'not-found'
  | 'corrupt'
  | 'over-pledge'
  | 'no-space'
  | 'busy'
  | 'stale'
  | 'bad-signature'
  | 'invalid-invite'
  | 'timeout'
  | 'closed'
  | 'internal';

export const NET_ERROR_CODES: readonly NetErrorCode[] = [
  'bad-frame',
  'too-large',
  'bad-message',
  'bad-version',
  'unauthorized',
  'not-found',
  'corrupt',
  'over-pledge',
  'no-space',
  'busy',
  'stale',
  'bad-signature',
  'invalid-invite',
  'timeout',
  'closed',
  'internal',
];

export class NetError extends Error {
  readonly code: NetErrorCode;
  /** True when the other side sent this error (an error frame), false when raised here. */
  readonly remote: boolean;
  constructor(code: NetErrorCode, message: string, options?: { cause?: unknown; remote?: boolean }) {
    super(message, options);
    this.name = 'NetError';
    this.code = code;
    this.remote = options?.remote ?? false;
  }
}

export function isNetErrorCode(value: unknown): value is NetErrorCode {
  return typeof value === 'string' && (NET_ERROR_CODES as readonly string[]).includes(value);
}
