// Jest loads global set-up through Node's own resolver, which does not map the sources' `.js`
// imports to `.ts`: tsx (a project dependency) loads the TypeScript module instead.
import { tsImport } from 'tsx/esm/api';

const pool = () => tsImport('./moto-pool.ts', import.meta.url);

export default async (globalConfig) => (await pool()).setUp(globalConfig);
export const tearDown = async () => (await pool()).tearDown();
