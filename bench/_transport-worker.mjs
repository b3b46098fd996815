// Worker bootstrap for bench/_transport-node.ts: TypeScript support (tsx) first.
import { register } from 'tsx/esm/api';

register();
await import('./_transport-node.ts');
