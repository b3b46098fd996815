/**
 * Typed errors of the data path. Every rejection of bad input or bad data is a `PipelineError`
 * whose `code` says what went wrong and whose message names the file, stripe or chunk.
 */
export type PipelineErrorCode =
  | 'invalid-argument'
  | 'invalid-config'
  | 'wrong-secret'
  | 'corrupt'
  | 'unrecoverable'
  | 'not-found'
  | 'infeasible'
  | 'io';

export class PipelineError extends Error {
  readonly code: PipelineErrorCode;
  constructor(code: PipelineErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PipelineError';
    this.code = code;
  }
}

/**
 * A backup refused because every source is empty while the last snapshot was not (the empty-directory
 * rule, docs/design.md §10). Code `invalid-argument`, as before; the daemon tells it apart by class.
 */
export class EmptySourcesError extends PipelineError {
  readonly previousFiles: number;
  constructor(previousFiles: number) {
    super(
      'invalid-argument',
      `every source is empty but the last snapshot has ${previousFiles} files: not backing up the emptiness. ` +
        'Restore with `pb-node restore`, or pass --allow-empty if the deletion is intended.',
    );
    this.previousFiles = previousFiles;
  }
}

/** Crash loudly on a broken invariant: this is a bug or corruption, never bad input. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new Error(`pb invariant violated: ${message}`);
}
