// Entry of a bench node (bench/_transport-node.ts), a worker thread or a process: TypeScript support (tsx) first.
import { register } from 'tsx/esm/api';

register();
await import('./_transport-node.ts');
