/**
 * Human sizes and durations on the command line and in the config: `500G`, `1.5TiB`, `24h`, `30m`.
 * One convention for the node and the simulator (engine/units.ts, docs/config.md "Units").
 */
export {
  durationSetting,
  formatDuration,
  formatSize,
  parseDuration,
  parseSize,
  sizeSetting,
} from '../../engine/index.ts';
