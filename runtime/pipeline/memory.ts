/**
 * Peak memory bound: sealed chunks arrive as large, short-lived buffers whose memory V8 returns
 * only when a collection runs, and V8 may wait for a hundred MiB of them. A young-generation
 * collection (about 0.2 ms with our small heaps) after each stripe frees them promptly, keeping
 * the peak RSS near the bounded working set. Falls back to doing nothing if unavailable.
 */
import v8 from 'node:v8';
import vm from 'node:vm';

type Gc = (options?: { type: 'minor' | 'major' }) => void;

let collect: Gc | null | undefined;

function gcFunction(): Gc | null {
  if (collect !== undefined) return collect;
  try {
    v8.setFlagsFromString('--expose-gc');
    collect = vm.runInNewContext('gc') as Gc;
  } catch {
    collect = null;
  }
  return collect;
}

/** Free short-lived buffers now (young generation only). */
export function reclaimShortLived(): void {
  gcFunction()?.({ type: 'minor' });
}
