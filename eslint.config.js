// Lint rules that guard the architecture: no floating promises anywhere, and workflow/domain code
// that stays deterministic (no Node, no I/O libraries).
import tseslint from 'typescript-eslint';

const ioModules = ['node:*', 'fs', 'path', 'os', 'child_process', 'http', 'net', 'crypto', 'openai', 'execa', '@temporalio/client', '@temporalio/worker', '@temporalio/activity'];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.venv/**', '.data/**', 'eslint.config.js'] },
  ...tseslint.configs.recommended,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // node:test's test() returns a promise that the runner itself awaits.
      '@typescript-eslint/no-floating-promises': ['error', { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'describe', 'it'] }] }],
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['workflows/**/*.ts', 'domain/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ioModules, message: 'Workflow and domain code must stay deterministic: import only @temporalio/workflow, types and pure code.' }] }],
    },
  },
);
