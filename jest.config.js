// Jest runs the TypeScript sources as ES modules (the project is "type": "module"), transpiled file
// by file by esbuild (test/jest-transform.mjs; tsconfig has isolatedModules, so no type checking
// here: that is `npm run typecheck`). esbuild is already the Lambda bundler, so this adds no native
// package to the lock (the npm registry this project installs from serves no darwin/win32 builds of
// new native packages, npm/cli#4828). It replaced ts-jest, which loaded the TypeScript compiler into
// every worker: on a cold cache (a clean clone, as in CI) the unit tests took 108 s of CPU with
// ts-jest and 88 s with esbuild (one run each, 2026-12-04).
/** @type {import('jest').Config} */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': '<rootDir>/test/jest-transform.mjs',
  },
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  testTimeout: 60_000,
  // The integration files spend much of their time waiting (scaled model delays, SDK back-off, moto
  // and the emulator's child processes), so more files than cores run at once: on 2 cores the
  // whole suite took 535 s with Jest's default of one worker and 328-376 s with four (four runs),
  // before the moto pool below and the cheaper host commands; with them, Jest took 278 s and the
  // whole `npm test` (typecheck and lint beside it) 298 s on a clean clone (one run, quiet machine).
  // At 1d7eb11 (909 tests): Jest 270 s inside a clean-clone `.ci/run`, and 291 s (`npm test`
  // 308 s) in a second run on the same clone right after: the suite is at the 5-minute mark.
  // At 2026-12-04 23:28 (esbuild transform, 914 tests), a clean-clone `.ci/run` with a 200-lab
  // bench sharing the machine: Jest 297.9 s, the whole run 349 s, 530 s of CPU (user + sys): the
  // suite is bound by the 2 cores' CPU, not by its longest file. At 2026-12-05 02:32 (917 tests),
  // a clean-clone `.ci/run` on a quiet machine: 302.4 s with `npm ci`, Jest 255.6 s; then `npm test`
  // alone in that clone (Jest's transform cache warm): 260.2 s, Jest 243.6 s. At 2026-12-05 07:55
  // (c941667, 926 tests), `npm test` in the working copy on a quiet machine: 281 s wall (one run).
  maxWorkers: 4,
  // One moto per worker, reset by each integration file instead of started by it (moto-pool.ts),
  // and the bundles and template that the workflow tests run, built once (global-setup.mjs).
  globalSetup: '<rootDir>/test/helpers/global-setup.mjs',
  globalTeardown: '<rootDir>/test/helpers/global-teardown.mjs',
  reporters: ['default', '<rootDir>/test/summary-reporter.js'],
};
