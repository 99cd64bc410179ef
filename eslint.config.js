// ESLint (flat config): typescript-eslint's type-aware recommended rules plus the few that this
// codebase's conventions ask for. Formatting is Prettier's alone (eslint-config-prettier last).
import js from '@eslint/js';
import prettier from 'eslint-config-prettier/flat';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'build/', 'coverage/', '.tmp/'] },
  js.configs.recommended,
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // Promises: none left floating, none passed where a void callback is expected (timers,
      // event listeners, forEach). Express 5 handlers may be async as they are: its types
      // declare a handler's result as `void | Promise<void>` (Express awaits it and sends a
      // rejection to the error handler), so the default checksVoidReturn does not flag them.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      // No `any`; caught errors are `unknown`, in .catch callbacks as in catch blocks.
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/use-unknown-in-catch-callback-variable': 'error',
      // Errors thrown and rejected are Error objects (AppError from src/errors.ts).
      '@typescript-eslint/only-throw-error': 'error',
      '@typescript-eslint/prefer-promise-reject-errors': 'error',
      // Type-only imports say so (`import { type X }`, the style in use), and are erased.
      '@typescript-eslint/consistent-type-imports': ['error', { prefer: 'type-imports', fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-import-type-side-effects': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // A switch over a union (error codes, flow kinds, statuses) handles every member.
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      eqeqeq: ['error', 'always'],
      // The service logs through pino (redaction, JSON lines); scripts write to process.stdout.
      'no-console': 'error',
      'prefer-const': 'error',
      'no-var': 'error',
      'object-shorthand': 'error',
      // Deliberate here: untrusted input is checked for control characters (return-to, log paths).
      'no-control-regex': 'off',
      // Off: typescript-eslint 8.74 reports an `as` on an `any` value (jest's expect.any and
      // expect.stringMatching, parsed JSON) whenever the receiver accepts `any`, and --fix
      // removes it: the `any` then flows on (no-unsafe-assignment reports it) and the type the
      // assertion named can be left an unused import (tsc noUnusedLocals fails).
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
    },
  },
  {
    // Outside the tests a value that may be missing is checked, not asserted away with `!`.
    files: ['src/**/*.ts', 'emulator/**/*.ts', 'bench/**/*.ts', 'demo/**/*.ts'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'error' },
  },
  {
    // Plain JavaScript (config files, test/helpers/*.mjs): Node ESM, no type information.
    files: ['**/*.{js,mjs,cjs}'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
  prettier,
);
