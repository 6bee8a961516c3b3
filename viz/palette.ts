/**
 * One colour per name across every chart of a report: a method keeps its colour from the result
 * table to the robustness curves, a layer its own from the cosine chart to the variance chart.
 */
import { schemeDark2, schemeTableau10 } from 'd3';

/** Colours for `names` in order (methods: Tableau 10). A name not listed gets grey. */
export function palette(names: readonly string[], scheme: readonly string[] = schemeTableau10): (name: string) => string {
  const unique = [...new Set(names)];
  return (name) => {
    const i = unique.indexOf(name);
    return i < 0 ? '#9ca3af' : scheme[i % scheme.length]!;
  };
}

/** Layers in network order, from a palette apart from the methods' (Dark 2); the whole network ('all') black. */
export function layerPalette(layers: readonly string[]): (name: string) => string {
  const colors = palette(layers, schemeDark2);
  return (name) => (name === 'all' ? '#111827' : colors(name));
}
