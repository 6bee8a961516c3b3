/**
 * The layering of src/ (docs/architecture.md): each folder imports only from the folders below it,
 * and no module imports itself back through others (type-only imports count). `npm test` runs this
 * check first: `npx depcruise src viz --config .dependency-cruiser.cjs`.
 */
const LAYERS = ['core', 'kernels', 'neurons', 'sim', 'io', 'data', 'learning', 'api', 'cli'];

const upward = LAYERS.slice(0, -1).map((layer, i) => ({
  name: `${layer}-imports-upward`,
  comment: `src/${layer}/ may import only from ${
    LAYERS.slice(0, i)
      .map((l) => `src/${l}/`)
      .join(', ') || 'nothing in src/'
  } (and itself)`,
  severity: 'error',
  from: { path: `^src/${layer}/` },
  to: { path: `^src/(${LAYERS.slice(i + 1).join('|')})/` },
}));

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'a module that reaches itself through its imports: move the shared part to a lower module',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    ...upward,
    {
      name: 'loose-module-in-src',
      comment: 'src/ holds folders and index.ts (the public API) only',
      severity: 'error',
      from: { path: '^src/[^/]+$', pathNot: '^src/index\\.ts$' },
      to: {},
    },
    {
      name: 'viz-imports-the-simulator',
      comment: 'viz/ draws records; it may read types of src/core, src/neurons and src/sim only',
      severity: 'error',
      from: { path: '^viz/' },
      to: { path: '^src/', pathNot: '^src/(core|neurons|sim)/' },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'an import that resolves to no file',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^src/kernels/assembly/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
