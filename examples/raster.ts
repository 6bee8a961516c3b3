/**
 * The library route to a figure: run a network with monitors on the layers of interest, hand the
 * recording to a renderer, write SVG (for a paper) and a self-contained HTML page (to explore).
 *
 *     npm run build && node dist/examples/raster.js [--out raster.html] [--svg raster.svg]
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { initBackend } from '../src/kernels/backend.js';
import { imageSequences } from '../src/data/dataset.js';
import { loadMnist } from '../src/data/mnist.js';
import { lif } from '../src/neurons/params.js';
import { dense, readout } from '../src/sim/layer.js';
import { Network } from '../src/sim/network.js';
import { htmlReport, membraneSvg, rasterFromRecording, rasterSvg } from '../viz/index.js';

const { values: a } = parseArgs({ options: { out: { type: 'string', default: 'raster.html' }, svg: { type: 'string', default: 'raster.svg' } } });
await initBackend({});
const digits = await loadMnist('test', { limit: 1 });
const input = imageSequences(digits, { steps: 50, encoding: 'rate' }).batch([0], 1);
const net = new Network({
  input: [784],
  layers: [dense({ name: 'hidden', units: 300, neuron: lif({ beta: 0.9 }) }), readout({ name: 'out', units: 10 })],
  seed: 0,
});
// monitors: spikes and membranes of the hidden layer
const result = net.run(input, { record: { hidden: ['spikes', 'membrane'] } });
const raster = rasterFromRecording(result, 0, { input, caption: `an untrained 784-300-10 LIF network on digit ${digits.labels[0]}` });
const u = result.records['hidden']!.membrane!.dataSync(),
  s = result.records['hidden']!.spikes!.dataSync();
const trace = {
  label: 'hidden neuron 0',
  membrane: Array.from({ length: 50 }, (_, t) => u[t * 300]!),
  threshold: 1,
  spikes: Array.from({ length: 50 }, (_, t) => s[t * 300]!),
};
writeFileSync(a.svg!, rasterSvg(raster));
writeFileSync(
  a.out!,
  htmlReport({
    title: 'spikelr raster',
    sections: [
      { heading: 'spikes', rasters: [raster] },
      { heading: 'membrane', figures: [membraneSvg([trace])] },
    ],
  }),
);
console.log(`wrote ${a.svg} and ${a.out}`);
result.dispose();
input.dispose();
net.dispose();
