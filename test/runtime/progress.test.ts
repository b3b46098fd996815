/**
 * Progress for backup, restore and repair: rate and time left from samples, plain lines at most
 * every PLAIN_EVERY_MS (and the last one), a cli-progress bar with bytes, rate and time left on a
 * terminal, and the bounded walk that gives a backup its total.
 */
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  createProgress,
  formatBytes,
  formatSeconds,
  PLAIN_EVERY_MS,
  progressLine,
  RateMeter,
  scanDoneBytes,
  sourceBytes,
} from '../../runtime/progress.ts';

describe('progress', () => {
  it('measures the rate over a moving window and the time left', () => {
    const m = new RateMeter();
    expect(m.rate()).toBeNull();
    m.add(0, 0);
    m.add(1000, 10 << 20);
    expect(m.rate()).toBe(10 << 20);
    expect(m.secondsLeft(30 << 20)).toBe(2);
    expect(m.secondsLeft(null)).toBeNull();
    // After a stall longer than the window the rate reflects the stall, not the run's average.
    m.add(20_000, 10 << 20);
    m.add(21_000, 10 << 20);
    expect(m.rate()).toBe(0);
  });

  it('formats lines with bytes, percentage, rate and time left', () => {
    expect(progressLine('backup', 3 << 20, 12 << 20, 1 << 20, 9, '3 files')).toBe(
      'backup 25%: 3.15 MB of 12.6 MB, 1.05 MB/s, 9s left, 3 files',
    );
    expect(progressLine('restore', 512, null, null, null)).toBe('restore: 512 B');
    expect(formatBytes(1536)).toBe('1.54 kB');
    expect(formatSeconds(3725)).toBe('1h02m');
    expect(formatSeconds(75)).toBe('1m15s');
  });

  it('plain mode: one line at most every PLAIN_EVERY_MS, and the final one', async () => {
    const lines: string[] = [];
    let now = 0;
    const p = await createProgress('restore', { tty: false, write: (l) => lines.push(l), now: () => now });
    p.setTotal(100 << 20);
    for (let i = 1; i <= 100; i++) {
      now += 100; // 10 s in all
      p.update(i << 20);
    }
    p.stop();
    expect(lines.length).toBeLessThanOrEqual(Math.ceil(10_000 / PLAIN_EVERY_MS) + 1);
    expect(lines[0]).toMatch(/^restore 1%: 1\.05 MB of 105 MB/);
    expect(lines.at(-1)).toMatch(/^restore 100%: 105 MB of 105 MB, 10\.5 MB\/s, 0s left$/);
  });

  it('--json: nothing but notes', async () => {
    const lines: string[] = [];
    const p = await createProgress('backup', { tty: false, quiet: true, write: (l) => lines.push(l) });
    p.update(5);
    p.note('connecting');
    p.stop();
    expect(lines).toEqual(['connecting']);
  });

  it('terminal mode draws a bar with bytes, rate and time left', async () => {
    let out = '';
    const stream = new Writable({
      write(chunk, _enc, cb) {
        out += String(chunk);
        cb();
      },
    }) as Writable & { isTTY: boolean; columns: number; cursorTo: () => boolean; clearLine: () => boolean };
    stream.isTTY = true;
    stream.columns = 120;
    stream.cursorTo = () => true;
    stream.clearLine = () => true;
    let now = 0;
    const p = await createProgress('backup', { tty: true, stream, now: () => now });
    p.setTotal(40 << 20);
    now = 1000;
    p.update(10 << 20, '2 files');
    now = 2000;
    p.update(20 << 20, '4 files');
    p.note('a line above the bar');
    p.stop();
    expect(out).toContain('a line above the bar');
    expect(out).toMatch(/backup\s+\[[█░]+\] 21\.0 MB of 41\.9 MB, 10\.5 MB\/s, 2s left, 4 files/);
  });

  it("counts a backup's bytes: unchanged files whole, changed files as they are read", () => {
    const done = scanDoneBytes();
    expect(done({ bytes: 100, bytesRead: 0, filesUnchanged: 1 })).toBe(100); // an unchanged file
    expect(done({ bytes: 100, bytesRead: 40, filesUnchanged: 1 })).toBe(140); // reading a changed one
    expect(done({ bytes: 180, bytesRead: 80, filesUnchanged: 1 })).toBe(180); // it finished (80 bytes)
    expect(done({ bytes: 230, bytesRead: 80, filesUnchanged: 2 })).toBe(230); // another unchanged
    expect(done({ bytes: 230, bytesRead: 90, filesUnchanged: 2 })).toBe(240);
  });

  it('walks the sources for a total, bounded', async () => {
    const root = fs.mkdtempSync(join(tmpdir(), 'pb-progress-'));
    try {
      fs.mkdirSync(join(root, 'a', 'b'), { recursive: true });
      fs.writeFileSync(join(root, 'a', 'one'), Buffer.alloc(1000));
      fs.writeFileSync(join(root, 'a', 'b', 'two'), Buffer.alloc(234));
      fs.symlinkSync('one', join(root, 'a', 'link'));
      expect(await sourceBytes([root])).toBe(1234);
      expect(await sourceBytes([root], { maxEntries: 2 })).toBeNull();
      expect(await sourceBytes([join(root, 'missing')])).toBe(0);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
