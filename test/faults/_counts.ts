/**
 * Counts of the fault suite: modest in CI (`pnpm test`), large with `pnpm test:faults --long`
 * (which sets PB_FAULTS_LONG=1). PB_FUZZ_RUNS overrides the fuzz count alone.
 */
export const LONG = process.env.PB_FAULTS_LONG === '1';

/** Generated and mutated inputs per decoder. */
export const FUZZ_RUNS = Number(process.env.PB_FUZZ_RUNS ?? (LONG ? 100_000 : 5_000));

/** kill -9 points of the local-mode crash test, and of the daemon-mode one. */
export const LOCAL_KILLS = LONG ? 200 : 20;
export const DAEMON_KILLS = LONG ? 12 : 3;

/** Vitest timeout for a test whose work scales with the counts above. */
export const scaledTimeoutMs = (ciMs: number, longMs: number): number => (LONG ? longMs : ciMs);
