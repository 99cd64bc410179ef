/** @type {import('jest').Config} */
export default {
  preset: 'ts-jest/presets/default-esm',
  testEnvironment: 'node',
  // src/ is a root too, only so that coverage also counts the files that no test imports.
  roots: ['<rootDir>/test', '<rootDir>/src'],
  testMatch: ['**/test/**/*.test.ts'],
  // Checks that need more than Node.js and redis-server have their own scripts: npm run e2e, npm run check:compose.
  testPathIgnorePatterns: ['/node_modules/', '/test/e2e/', '/test/compose/'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: { '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json' }] },
  testTimeout: 30000,
  maxWorkers: 2,
  // Used when coverage is on (`npm test` runs test/helpers/coverage-run.mjs, which adds the
  // child processes' coverage and applies the thresholds). src/ is the service alone.
  coverageProvider: 'v8',
  collectCoverageFrom: ['src/**/*.ts'],
};
