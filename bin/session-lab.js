#!/usr/bin/env node
// The CLI is TypeScript run through tsx, so the bin needs no build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../cli/index.ts');
await main(process.argv);
