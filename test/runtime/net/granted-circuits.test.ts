/** The relay's memory of guests' granted circuits: what keeps a joining candidate's link open. */
import { describe, expect, it } from 'vitest';
import { GrantedCircuits } from '../../../runtime/net/guests.ts';

describe('GrantedCircuits', () => {
  it('remembers the latest grant per guest', () => {
    const circuits = new GrantedCircuits(60_000);
    circuits.note('a', 1_000);
    circuits.note('b', 2_000);
    circuits.note('a', 3_000);
    expect(circuits.grantedAtMs('a')).toBe(3_000);
    expect(circuits.grantedAtMs('b')).toBe(2_000);
    expect(circuits.grantedAtMs('c')).toBeUndefined();
  });

  it('forgets grants older than its memory', () => {
    const circuits = new GrantedCircuits(60_000);
    circuits.note('old', 0);
    circuits.note('new', 61_000);
    expect(circuits.grantedAtMs('old')).toBeUndefined();
    expect(circuits.grantedAtMs('new')).toBe(61_000);
  });

  it('holds at most 1024 guests, dropping the oldest', () => {
    const circuits = new GrantedCircuits(3_600_000);
    for (let i = 0; i < 1500; i++) circuits.note(`p${i}`, i);
    expect(circuits.grantedAtMs('p0')).toBeUndefined();
    expect(circuits.grantedAtMs('p475')).toBeUndefined();
    expect(circuits.grantedAtMs('p476')).toBe(476);
    expect(circuits.grantedAtMs('p1499')).toBe(1499);
  });
});
