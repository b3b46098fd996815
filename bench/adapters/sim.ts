/**
 * bench/sim.ts in the suite's shape (also in --quick): the churn year for 50 members in <= 10 s
 * and the heavy ten years for 8 members in <= 30 s, each scaled to the days run.
 */
import { atMost, type BenchAdapter, numberAt, recordsAt } from '../report.ts';

export const adapter: BenchAdapter = {
  title: 'Simulator (50 members, a year of hourly churn; 8 members, ten years at 300 % disk failures)',
  quickArgs: [],
  fullArgs: [],
  summarize(json) {
    const scenarios = recordsAt(json, 'scenarios');
    return {
      targets: scenarios.map((s) =>
        atMost(
          `${String(s.scenario)}: wall time for ${numberAt(s, 'days') ?? '?'} simulated days`,
          numberAt(s, 'wallSeconds'),
          numberAt(s, 'targetSeconds') ?? 0,
          's',
        ),
      ),
      notes: scenarios.map(
        (s) =>
          `${String(s.scenario)}: ${numberAt(s, 'members') ?? '?'} members, ${numberAt(s, 'events') ?? '?'} events, ` +
          `${numberAt(s, 'eventsPerSecond') ?? '?'} events/s, ${numberAt(s, 'failures') ?? '?'} disk failures, ` +
          `${numberAt(s, 'modelledStripes') ?? '?'} stripes modelled`,
      ),
    };
  },
};
