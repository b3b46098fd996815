// Worker-thread entry: load TypeScript support (tsx) in this thread, then the real worker.
// Plain .mjs so that it starts the same way under `node --import tsx`, vitest and pb-node.
import { register } from 'tsx/esm/api';

register();
await import('./chunk-worker-main.ts');
