import { describe, expect, it } from 'vitest';
import { parseRate, parseUploadConfig } from '../../../runtime/daemon/upload/upload-config.ts';
import {
  type GovernorClock,
  MAX_PAUSE_MS,
  UploadGovernor,
} from '../../../runtime/daemon/upload/upload-governor.ts';

/** A clock that moves only when someone sleeps (or the test moves it). */
class FakeClock implements GovernorClock {
  ms = 1_000_000;
  minute = 8 * 60;
  slept = 0;
  now(): number {
    return this.ms;
  }
  minuteOfDay(): number {
    return this.minute;
  }
  async sleep(ms: number): Promise<void> {
    this.slept += ms;
    this.ms += ms;
  }
}

describe('upload config', () => {
  it('reads rates in human units and "off"', () => {
    expect(parseRate('2MB/s', 'upload')).toBe(2_000_000);
    expect(parseRate('500KiB/s', 'upload')).toBe(512_000);
    expect(parseRate(' 1.5 MiB / s ', 'upload')).toBe(1_572_864);
    expect(parseRate('off', 'upload')).toBe(0);
    expect(parseRate(1000, 'upload')).toBe(1000);
    expect(() => parseRate('2MB', 'upload')).toThrow(/upload: "2MB" is not a rate/);
    expect(() => parseRate('fast/s', 'upload')).toThrow(/upload: "fast" is not a size/);
    expect(() => parseRate(-3, 'upload')).toThrow(/upload/);
  });

  it('reads windows and names the bad one', () => {
    expect(parseUploadConfig('1MB/s', [{ hours: '22:00-07:00', upload: 'off' }])).toEqual({
      bytesPerSecond: 1_000_000,
      windows: [{ startMinute: 1320, endMinute: 420, bytesPerSecond: 0 }],
    });
    expect(() => parseUploadConfig('off', [{ hours: '22:00', upload: '1MB/s' }])).toThrow(
      /uploadWindows\[0\]/,
    );
    expect(() => parseUploadConfig('off', [{ hours: '22:00-01:00', upload: '1MB/s', cap: 1 }])).toThrow(
      /unknown setting "cap"/,
    );
    expect(() => parseUploadConfig('off', 'nightly')).toThrow(/uploadWindows must be a list/);
  });
});

describe('upload governor', () => {
  it('holds uploads at the cap on average', async () => {
    const clock = new FakeClock();
    const gate = new UploadGovernor({ bytesPerSecond: 1000, windows: [] }, clock);
    const start = clock.ms;
    for (let i = 0; i < 10; i++) await gate.take(500);
    // 5000 bytes at 1000 B/s with one second of burst: at least 4 s.
    expect(clock.ms - start).toBeGreaterThanOrEqual(4000);
    expect(clock.ms - start).toBeLessThanOrEqual(4500);
  });

  it('switches caps at a window edge', async () => {
    const clock = new FakeClock();
    const gate = new UploadGovernor(
      parseUploadConfig(1000, [{ hours: '22:00-07:00', upload: 'off' }]),
      clock,
    );
    expect(gate.state()).toMatchObject({ bytesPerSecond: 1000, window: null, paused: false });
    clock.minute = 23 * 60;
    const start = clock.ms;
    for (let i = 0; i < 100; i++) await gate.take(1_000_000);
    expect(clock.ms).toBe(start);
    expect(gate.state()).toMatchObject({ bytesPerSecond: 0, window: 0 });
  });

  it('holds every upload while paused, until resume or the pause ends', async () => {
    const clock = new FakeClock();
    const gate = new UploadGovernor({ bytesPerSecond: 0, windows: [] }, clock);
    gate.pause(60_000);
    expect(gate.state()).toMatchObject({ paused: true, pausedUntilMs: clock.ms + 60_000 });
    const start = clock.ms;
    await gate.take(10);
    expect(clock.ms - start).toBeGreaterThanOrEqual(60_000);
    expect(gate.state()).toMatchObject({ paused: false, pausedUntilMs: null });

    // A resume lets a waiting upload go at its next look.
    const real = new UploadGovernor({ bytesPerSecond: 0, windows: [] });
    real.pause(null);
    expect(real.state().pausedUntilMs).toBeGreaterThan(Date.now() + MAX_PAUSE_MS - 60_000);
    let done = false;
    const waiting = real.take(10).then(() => {
      done = true;
    });
    await new Promise((r) => setTimeout(r, 600));
    expect(done).toBe(false);
    real.resume();
    await waiting;
    expect(done).toBe(true);
    expect(() => real.pause(MAX_PAUSE_MS + 1)).toThrow(/a pause lasts/);
  });
});
