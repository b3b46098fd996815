import { describe, expect, it } from 'vitest';
import { fullCollector, MemoryTrim } from '../../../runtime/daemon/memory-trim.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits (at most 5 s) until `done()`: timers on a loaded machine run late, never early. */
async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 250 && !done(); i++) await sleep(20);
}

describe('memory trim', () => {
  it('collects for real: garbage the process dropped leaves the heap', () => {
    const { gc, problem } = fullCollector();
    expect(problem).toBeNull();
    expect(gc).toBeTypeOf('function');
    // 400 arrays of 16,384 doubles (about 50 MiB), made and dropped in a frame of their own.
    const made = (): number => Array.from({ length: 400 }, () => new Array<number>(16_384).fill(0.5)).length;
    expect(made()).toBe(400);
    const before = process.memoryUsage().heapUsed;
    gc!();
    expect(before - process.memoryUsage().heapUsed).toBeGreaterThan(30 * 2 ** 20);
  });

  it('one trim per burst, however often it is asked, and none closer than the gap', async () => {
    let collected = 0;
    const trim = new MemoryTrim({ delayMs: 20, minGapMs: 1500, log: () => {}, collect: () => collected++ });
    trim.soon();
    trim.soon();
    trim.soon();
    await until(() => collected > 0);
    await sleep(50);
    expect(collected).toBe(1);
    trim.soon(); // inside the gap: waits for it
    await sleep(80);
    expect(collected).toBe(1);
    await until(() => collected > 1);
    expect(collected).toBe(2);
    trim.stop();
  });

  it('a stopped trim never collects, also when one was due', async () => {
    let collected = 0;
    const trim = new MemoryTrim({ delayMs: 20, minGapMs: 0, log: () => {}, collect: () => collected++ });
    trim.soon();
    trim.stop();
    trim.soon();
    await sleep(80);
    expect(collected).toBe(0);
  });

  it('refuses negative delays', () => {
    expect(() => new MemoryTrim({ delayMs: -1, log: () => {} })).toThrow(/>= 0 ms/);
  });
});
