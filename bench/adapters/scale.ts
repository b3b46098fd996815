/**
 * bench/scale.ts in the suite's shape: a member's repair rounds in a group of eight holding
 * 100,000 stripes (20,000 quick): <= 0.2 % of one core while the group is quiet, and the
 * listings kept <= 100 MiB (#14's idle targets, at a real group's size).
 */
import { atMost, type BenchAdapter, numberAt } from '../report.ts';

export const adapter: BenchAdapter = {
  title: 'Repair rounds at scale (eight members, 4+2, list versions, a quiet group)',
  quickArgs: ['--quick'],
  fullArgs: [],
  summarize(json) {
    const stripes = numberAt(json, 'stripes');
    if (stripes === null) throw new Error('no "stripes" in the scale report');
    return {
      targets: [
        atMost('quiet repair rounds, % of one core', numberAt(json, 'roundsQuietPercent'), 0.2, '%'),
        atMost('listings kept (all members)', numberAt(json, 'listingsKeptMiB'), 100, 'MiB'),
      ],
      notes: [
        `${stripes} stripes; before list versions the rounds took ${numberAt(json, 'roundsBeforePercent') ?? '?'} % of a core and moved ${numberAt(json, 'trafficBeforeMiBPerRound') ?? '?'} MiB each way a round`,
        `a full plan (hourly while quiet) holds ${numberAt(json, 'planRetainedMiB') ?? '?'} MiB while it runs; status's shard locations ${numberAt(json, 'locations', 'mib') ?? '?'} MiB`,
      ],
    };
  },
};
