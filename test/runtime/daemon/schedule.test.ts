/** The backup schedule setting, the recovery secret's two spellings and the holders of an owner. */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { GroupState } from '../../../engine/index.ts';
import { ScheduleError, scheduleIntervalMs } from '../../../runtime/daemon/backup/schedule.ts';
import {
  ConfigError,
  DEFAULT_CONFIG,
  parseConfig,
  renderConfig,
} from '../../../runtime/daemon/config/config.ts';
import { holdersOf } from '../../../runtime/daemon/group/network-directory.ts';
import { parseSecretText } from '../../../runtime/daemon/recovery/recovery.ts';
import { secretToWords } from '../../../runtime/daemon/recovery/secret-words.ts';

describe('schedule', () => {
  it('names, minutes as numbers or numeric strings, off', () => {
    expect(scheduleIntervalMs('hourly')).toBe(3_600_000);
    expect(scheduleIntervalMs('daily')).toBe(86_400_000);
    expect(scheduleIntervalMs('off')).toBeNull();
    expect(scheduleIntervalMs(15)).toBe(900_000);
    expect(scheduleIntervalMs('0.1')).toBe(6000);
  });

  it('refuses nonsense with a typed error', () => {
    for (const bad of ['weekly', '', '-5', 0, 1e9, Number.NaN, null, {}, '1e3'])
      expect(() => scheduleIntervalMs(bad), JSON.stringify(bad)).toThrow(ScheduleError);
  });

  it('the config rejects a bad schedule and relative directories', () => {
    const text = (patch: object) => renderConfig({ ...DEFAULT_CONFIG, ...patch });
    expect(parseConfig(text({ schedule: 30 }), 'c').schedule).toBe(30);
    expect(() => parseConfig(text({ schedule: 'sometimes' }), 'c')).toThrow(ConfigError);
    expect(() => parseConfig(text({ directories: ['docs'] }), 'c')).toThrow(/absolute/);
  });
});

describe('recovery secret text', () => {
  it('accepts the 17 words (any case, spaces or dashes) and 64 hex characters', () => {
    const secret = randomBytes(32);
    const words = secretToWords(secret);
    expect(Buffer.from(parseSecretText(words))).toEqual(secret);
    expect(Buffer.from(parseSecretText(` ${words.toUpperCase().replaceAll('-', ' ')}\n`))).toEqual(secret);
    expect(Buffer.from(parseSecretText(secret.toString('hex')))).toEqual(secret);
  });

  it('refuses a mistyped word and the wrong count', () => {
    const words = secretToWords(randomBytes(32)).split('-');
    expect(() => parseSecretText(words.slice(1).join(' '))).toThrow(/17 words/);
    const swapped = [...words];
    [swapped[0], swapped[1]] = [swapped[1]!, swapped[0]!];
    if (swapped[0] !== swapped[1]) expect(() => parseSecretText(swapped.join('-'))).toThrow(/mistyped/);
  });
});

describe('holdersOf', () => {
  it('every member but the owner that pledged, sorted', () => {
    const member = (id: string, pledgeBytes: number) => ({ id, pledgeBytes, name: id, addresses: [] });
    const state = {
      members: [member('c', 5), member('owner', 9), member('a', 7), member('b', 0)],
    } as unknown as GroupState;
    expect(holdersOf(state, 'owner')).toEqual([
      { id: 'a', dir: '', pledgeBytes: 7 },
      { id: 'c', dir: '', pledgeBytes: 5 },
    ]);
  });
});
