// The CDK app entry (cdk.json: `npx tsx infra/app.ts`). `npm run synth` builds the bundles first.
import { createApp } from './create-app.js';

const stackName = process.env.SESSION_LAB_STACK_NAME;
const { app } = createApp(stackName ? { stackName } : {});
app.synth();
