#!/usr/bin/env node
// pb-node entry point: TypeScript support (tsx) first, then the polyfills and the heap's room, then the CLI.
import { register } from 'tsx/esm/api';

register();
await import('../polyfill.ts');
await import('../heap-room.ts');
const { main } = await import('../cli.ts');
process.exitCode = await main(process.argv);
