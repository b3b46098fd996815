/**
 * How a `pb-node start` process ends. A stop (SIGTERM, SIGINT or `pb-node stop`) runs the
 * daemon's orderly stop, then exits the process explicitly: libp2p's WebRTC worker threads and
 * sockets would otherwise keep it alive after "pb-node stopped". The orderly stop is bounded:
 * after STOP_DEADLINE_MS the process exits anyway (logged), so a stop ends the process within
 * 10 s in every state (mid-backup, mid-repair, WebRTC links open). A second signal exits at once;
 * FORCE_EXIT_MS is the last backstop should the exit itself be held up. The data directory's lock
 * is released by the exit hook (pid-lock.ts), i.e. only when the process really goes.
 */

/** The orderly stop's bound; the process exits when it ends or when this passes. */
export const STOP_DEADLINE_MS = 8_000;
/** Exit unconditionally this long after the stop was asked for. */
export const FORCE_EXIT_MS = 30_000;

export interface StoppableDaemon {
  /** Starts (or joins) the orderly stop. */
  stop(): Promise<void>;
  /** Settles when a stop was asked for, by any path (signal or control socket). */
  readonly stopRequested: Promise<void>;
  /** Settles when the orderly stop has finished. */
  readonly stoppedPromise: Promise<void>;
  log(line: string): void;
}

export interface ShutdownOptions {
  deadlineMs?: number;
  forceMs?: number;
  exit?: (code: number) => void;
  signals?: readonly NodeJS.Signals[];
}

/**
 * Wires the signals and the bounded exit for `daemon`; resolves with the exit code once the
 * process is about to exit (tests pass their own `exit`).
 */
export function exitWhenStopped(daemon: StoppableDaemon, options: ShutdownOptions = {}): Promise<number> {
  const deadlineMs = options.deadlineMs ?? STOP_DEADLINE_MS;
  const forceMs = options.forceMs ?? FORCE_EXIT_MS;
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const signals = options.signals ?? (['SIGTERM', 'SIGINT'] as const);
  let done = false;
  let finish!: (code: number) => void;
  const finished = new Promise<number>((resolve) => {
    finish = (code) => {
      if (done) return;
      done = true;
      for (const s of signals) process.removeListener(s, onSignal);
      resolve(code);
      exit(code);
    };
  });
  let signalled = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signalled++;
    if (signalled === 1) {
      daemon.log(`${signal}: stopping (the process exits within ${Math.round(deadlineMs / 1000)} s)`);
      void daemon.stop().catch((e: unknown) => daemon.log(`stop failed: ${String(e)}`));
      return;
    }
    daemon.log(`${signal} again: exiting now`);
    finish(1);
  };
  for (const s of signals) process.on(s, onSignal);
  void daemon.stopRequested.then(() => {
    const deadline = setTimeout(() => {
      daemon.log(`the stop did not finish within ${deadlineMs} ms: exiting anyway`);
      finish(0);
    }, deadlineMs);
    const force = setTimeout(() => finish(1), forceMs);
    // Neither timer keeps the process alive on its own; an explicit exit follows the stop anyway.
    deadline.unref();
    force.unref();
  });
  void daemon.stoppedPromise.then(() => finish(0));
  return finished;
}
