/**
 * The recovery's dial errors as one line (runtime/daemon/recovery/recovery-dial.ts): a bare event
 * as cause (a stream closed under the dial) is named by its type, never "[object Event]".
 */
import { describe, expect, it } from 'vitest';
import { describeDialError } from '../../../runtime/daemon/recovery/recovery-dial.ts';

describe('describeDialError', () => {
  it('names a bare close event by its type, as the error and as its cause', () => {
    const event = new Event('close');
    expect(describeDialError(event)).toBe("a 'close' event");
    const wrapped = new Error("the group log stream ended: a 'close' event", { cause: event });
    const text = describeDialError(wrapped);
    expect(text).toBe("the group log stream ended: a 'close' event");
    expect(text).not.toContain('[object');
    const other = new Error('the connection was reset', { cause: event });
    expect(describeDialError(other)).toBe("the connection was reset (cause: a 'close' event)");
  });

  it('lists each address of an aggregate dial error with its own reason', () => {
    const aggregate = new AggregateError(
      [
        new Error('ECONNREFUSED 127.0.0.1:9'),
        Object.assign(new Error('timed out'), { name: 'TimeoutError' }),
      ],
      'all multiaddr dials failed',
    );
    expect(describeDialError(aggregate)).toBe(
      'AggregateError: all multiaddr dials failed (ECONNREFUSED 127.0.0.1:9; TimeoutError: timed out)',
    );
  });
});
