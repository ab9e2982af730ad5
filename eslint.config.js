// Lint: typescript-eslint recommended rules over all TypeScript sources.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'bench/results/**', '.cluster/**', 'test/cluster/k8s/**', 'test/cluster/etcd/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    // Dependencies point inward: the library never imports its command line (issue 19).
    files: ['agent/**/*.ts', 'proxy/**/*.ts', 'kube/**/*.ts', 'runtime/**/*.ts', 'lib/**/*.ts', 'metrics/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ regex: '(^|/)cli/', message: 'the library must not depend on cli/ (pass what it needs in)' }] }],
      // One error path: every error raised on purpose carries a catalogue code (lib/errors.ts).
      'no-restricted-syntax': ['error', { selector: "NewExpression[callee.name='Error']", message: 'use DockerletError with a catalogue code (lib/errors.ts)' }],
    },
  },
  {
    files: ['**/*.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
);
