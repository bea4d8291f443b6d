// The unit tier (`npm run test:unit`): test/unit only, no emulator, no moto, no Python, no build, so a change
// to a task or a helper is checked in seconds. `npm test` runs every tier (jest.config.js).
import base from './jest.config.js';

/** @type {import('jest').Config} */
export default {
  ...base,
  testMatch: ['<rootDir>/test/unit/**/*.test.ts'],
  globalSetup: undefined,
  globalTeardown: undefined,
  maxWorkers: 2,
};
