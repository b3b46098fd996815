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
  fitLine,
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
    // The last line: the whole run's average rate and its duration, not the last moment's rate.
    expect(lines.at(-1)).toBe('restore 100%: 105 MB of 105 MB, 10.5 MB/s average, 10s in all');
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
    const p = await createProgress('backup', { tty: true, stream, now: () => now, handleSigint: false });
    expect(out).toMatch(/backup\s+\[░+\] scanning, 0s/);
    p.setTotal(40 << 20);
    now = 1000;
    p.update(10 << 20, '2 files');
    now = 2000;
    p.update(20 << 20, '4 files');
    p.note('a line above the bar');
    p.stop();
    expect(out).toContain('a line above the bar');
    // The last frame: the run's average, and every frame fits 80 columns.
    expect(out).toMatch(/backup\s+\[[█░]+\] 21\.0 MB of 41\.9 MB, 10\.5 MB\/s average, 2s in all, 4 files/);
    const frames = out
      .replace(new RegExp(`${String.fromCharCode(27)}\\[[0-9;?]*[A-Za-z]`, 'g'), '')
      .split(/[\r\n]+/);
    for (const f of frames) expect(f.length, f).toBeLessThanOrEqual(80);
  });

  it('a backup says "scanning" at once; the last line is the average of a run that slowed down', async () => {
    const lines: string[] = [];
    let now = 0;
    const p = await createProgress('backup', {
      tty: false,
      write: (l) => lines.push(l),
      now: () => now,
      handleSigint: false,
    });
    expect(lines).toEqual(['backup: scanning']);
    p.setTotal(200 << 20);
    for (let i = 1; i <= 10; i++) {
      now += 500; // 20 MiB/s for 5 s ...
      p.update(i * (10 << 20), `${i} files`);
    }
    now += 5000; // ... then a stall of 5 s: the moment's rate is 0, the run's 10 MiB/s
    p.update(100 << 20, '10 files');
    p.stop();
    expect(lines.at(-1)).toBe('backup 50%: 105 MB of 210 MB, 10.5 MB/s average, 10s in all, 10 files');
  });

  it('lines fit 80 columns: details drop from the end, then the text is cut', () => {
    const long = progressLine('backup', 454.8e6, 504.8e6, 19.4e6, 12345, '1234567 files, 123456 stripes');
    expect(long.length).toBeLessThanOrEqual(80);
    expect(long.startsWith('backup 90%: 455 MB of 505 MB, 19.4 MB/s, 3h25m left')).toBe(true);
    expect(fitLine(['x'.repeat(100)], 80)).toBe(`${'x'.repeat(79)}…`);
    expect(fitLine(['a', 'b'.repeat(90)], 80)).toBe('a');
  });

  it('counts an incremental run once: a changed file finishing with unchanged ones in one step', () => {
    // The daemon reports at most every 500 ms: between two reports an unchanged file (100 bytes)
    // was counted and a changed one (50 bytes, read) finished. Its bytes are in `bytes` and in
    // `bytesRead`; the scanner's own count of unchanged bytes keeps them apart.
    const done = scanDoneBytes();
    expect(done({ bytes: 0, bytesRead: 0, filesUnchanged: 0, bytesUnchanged: 0 })).toBe(0);
    expect(done({ bytes: 150, bytesRead: 50, filesUnchanged: 1, bytesUnchanged: 100 })).toBe(150);
    expect(done({ bytes: 150, bytesRead: 70, filesUnchanged: 1, bytesUnchanged: 100 })).toBe(170);
    expect(done({ bytes: 400, bytesRead: 70, filesUnchanged: 2, bytesUnchanged: 330 })).toBe(400);
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
