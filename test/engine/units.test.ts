import { describe, expect, it } from 'vitest';
import {
  durationSetting,
  formatDuration,
  formatSize,
  parseDuration,
  parseSize,
  sizeSetting,
} from '../../engine/index.ts';
import { formatSize as nodeFormatSize, parseSize as nodeParseSize } from '../../runtime/daemon/units.ts';
import {
  parseBytes,
  formatBytes as simFormatBytes,
  parseDuration as simParseDuration,
} from '../../sim/units.ts';

describe('units: one decimal convention for input and output', () => {
  it('reads decimal prefixes as powers of 1000 and binary ones only when spelled out', () => {
    expect(parseSize('500G')).toBe(500e9);
    expect(parseSize('2g')).toBe(2e9);
    expect(parseSize('1.5T')).toBe(1.5e12);
    expect(parseSize('800MB')).toBe(800e6);
    expect(parseSize('64MiB')).toBe(64 * 2 ** 20);
    expect(parseSize('1.5TiB')).toBe(1.5 * 2 ** 40);
    expect(parseSize(' 1048576 ')).toBe(1048576);
  });

  it('prints what it reads: --pledge 2G shows 2.00 GB, not 1.9 GiB', () => {
    expect(formatSize(parseSize('2G'))).toBe('2.00 GB');
    expect(formatSize(parseSize('500G'))).toBe('500 GB');
    expect(formatSize(parseSize('12.5M'))).toBe('12.5 MB');
    expect(formatSize(999)).toBe('999 B');
    expect(formatSize(1536)).toBe('1.54 kB');
  });

  it('the node, the simulator and the engine are the same functions', () => {
    for (const text of ['10T', '500G', '64MiB', '1000']) {
      expect(parseBytes(text, 'x')).toBe(parseSize(text));
      expect(nodeParseSize(text)).toBe(parseSize(text));
    }
    for (const bytes of [0, 999, 1e6, 1.5e12, 10e12]) {
      expect(simFormatBytes(bytes)).toBe(formatSize(bytes));
      expect(nodeFormatSize(bytes)).toBe(formatSize(bytes));
    }
    expect(simParseDuration('24h', 'x')).toBe(parseDuration('24h'));
  });

  it('reads durations with one unit', () => {
    expect(parseDuration('24h')).toBe(86_400_000);
    expect(parseDuration('30m')).toBe(1_800_000);
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('7d')).toBe(7 * 86_400_000);
    expect(parseDuration('1w')).toBe(7 * 86_400_000);
  });

  it('refuses bad input with a message naming the value and the setting', () => {
    expect(() => parseSize('lots', 'pledge')).toThrow('pledge: "lots" is not a size');
    expect(() => parseSize('5X')).toThrow(/not a size/);
    expect(() => parseSize('-5G')).toThrow(/not a size/);
    expect(() => parseSize('99999999P')).toThrow(/too large/);
    expect(() => parseSize('1'.repeat(100))).toThrow(/not a size/);
    expect(() => parseDuration('86400000', 'grace')).toThrow('grace: "86400000" is not a duration');
    expect(() => parseDuration('1h30m')).toThrow(/not a duration/);
    expect(() => parseBytes('big', '--data')).toThrow('--data: "big" is not a size');
  });

  it('writes settings exactly and reads them back', () => {
    expect(sizeSetting(500e9)).toBe('500G');
    expect(sizeSetting(2 ** 30)).toBe('1GiB');
    expect(sizeSetting(1234)).toBe('1234');
    expect(sizeSetting(0)).toBe('0');
    expect(durationSetting(86_400_000)).toBe('24h');
    expect(durationSetting(3 * 86_400_000)).toBe('3d');
    expect(durationSetting(30_000)).toBe('30s');
    expect(durationSetting(1500)).toBe('1500ms');
    for (const bytes of [0, 1, 999, 1000, 1024, 3 * 2 ** 40, 7e15, 123_456_789]) {
      expect(parseSize(sizeSetting(bytes))).toBe(bytes);
    }
    for (const ms of [0, 1, 1000, 90_000, 3_600_000, 86_400_000 * 400, 123_456]) {
      expect(parseDuration(durationSetting(ms))).toBe(ms);
    }
  });

  it('formats spans roughly', () => {
    expect(formatDuration(45_000)).toBe('45 s');
    expect(formatDuration(12 * 60_000)).toBe('12 min');
    expect(formatDuration(5 * 3_600_000)).toBe('5 h');
    expect(formatDuration(3 * 86_400_000)).toBe('3 days');
  });
});
