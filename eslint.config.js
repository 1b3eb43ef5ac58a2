import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

/** One `no-restricted-imports` rule per folder: the folders its files may not import from. */
function layerRules(forbidden) {
  return Object.entries(forbidden).map(([files, folders]) => ({
    files: [files],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: `^(\\.\\./)+(${folders.join('|')})(/|$)`,
              message: `${files.replace('/**', '/')} may not import from ${folders.map((f) => `${f}/`).join(', ')} (see README, "Layout").`,
            },
          ],
        },
      ],
    },
  }));
}

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'node_modules/**',
      'drizzle/migrations/**',
      'bench/results/**',
      '.procurator/**',
      'coverage/**',
      'client/openapi-types.ts',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['*.js', '*.mjs'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': [
        'error',
        {
          selector: "MemberExpression[object.name='process'][property.name='env']",
          message: 'Read configuration through lib/config.ts, not process.env.',
        },
      ],
    },
  },
  // Layers (README, "Layout"): lib/ is shared by everything and imports none of the others;
  // handlers/ (the API) and worker/ never import each other; only compose/ and bin/ wire them.
  ...layerRules({
    'lib/**': ['handlers', 'worker', 'compose', 'bin'],
    'handlers/**': ['worker', 'compose', 'bin'],
    'worker/**': ['handlers', 'compose', 'bin'],
    'compose/**': ['bin'],
    'client/**': ['handlers', 'worker', 'compose', 'bin'],
  }),
  {
    files: ['lib/config.ts', 'bin/**', 'test/**', 'bench/**', '*.mjs', '*.ts', '*.js'],
    rules: { 'no-restricted-syntax': 'off' },
  },
  {
    files: ['test/**', 'bench/**'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  { files: ['*.js', '*.mjs'], ...tseslint.configs.disableTypeChecked },
  prettier,
);
