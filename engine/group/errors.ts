/**
 * Errors of the group op log. A `GroupError` is an `EngineError` whose `code` names the kind of
 * fault: `bad-encoding` (not pb-cbor v1), `bad-version`, `too-large`, `bad-op` (schema),
 * `bad-signature`, `invalid-argument` (a caller's mistake when building ops).
 */
import { EngineError } from '../errors.ts';

export type GroupErrorCode =
  | 'bad-encoding'
  | 'bad-version'
  | 'too-large'
  | 'bad-op'
  | 'bad-signature'
  | 'invalid-argument';

export class GroupError extends EngineError {
  constructor(code: GroupErrorCode, message: string) {
    super(code, message);
    this.name = 'GroupError';
  }
}
