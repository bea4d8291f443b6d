// The CDK app entry. `npm run synth` builds the bundles, then runs this file directly, which writes
// the cloud assembly to cdk.out/ offline. The CDK CLI (cdk.json: `npx tsx infra/app.ts`) runs it
// too, for `cdk deploy`; it passes its own output directory in CDK_OUTDIR.
import { createApp } from './create-app.js';

const stackName = process.env.SESSION_LAB_STACK_NAME;
const { app } = createApp({
  outdir: process.env.CDK_OUTDIR ?? 'cdk.out',
  ...(stackName ? { stackName } : {}),
});
app.synth();
