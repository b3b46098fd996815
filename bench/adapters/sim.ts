/** bench/sim.ts in the suite's shape: one simulated year for 50 members in <= 10 s (also in --quick). */
import { atMost, type BenchAdapter, numberAt } from '../report.ts';

export const adapter: BenchAdapter = {
  title: 'Simulator (50 members, one year, hourly churn)',
  quickArgs: [],
  fullArgs: [],
  summarize(json) {
    const days = numberAt(json, 'days') ?? 365;
    const wall = numberAt(json, 'wallSeconds');
    return {
      targets: [atMost(`wall time for ${days} simulated days`, wall, (10 * days) / 365, 's')],
      notes: [
        `${numberAt(json, 'events') ?? '?'} events, ${numberAt(json, 'eventsPerSecond') ?? '?'} events/s, ${numberAt(json, 'failures') ?? '?'} disk failures`,
      ],
    };
  },
};
