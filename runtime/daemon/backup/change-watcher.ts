/**
 * File-change events on the backed-up directories (@parcel/watcher), debounced: `onSettled` runs
 * once the directories have been quiet for `debounceMs`, and at the latest `maxWaitMs` after
 * the first change of a burst (a tree that never stops changing is still backed up). The data
 * directory is ignored (the owner's own index must not trigger backups of itself).
 */
import watcher from '@parcel/watcher';

/** Bound on watched directories (each is one native subscription). */
export const MAX_WATCHED_DIRECTORIES = 64;

export class ChangeWatcher {
  private subscriptions: { unsubscribe(): Promise<void> }[] = [];
  private quietTimer: NodeJS.Timeout | null = null;
  private burstTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly options: {
      debounceMs: number;
      maxWaitMs: number;
      ignore: string[];
      onSettled: () => void;
      onError: (error: Error) => void;
    },
  ) {
    if (!(options.debounceMs > 0) || options.maxWaitMs < options.debounceMs)
      throw new RangeError('a change watcher needs debounceMs > 0 and maxWaitMs >= debounceMs');
  }

  async start(directories: readonly string[]): Promise<void> {
    if (directories.length > MAX_WATCHED_DIRECTORIES)
      throw new RangeError(`at most ${MAX_WATCHED_DIRECTORIES} directories are watched`);
    for (const dir of directories) {
      try {
        this.subscriptions.push(
          await watcher.subscribe(
            dir,
            (error, events) => {
              if (error) this.options.onError(error);
              else if (events.length > 0) this.changed();
            },
            { ignore: this.options.ignore },
          ),
        );
      } catch (error) {
        this.options.onError(new Error(`cannot watch ${dir}: ${(error as Error).message}`));
      }
    }
  }

  private changed(): void {
    if (this.quietTimer !== null) clearTimeout(this.quietTimer);
    this.quietTimer = setTimeout(() => this.settle(), this.options.debounceMs);
    if (this.burstTimer === null) this.burstTimer = setTimeout(() => this.settle(), this.options.maxWaitMs);
  }

  private settle(): void {
    if (this.quietTimer !== null) clearTimeout(this.quietTimer);
    if (this.burstTimer !== null) clearTimeout(this.burstTimer);
    this.quietTimer = null;
    this.burstTimer = null;
    this.options.onSettled();
  }

  async stop(): Promise<void> {
    if (this.quietTimer !== null) clearTimeout(this.quietTimer);
    if (this.burstTimer !== null) clearTimeout(this.burstTimer);
    const subs = this.subscriptions;
    this.subscriptions = [];
    await Promise.allSettled(subs.map((s) => s.unsubscribe()));
  }
}
