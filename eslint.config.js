import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'cdk.out/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  prettier,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': ['error', { allow: ['error'] }],
    },
  },
  // The CLI, the local tools and the benchmarks talk to a person through the console.
  {
    files: ['cli/**', 'local/**', 'bench/**', 'bin/**', 'esbuild.config.mjs', 'scripts/**'],
    rules: { 'no-console': 'off' },
  },
  // Lambda code imports zod as a namespace: esbuild drops the parts of a namespace import a bundle
  // never reads, but `import { z }` keeps all of zod, every locale of its error messages included.
  {
    files: ['functions/**'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: "ImportDeclaration[source.value='zod'] > ImportSpecifier[imported.name='z']",
          message: "Use `import * as z from 'zod'` (the bundles keep only what they use).",
        },
      ],
    },
  },
  { languageOptions: { globals: globals.node } },
);
