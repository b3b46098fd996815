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
  | 'gone'
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
  'gone',
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

/** Bound on the causes describeError follows. */
const MAX_CAUSES = 4;

/**
 * A readable reason for anything thrown: libp2p and WebRTC throw errors without a message, bare
 * events (a data channel's 'error' or 'close') and strings. Never "undefined": the name, the
 * code, the message and the chain of causes, whatever of them there is.
 */
export function describeError(error: unknown, depth = 0): string {
  if (error === undefined || error === null) return 'no reason given';
  if (typeof error === 'string') return error === '' ? 'an empty error' : error;
  if (typeof error !== 'object') return String(error);
  const e = error as { name?: unknown; code?: unknown; message?: unknown; cause?: unknown; type?: unknown };
  const parts: string[] = [];
  const name = typeof e.name === 'string' && e.name !== 'Error' ? e.name : '';
  const code = typeof e.code === 'string' ? e.code : ''; // numeric DOMException codes say nothing
  const message = typeof e.message === 'string' ? e.message.trim() : '';
  if (name !== '' && !message.includes(name)) parts.push(name);
  if (code !== '' && !message.includes(code)) parts.push(`[${code}]`);
  if (message !== '') parts.push(message);
  if (parts.length === 0 && typeof e.type === 'string') {
    const inner = (error as { error?: unknown }).error;
    parts.push(`a '${e.type}' event${inner === undefined ? '' : `: ${describeError(inner, depth + 1)}`}`);
  }
  if (parts.length === 0) parts.push(error instanceof Error ? 'an error without a message' : String(error));
  let text = parts.join(': ').replace(/: \[/g, ' [');
  if (e.cause !== undefined && depth < MAX_CAUSES) {
    const cause = describeError(e.cause, depth + 1);
    if (!text.includes(cause)) text += ` (cause: ${cause})`;
  }
  return text;
}
