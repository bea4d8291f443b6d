// Jest global set-up, through Node's own resolver, which does not map the sources' `.js` imports
// to `.ts`: tsx (a project dependency) loads the TypeScript modules instead.
//  - One moto server per worker (moto-pool.ts).
//  - What ships, built once for every test that runs it: the function bundles and the synthesized
//    template (local/deployment/artifacts.ts, reused while their sources are unchanged), so no test
//    pays for a build inside its own timeout.
import { tsImport } from 'tsx/esm/api';

const pool = () => tsImport('./moto-pool.ts', import.meta.url);
const artifacts = () => tsImport('../../local/deployment/artifacts.ts', import.meta.url);

export default async (globalConfig) => {
  await Promise.all([(await pool()).setUp(globalConfig), (await artifacts()).ensureTemplate()]);
};
export const tearDown = async () => (await pool()).tearDown();
