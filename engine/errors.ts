/**
 * Typed errors of the engine. Every rejection of bad input is an `EngineError` whose `code`
 * says what kind of input was wrong and whose message says exactly which value.
 * The engine never returns NaN or a guess for bad input: it throws one of these.
 */
export type EngineErrorCode =
  | 'invalid-capacity'
  | 'duplicate-member'
  | 'too-few-members'
  | 'invalid-shape'
  | 'invalid-agreement'
  | 'invalid-argument'
  | 'invalid-plan'
  | 'infeasible'
  // group op log (engine/group): decoding and verification of ops and sync messages
  | 'bad-encoding'
  | 'bad-version'
  | 'too-large'
  | 'bad-op'
  | 'bad-signature';

export class EngineError extends Error {
  readonly code: EngineErrorCode;
  constructor(code: EngineErrorCode, message: string) {
    super(message);
    this.name = 'EngineError';
    this.code = code;
  }
}

/** Crash loudly on a broken invariant: this is a bug, never bad input. */
export function invariant(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`engine invariant violated: ${message}`);
}

export function requireByteCount(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new EngineError(
      'invalid-capacity',
      `${what} must be a finite number of bytes, got ${String(value)}`,
    );
  }
  if (!Number.isInteger(value)) {
    throw new EngineError('invalid-capacity', `${what} must be a whole number of bytes, got ${value}`);
  }
  if (value < 0) throw new EngineError('invalid-capacity', `${what} must not be negative, got ${value}`);
  if (value > Number.MAX_SAFE_INTEGER) {
    throw new EngineError('invalid-capacity', `${what} exceeds 2^53-1 bytes, got ${value}`);
  }
  return value;
}

export function requireShardsPerStripe(value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 64) {
    throw new EngineError(
      'invalid-shape',
      `shardsPerStripe must be a whole number from 1 to 64, got ${String(value)}`,
    );
  }
  return value;
}
