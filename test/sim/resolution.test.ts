/** The run's resolution: how many stripes `--shard auto` models, and what the report says of it. */
import { describe, expect, it } from 'vitest';
import { main } from '../../sim/cli.ts';
import { defaultConfig, pledgesFromSkew } from '../../sim/config.ts';
import { surprises } from '../../sim/report.ts';
import {
  AUTO_STRIPE_FAILURES,
  expectedFailures,
  MAX_AUTO_STRIPES,
  MIN_AUTO_STRIPES,
  modelledStripes,
} from '../../sim/resolution.ts';
import { runSimulation } from '../../sim/simulation.ts';
import { capture } from './_capture.ts';

describe('the resolution of a run with auto shards', () => {
  it('models 20,000 stripes in a quiet group and fewer, down to a floor, as failures are expected', () => {
    const quiet = defaultConfig();
    expect(expectedFailures(quiet)).toBeCloseTo(5 * 0.05, 9);
    expect(modelledStripes(quiet)).toBe(MAX_AUTO_STRIPES);
    // The heavy benchmark: 8 members, 300 % a year, ten years: about 240 failures.
    const heavy = defaultConfig({ pledgesBytes: pledgesFromSkew(8, 10, 10e9), afr: 3, days: 3650 });
    expect(expectedFailures(heavy)).toBeCloseTo(240, 6);
    expect(modelledStripes(heavy)).toBe(AUTO_STRIPE_FAILURES / 240);
    // Members that join fail too, and so do the scheduled failures.
    const joined = defaultConfig({ ...heavy, joins: 2, failures: [{ member: 0, atDays: 1 }] });
    expect(expectedFailures(joined)).toBeCloseTo(10 * 3 * 10 + 1, 6);
    const storm = defaultConfig({ pledgesBytes: pledgesFromSkew(8, 10, 10e9), afr: 100, days: 3650 });
    expect(modelledStripes(storm)).toBe(MIN_AUTO_STRIPES);
    // A count given is kept, whatever the failures.
    expect(modelledStripes({ ...heavy, targetStripes: 20_000 })).toBe(20_000);
    expect(modelledStripes({ ...heavy, targetStripes: 300 })).toBe(300);
    expect(modelledStripes({ ...quiet, afr: 0 })).toBe(MAX_AUTO_STRIPES);
  });

  it('chooses the shard size for that count, reports it, and explains a coarser run', () => {
    const config = defaultConfig({ pledgesBytes: pledgesFromSkew(6, 4, 20e9), days: 3, samples: 5 });
    const r = runSimulation(config);
    expect(r.config.resolution).toMatchObject({ stripes: MAX_AUTO_STRIPES, auto: true });
    expect(surprises(r).some((n) => n.includes('stripes, not'))).toBe(false);
    const coarse = runSimulation({ ...config, targetStripes: 2000 });
    expect(coarse.config.shardBytes).toBeGreaterThan(r.config.shardBytes);
    expect(coarse.group.storedStripes).toBeLessThan(r.group.storedStripes / 4);
    // A run whose count auto lowered says so, with the failures that lowered it.
    const lowered = {
      ...r,
      config: { ...r.config, resolution: { stripes: 5000, auto: true, expectedFailures: 240 } },
    };
    expect(surprises(lowered)).toContainEqual(
      expect.stringMatching(
        /modelled about 5,000 stripes, not 20,000: about 240 disk failures were expected/,
      ),
    );
    // Not when the count was given, nor with a fixed shard size.
    const given = {
      ...r,
      config: { ...r.config, resolution: { stripes: 5000, auto: false, expectedFailures: 240 } },
    };
    expect(surprises(given).some((n) => n.includes('stripes, not'))).toBe(false);
    expect(runSimulation({ ...config, shardBytes: 2 ** 20 }).config.resolution).toBeNull();
  });

  it('takes --stripes on the command line and refuses a bad count', () => {
    const ok = capture(() =>
      main(['--peers', '4', '--days', '2', '--stripes', '500', '--json', '--no-report']),
    );
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.out).config.resolution).toMatchObject({ stripes: 500, auto: false });
    for (const bad of ['5', 'lots', '2.5']) {
      const r = capture(() => main(['--stripes', bad, '--days', '1', '--no-report']));
      expect(r.code, bad).toBe(2);
      expect(r.err).toMatch(/--stripes/);
    }
    expect(capture(() => main(['--help'])).out).toContain('--stripes');
  });
});
