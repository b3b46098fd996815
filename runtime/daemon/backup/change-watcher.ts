/**
 * File-change events on the backed-up directories (tree-watch.ts), debounced: `onSettled` runs
 * once the directories have been quiet for `debounceMs`, and at the latest `maxWaitMs` after
 * the first change of a burst (a tree that never stops changing is still backed up). The data
 * directory is ignored (the owner's own index must not trigger backups of itself).
 */
import { TreeWatch } from './tree-watch.ts';

/** Bound on configured directories watched (each a tree; tree-watch.ts bounds the directories in all). */
export const MAX_WATCHED_DIRECTORIES = 64;

export class ChangeWatcher {
  private tree: TreeWatch | null = null;
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
    const tree = new TreeWatch({
      ignore: this.options.ignore,
      onChange: () => this.changed(),
      onError: (error) => this.options.onError(error),
    });
    this.tree = tree;
    for (const dir of directories) {
      try {
        await tree.add(dir);
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
    this.tree?.close();
    this.tree = null;
  }
}
