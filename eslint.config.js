import tseslint from 'typescript-eslint';

/** Imports the API side may never make: TF.js, or the engine (everything it shares with the engine is in src/contract). */
const TF_FREE = [
  {
    group: ['@tensorflow/*'],
    message: 'The API side never loads TF.js: use src/contract, or run it in a worker.',
  },
  {
    group: ['**/engine', '**/engine/**'],
    message: 'The API side may not import the engine; what both sides share lives in src/contract.',
  },
];

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'scratch/**', 'test/fixtures/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // The API process and what it loads: the HTTP app, storage, config, start-up tooling, and the queue modules the
    // API uses (test/unit/boundary.test.ts also loads all of them with TF.js made unavailable).
    files: [
      'src/api/**/*.ts',
      'src/storage/**/*.ts',
      'src/config/**/*.ts',
      'src/runtime/**/*.ts',
      'src/queue/producer.ts',
      'src/queue/names.ts',
      'src/queue/redis.ts',
      'src/queue/worker-registry.ts',
    ],
    rules: { 'no-restricted-imports': ['error', { patterns: TF_FREE }] },
  },
  {
    // The contract is the bottom layer: TF.js-free, and importing nothing of the service.
    files: ['src/contract/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            ...TF_FREE,
            {
              group: [
                '**/api/**',
                '**/queue/**',
                '**/storage/**',
                '**/cli/**',
                '**/runtime/**',
                '**/config/**',
              ],
              message: 'src/contract imports only zod, Node built-ins and itself.',
            },
          ],
        },
      ],
    },
  },
);
