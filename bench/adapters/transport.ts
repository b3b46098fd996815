/** bench/transport.ts in the suite's shape: put and get >= 0.8x the raw stream on every path. */
import { atLeast, type BenchAdapter, numberAt } from '../report.ts';

const PATHS = ['tcp', 'relay', 'webrtc'] as const;

export const adapter: BenchAdapter = {
  title: 'Transport (shard put/get against a raw libp2p stream)',
  quickArgs: ['--mib', '32'],
  fullArgs: [],
  summarize(json) {
    const targets = PATHS.flatMap((path) => {
      const raw = numberAt(json, path, 'rawMiBs');
      const of = (key: string) => {
        const v = numberAt(json, path, key);
        return v !== null && raw ? v / raw : null;
      };
      return [
        atLeast(`${path}: put / raw`, of('putMiBs'), 0.8, 'x'),
        atLeast(`${path}: get / raw`, of('getMiBs'), 0.8, 'x'),
      ];
    });
    const notes = PATHS.map((p) => `${p}: raw ${numberAt(json, p, 'rawMiBs') ?? '?'} MiB/s`);
    return { targets, notes: [notes.join('; ')] };
  },
};
