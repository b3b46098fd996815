import { describe, expect, it } from 'vitest';
import {
  dataRateUnderCap,
  EngineError,
  parseUploadHours,
  type UploadSchedule,
  uploadCapAt,
  validateUploadSchedule,
} from '../../engine/index.ts';

const night = parseUploadHours('22:00-07:00');
const lunch = parseUploadHours('12:00-13:30');
const schedule: UploadSchedule = {
  bytesPerSecond: 2_000_000,
  windows: [
    { ...night, bytesPerSecond: 10_000_000 },
    { ...lunch, bytesPerSecond: 0 },
  ],
};

describe('upload schedule', () => {
  it('reads spans of hours, wrapping midnight', () => {
    expect(night).toEqual({ startMinute: 22 * 60, endMinute: 7 * 60 });
    expect(parseUploadHours(' 9:05 - 17:00 ')).toEqual({ startMinute: 545, endMinute: 1020 });
    expect(parseUploadHours('18:00-24:00')).toEqual({ startMinute: 1080, endMinute: 0 });
    for (const bad of ['22-07', '25:00-01:00', '10:00-10:00', '10:60-11:00', 'night'])
      expect(() => parseUploadHours(bad), bad).toThrow(EngineError);
  });

  it('gives the base cap outside windows and the first matching window inside', () => {
    expect(uploadCapAt(schedule, 8 * 60)).toMatchObject({ bytesPerSecond: 2_000_000, window: null });
    expect(uploadCapAt(schedule, 23 * 60)).toMatchObject({ bytesPerSecond: 10_000_000, window: 0 });
    expect(uploadCapAt(schedule, 3 * 60)).toMatchObject({ bytesPerSecond: 10_000_000, window: 0 });
    expect(uploadCapAt(schedule, 6 * 60 + 59)).toMatchObject({ window: 0 });
    expect(uploadCapAt(schedule, 7 * 60)).toMatchObject({ window: null });
    expect(uploadCapAt(schedule, 12 * 60 + 15)).toMatchObject({ bytesPerSecond: 0, window: 1 });
    const overlapping: UploadSchedule = {
      bytesPerSecond: 1,
      windows: [
        { ...parseUploadHours('10:00-12:00'), bytesPerSecond: 2 },
        { ...parseUploadHours('11:00-13:00'), bytesPerSecond: 3 },
      ],
    };
    expect(uploadCapAt(overlapping, 11 * 60 + 30).bytesPerSecond).toBe(2);
    expect(uploadCapAt(overlapping, 12 * 60 + 30).bytesPerSecond).toBe(3);
  });

  it('says how long the cap in force holds: until the next window edge', () => {
    expect(uploadCapAt(schedule, 8 * 60).minutesToChange).toBe(4 * 60);
    expect(uploadCapAt(schedule, 23 * 60).minutesToChange).toBe(8 * 60);
    expect(uploadCapAt(schedule, 22 * 60).minutesToChange).toBe(9 * 60);
    expect(uploadCapAt({ bytesPerSecond: 5, windows: [] }, 100).minutesToChange).toBeNull();
    // Every minute of the day: the change lies 1..1440 minutes ahead, and the cap really holds
    // until then.
    for (let minute = 0; minute < 1440; minute += 7) {
      const now = uploadCapAt(schedule, minute);
      const d = now.minutesToChange!;
      expect(d).toBeGreaterThanOrEqual(1);
      for (let t = 1; t < d; t += 13)
        expect(uploadCapAt(schedule, (minute + t) % 1440).window).toBe(now.window);
    }
  });

  it('refuses bad schedules with the value named', () => {
    expect(() => validateUploadSchedule({ bytesPerSecond: -1, windows: [] })).toThrow(/upload cap/);
    expect(() => validateUploadSchedule({ bytesPerSecond: 1.5, windows: [] })).toThrow(EngineError);
    expect(() =>
      validateUploadSchedule({
        bytesPerSecond: 1,
        windows: [{ startMinute: 5, endMinute: 5, bytesPerSecond: 1 }],
      }),
    ).toThrow(/empty/);
    expect(() =>
      validateUploadSchedule({
        bytesPerSecond: 1,
        windows: [{ startMinute: 0, endMinute: 1440, bytesPerSecond: 1 }],
      }),
    ).toThrow(/window 1's end/);
    const many = Array.from({ length: 25 }, () => ({ startMinute: 0, endMinute: 1, bytesPerSecond: 1 }));
    expect(() => validateUploadSchedule({ bytesPerSecond: 1, windows: many })).toThrow(/at most 24/);
    expect(() => uploadCapAt(schedule, 1440)).toThrow(/minute of the day/);
  });

  it('turns a wire cap into the data rate a k+m code gets through', () => {
    expect(dataRateUnderCap(3_000_000, 2, 1)).toBe(2_000_000);
    expect(dataRateUnderCap(1_000_000, 1, 1)).toBe(500_000);
    expect(() => dataRateUnderCap(1, 0, 1)).toThrow(EngineError);
  });
});
