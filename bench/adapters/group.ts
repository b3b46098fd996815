/** bench/group.ts in the suite's shape. */
import { atLeast, atMost, type BenchAdapter, numberAt } from '../report.ts';

export const adapter: BenchAdapter = {
  title: 'Group op log (verify, fold, sync)',
  quickArgs: ['--noble', '200'],
  fullArgs: [],
  summarize(json) {
    const bare = numberAt(json, 'verify', 'rawNodeCryptoOpsPerSec');
    const oneThread = numberAt(json, 'verify', 'nodeOpsPerSec');
    const pool = numberAt(json, 'verify', 'poolOpsPerSec');
    const best = oneThread === null && pool === null ? null : Math.max(oneThread ?? 0, pool ?? 0);
    const ops = numberAt(json, 'history', 'ops');
    return {
      targets: [
        // "Verification at the speed of node:crypto's Ed25519": the best path (one thread or the
        // worker pool) against bare crypto.verify on one thread, in the same run.
        atLeast(
          'verify ops/s (best path) / bare crypto.verify',
          best !== null && bare ? best / bare : null,
          0.9,
          'x',
        ),
        atLeast('fold of verified ops', numberAt(json, 'fold', 'opsPerSec'), 100_000, 'ops/s'),
        // "The sync exchanges only the missing 1% plus a digest": all bytes over the missing ops' bytes.
        atMost(
          'sync bytes / missing ops bytes (1% each way)',
          numberAt(json, 'sync', 'overheadOverMissing'),
          1.5,
          'x',
        ),
      ],
      notes: [
        `${ops ?? '?'} ops; verify: bare ${Math.round(bare ?? 0)}/s, 1 thread ${Math.round(oneThread ?? 0)}/s, pool ${Math.round(pool ?? 0)}/s`,
      ],
    };
  },
};
