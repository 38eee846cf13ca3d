// ESLint (flat config) for RelayRoom's browser code: the SDK, the console and the demo (native ES
// modules, no build step), and the node unit tests of the SDK. `make lint` and `make test` run it.
import js from '@eslint/js';
import globals from 'globals';

const WEB = 'src/relayroom/web/**/*.js';

export default [
  {
    // sdk/js and web/ are links into src/relayroom/web: lint each file once, under src/
    ignores: ['node_modules/', '.venv/', 'build/', 'test-artifacts/', 'sdk/', 'web/'],
  },
  js.configs.recommended,
  {
    files: ['**/*.js'],
    languageOptions: {ecmaVersion: 2022, sourceType: 'module'},
    linterOptions: {reportUnusedDisableDirectives: 'error'},
    rules: {
      // one concern per module: a file that outgrows this is split, not excused
      'max-lines': ['error', {max: 600}],
      'eqeqeq': ['error', 'always', {null: 'ignore'}],
      'no-var': 'error',
      'prefer-const': 'error',
      'no-implicit-globals': 'error',
      'no-unused-vars': ['error', {args: 'after-used', caughtErrors: 'none'}],
      'no-shadow-restricted-names': 'error',
      'no-promise-executor-return': 'error',
      'no-self-compare': 'error',
      'no-unmodified-loop-condition': 'error',
      'no-unreachable-loop': 'error',
      'no-useless-concat': 'error',
      'no-throw-literal': 'error',
      'no-new-wrappers': 'error',
      'radix': 'error',
    },
  },
  {
    files: [WEB],
    languageOptions: {globals: {...globals.browser}},
    rules: {
      // secrets must not reach the browser's console: only the SDK's logger writes there
      'no-console': 'error',
    },
  },
  {
    files: ['src/relayroom/web/sdk/lib/log.js'],
    rules: {'no-console': 'off'},
  },
  {
    files: ['src/relayroom/web/console/**/*.js'],
    rules: {
      // the console keeps its session token in sessionStorage (this tab only), never in localStorage
      'no-restricted-globals': ['error', {name: 'localStorage', message: 'use sessionStorage (this tab only)'}],
      'no-restricted-properties': ['error', {object: 'window', property: 'localStorage',
        message: 'use sessionStorage (this tab only)'}],
    },
  },
  {
    files: ['tests/**/*.js', 'eslint.config.js'],
    languageOptions: {globals: {...globals.node}},
  },
];
