/**
 * A small Dinic max-flow over float capacities: the test oracle for the closed-form feasibility
 * check behind the fair allowance (engine/capacity.ts, equalShareFeasible).
 * Bounded: each phase is a BFS plus blocking-flow DFS; the number of phases is capped.
 */
import { invariant } from '../../engine/errors.ts';

export class FlowNetwork {
  private readonly head: Int32Array;
  private to: number[] = [];
  private next: number[] = [];
  private cap: number[] = [];

  constructor(readonly nodeCount: number) {
    this.head = new Int32Array(nodeCount).fill(-1);
  }

  addEdge(from: number, to: number, capacity: number): void {
    invariant(capacity >= 0 && Number.isFinite(capacity), `edge capacity ${capacity}`);
    this.to.push(to, from);
    this.cap.push(capacity, 0);
    this.next.push(this.head[from]!, this.head[to]!);
    const e = this.to.length - 2;
    this.head[from] = e;
    this.head[to] = e + 1;
  }

  /** Max flow from source to sink; residuals below `epsilon` count as saturated. */
  maxFlow(source: number, sink: number, epsilon: number): number {
    const n = this.nodeCount;
    const level = new Int32Array(n);
    const iter = new Int32Array(n);
    const queue = new Int32Array(n);
    let total = 0;
    const maxPhases = 4 * n + 16;
    for (let phase = 0; phase < maxPhases; phase++) {
      level.fill(-1);
      level[source] = 0;
      let qh = 0;
      let qt = 0;
      queue[qt++] = source;
      while (qh < qt) {
        const v = queue[qh++]!;
        for (let e = this.head[v]!; e !== -1; e = this.next[e]!) {
          const w = this.to[e]!;
          if (this.cap[e]! > epsilon && level[w] === -1) {
            level[w] = level[v]! + 1;
            queue[qt++] = w;
          }
        }
      }
      if (level[sink] === -1) return total;
      iter.set(this.head);
      for (;;) {
        const pushed = this.augment(source, sink, Number.POSITIVE_INFINITY, level, iter, epsilon);
        if (pushed <= epsilon) break;
        total += pushed;
      }
    }
    throw new Error('engine invariant violated: max-flow did not converge within its phase bound');
  }

  private augment(
    v: number,
    sink: number,
    limit: number,
    level: Int32Array,
    iter: Int32Array,
    epsilon: number,
  ): number {
    if (v === sink) return limit;
    for (; iter[v] !== -1; iter[v] = this.next[iter[v]!]!) {
      const e = iter[v]!;
      const w = this.to[e]!;
      const c = this.cap[e]!;
      if (c > epsilon && level[w] === level[v]! + 1) {
        const pushed = this.augment(w, sink, Math.min(limit, c), level, iter, epsilon);
        if (pushed > epsilon) {
          this.cap[e] = c - pushed;
          this.cap[e ^ 1] = this.cap[e ^ 1]! + pushed;
          return pushed;
        }
      }
    }
    return 0;
  }
}
