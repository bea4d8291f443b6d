#!/usr/bin/env node
// The CLI is TypeScript run through tsx, so the bin needs no build step.
import { register } from 'tsx/esm/api';

register();
// The tasks' structured Lambda logs would interleave with the step list; the CLI shows errors only
// unless asked (POWERTOOLS_LOG_LEVEL=INFO).
process.env.POWERTOOLS_LOG_LEVEL ??= 'ERROR';
const { main } = await import('../cli/index.ts');
await main(process.argv);
