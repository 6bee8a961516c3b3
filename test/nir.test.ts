/**
 * NIR export and import, against two independent truths: spikelr's own network (a round trip must
 * give the same spikes, bit for bit) and a second implementation of NIR (test/nir_reference.py,
 * h5py + numpy: its own HDF5 writer and reader, and a float64 forward-Euler simulator of NIR's
 * equations). Files written by h5py import and run as the reference runs them; files spikelr writes
 * have the spec's layout when h5py reads them and run, in the reference, as they ran in spikelr.
 */
import * as tf from '@tensorflow/tfjs';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { alif, ifNeuron, lif, synaptic } from '../src/neurons/params.js';
import { avgPool2d, conv2d, dense, flatten, gru, maxPool2d, readout, recurrent, sumPool2d } from '../src/sim/layer.js';
import { network, type Network } from '../src/sim/network.js';
import { exportNir, importNir, networkToNir, nirToNetwork, type NirNode } from '../src/io/nir/index.js';
import { readNirFile, writeNirFile } from '../src/io/nir/file.js';
import { spikelr } from './cli-helpers.js';

const dir = mkdtempSync(path.join(tmpdir(), 'spikelr-nir-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const PYTHON = '/usr/bin/python3';
const REFERENCE = path.resolve('test/nir_reference.py');

function reference(...args: string[]): string {
  try {
    return execFileSync(PYTHON, [REFERENCE, ...args], { encoding: 'utf8', stdio: 'pipe' });
  } catch (err) {
    throw new Error(
      `test/nir_reference.py ${args[0]} failed (it needs Debian's python3-h5py: apt-get install python3-h5py):\n${String((err as { stderr?: string }).stderr ?? err)}`,
    );
  }
}

/** A random binary input `[B, T, …shape]` (spikelr's layout) from a seed. */
const spikes = (shape: readonly number[], seed: number, p = 0.4) =>
  tf.tidy(() => tf.cast(tf.less(tf.randomUniform([...shape], 0, 1, 'float32', seed), p), 'float32'));

/** Every neuron layer's output (spikes, or a readout's membrane) as arrays, in layer order. */
function outputs(net: Network, x: tf.Tensor, names = net.layers.filter((l) => l.neuron).map((l) => l.name)): number[][] {
  const r = net.run(x, { record: Object.fromEntries(names.map((n) => [n, [net.layer(n).neuron!.kind === 'readout' ? 'membrane' : 'spikes']])) });
  const out = names.map((n) => Array.from(Object.values(r.records[n]!)[0]!.dataSync()));
  r.dispose();
  return out;
}

/** Sets each learned per-neuron coefficient to distinct values in its range. */
function varyCoefficients(net: Network, seed: number): void {
  for (const l of net.layers) {
    for (const [name, [lo, hi]] of Object.entries({ beta: [0.5, 0.98], threshold: [0.2, 0.7] } as const)) {
      const v = l.coefficients[name];
      if (v) v.assign(tf.randomUniform(v.shape, lo, hi, 'float32', seed));
    }
  }
}

async function roundTrip(
  net: Network,
  inputShape: readonly number[],
  options: Parameters<typeof exportNir>[2] = {},
): Promise<{ before: number[][]; after: number[][]; imported: Network }> {
  const file = path.join(dir, `rt-${Math.random().toString(36).slice(2)}.nir`);
  await exportNir(net, file, options);
  const { net: imported } = await importNir(file);
  const x = spikes([3, 12, ...inputShape], 11);
  const before = outputs(net, x),
    after = outputs(imported, x);
  x.dispose();
  return { before, after, imported };
}

describe('round trip: export then import gives the same spikes, bit for bit', () => {
  const cases: [string, () => Network, readonly number[]][] = [
    [
      'dense LIF (per-neuron β and threshold, reset to zero) into a leaky readout (LI)',
      () =>
        network({
          input: [20],
          seed: 1,
          layers: [
            dense({ name: 'hidden', units: 16, neuron: lif({ beta: 0.9, threshold: 0.5, reset: 'zero' }), learn: ['beta', 'threshold'] }),
            readout({ name: 'out', units: 5, beta: 0.8 }),
          ],
        }),
      [20],
    ],
    [
      'IF without bias (Linear) into an integrator readout (I, β = 1)',
      () =>
        network({
          input: [12],
          seed: 2,
          layers: [dense({ units: 10, bias: false, neuron: ifNeuron({ threshold: 0.6, reset: 'zero' }) }), readout({ units: 3, beta: 1, bias: false })],
        }),
      [12],
    ],
    [
      'recurrent CubaLIF (synaptic) with a recurrent bias, as a cycle, then IF',
      () =>
        network({
          input: [20],
          seed: 3,
          layers: [
            recurrent({
              name: 'rec',
              units: 12,
              neuron: synaptic({ alpha: 0.7, beta: 0.85, threshold: 0.3, reset: 'zero' }),
              recurrentBias: true,
              learn: ['beta'],
            }),
            dense({ units: 6, neuron: ifNeuron({ threshold: 0.7, reset: 'zero' }) }),
          ],
        }),
      [20],
    ],
    [
      'recurrent LIF without recurrent bias, into a readout with β = 0 (LI with τ = dt)',
      () =>
        network({
          input: [8],
          seed: 4,
          layers: [recurrent({ units: 9, neuron: lif({ beta: 0.95, threshold: 0.4, reset: 'zero' }) }), readout({ units: 2, beta: 0 })],
        }),
      [8],
    ],
    [
      'conv (stride 2, padding 1; same; valid), sum and average pooling, flatten (NIR is channels-first), readout',
      () =>
        network({
          input: [10, 10, 2],
          seed: 5,
          layers: [
            conv2d({
              name: 'c1',
              filters: 4,
              kernelSize: 3,
              padding: 1,
              stride: 2,
              neuron: lif({ beta: 0.9, threshold: 0.2, reset: 'zero' }),
              learn: ['threshold'],
            }),
            sumPool2d({ poolSize: 1 }),
            conv2d({ filters: 3, kernelSize: 3, padding: 'same', neuron: ifNeuron({ threshold: 0.3, reset: 'zero' }) }),
            avgPool2d({ poolSize: 2 }),
            conv2d({ filters: 3, kernelSize: 2, padding: 'valid', bias: false, neuron: lif({ beta: 0.8, threshold: 0.1, reset: 'zero' }) }),
            flatten(),
            readout({ units: 4, beta: 0.5 }),
          ],
        }),
      [10, 10, 2],
    ],
    [
      'a dense layer with (uncentred) input decorrelation exports its fused weight',
      () =>
        network({
          input: [10],
          seed: 6,
          layers: [dense({ units: 8, neuron: lif({ beta: 0.9, threshold: 0.3, reset: 'zero' }), decorrelate: { centre: false } }), readout({ units: 3 })],
        }),
      [10],
    ],
  ];
  for (const [title, make, inputShape] of cases) {
    it(title, async () => {
      const net = make();
      varyCoefficients(net, 9);
      const d = net.layers[0]!.decorrelation;
      if (d) d.R.assign(tf.tidy(() => tf.add(tf.eye(10), tf.randomUniform([10, 10], -0.2, 0.2, 'float32', 3))));
      const { before, after, imported } = await roundTrip(net, inputShape);
      expect(after).toEqual(before);
      // the test is not vacuous: the spiking layers spike, and not on every step
      for (const [i, l] of net.layers.filter((x) => x.neuron).entries()) {
        if (l.neuron!.kind === 'readout') continue;
        const mean = before[i]!.reduce((a, b) => a + b, 0) / before[i]!.length;
        expect(mean, `${l.name} firing rate`).toBeGreaterThan(0.01);
        expect(mean, `${l.name} firing rate`).toBeLessThan(0.99);
      }
      expect(imported.layers.map((l) => l.spec.kind)).toEqual(net.layers.map((l) => l.spec.kind));
      net.dispose();
      imported.dispose();
    });
  }

  it("reset by subtraction goes out only when asked, as NIR's LIF with the reset in its metadata, and comes back", async () => {
    const make = () =>
      network({ input: [10], seed: 7, layers: [dense({ name: 'h', units: 12, neuron: lif({ beta: 0.9, threshold: 0.3 }) }), readout({ units: 2 })] });
    const net = make();
    await expect(exportNir(net, path.join(dir, 'sub.nir'))).rejects.toThrow(
      /layer 'h' .*reset by subtraction has no NIR primitive .*--reset zero.*--reset-metadata/,
    );
    const graph = networkToNir(net, { subtractReset: 'metadata' });
    expect(graph.nodes!['h.neurons']!.type).toBe('LIF');
    expect(graph.nodes!['h.neurons']!.metadata['reset']).toBe('subtract');
    const { before, after, imported } = await roundTrip(net, [10], { subtractReset: 'metadata' });
    expect(after).toEqual(before);
    expect((imported.layers[0]!.neuron as { reset: string }).reset).toBe('subtract');
    net.dispose();
    imported.dispose();
  });

  it('time constants follow dt: τ = dt/(1 − β), R = τ/dt, and a file read back with its own dt gives β back', () => {
    const net = network({
      input: [4],
      seed: 8,
      layers: [
        dense({ name: 'h', units: 3, neuron: synaptic({ alpha: 0.6, beta: 0.75, threshold: 1, reset: 'zero' }) }),
        readout({ name: 'o', units: 2, beta: 0.5 }),
      ],
    });
    for (const dt of [1e-4, 1e-3]) {
      const g = networkToNir(net, { dt });
      const cuba = g.nodes!['h.neurons']!.fields as Record<string, { data: Float64Array }>;
      expect(cuba['tau_mem']!.data[0]).toBeCloseTo(dt / 0.25, 15);
      expect(cuba['tau_syn']!.data[0]).toBeCloseTo(dt / 0.4, 15);
      expect((cuba['r']!.data[0]! * dt) / cuba['tau_mem']!.data[0]!).toBeCloseTo(1, 15);
      expect((cuba['w_in']!.data[0]! * dt) / cuba['tau_syn']!.data[0]!).toBeCloseTo(1, 15);
      const li = g.nodes!['o.neurons']!.fields as Record<string, { data: Float64Array }>;
      expect(li['tau']!.data[0]).toBeCloseTo(2 * dt, 15);
      const back = nirToNetwork(g).net; // dt from the graph's metadata
      expect(back.layers[0]!.neuron).toMatchObject({ kind: 'synaptic', alpha: 0.6, beta: 0.75 });
      expect(back.layers[1]!.neuron).toMatchObject({ kind: 'readout', beta: 0.5 });
      back.dispose();
      // read with another dt, the same τ means another β
      const other = nirToNetwork(g, { dt: dt / 2 }).net;
      expect((other.layers[0]!.neuron as { beta: number }).beta).toBeCloseTo(1 - 0.25 / 2, 6);
      other.dispose();
    }
    net.dispose();
  });
});

describe('what NIR cannot say is refused by name', () => {
  const refused: [string, () => Network, RegExp, Parameters<typeof networkToNir>[1]?][] = [
    [
      'max pooling',
      () =>
        network({
          input: [8, 8, 1],
          layers: [conv2d({ filters: 2, kernelSize: 3, neuron: lif({ reset: 'zero' }) }), maxPool2d({ poolSize: 2 }), flatten(), readout({ units: 2 })],
        }),
      /maxPool2d.*NIR has no max pooling .*sumPool2d or avgPool2d/,
    ],
    [
      'adaptive neurons',
      () => network({ input: [4], layers: [dense({ units: 3, neuron: alif({ reset: 'zero' }) }), readout({ units: 2 })] }),
      /alif neurons.*NIR has no primitive for 'alif' neurons/,
    ],
    [
      'a refractory period',
      () => network({ input: [4], layers: [dense({ units: 3, neuron: lif({ reset: 'zero', refractory: 2 }) }), readout({ units: 2 })] }),
      /refractory period \(2 steps\)/,
    ],
    [
      "reset 'none'",
      () => network({ input: [4], layers: [dense({ units: 3, neuron: lif({ reset: 'none' }) }), readout({ units: 2 })] }),
      /reset 'none' has no NIR primitive/,
    ],
    [
      'a learned noise scale',
      () => network({ input: [4], layers: [dense({ name: 'h', units: 3, neuron: lif({ reset: 'zero' }), learn: ['sigma'] }), readout({ units: 2 })] }),
      /layer 'h' learns a per-neuron escape-noise scale.*--deterministic/,
    ],
    [
      'escape noise of the run',
      () => network({ input: [4], layers: [dense({ units: 3, neuron: lif({ reset: 'zero' }) }), readout({ units: 2 })] }),
      /fires with escape noise \(logistic:0.3\).*--deterministic/,
      { noise: 'logistic:0.3' },
    ],
    [
      'a GRU layer',
      () => network({ input: [4], layers: [gru({ name: 'g', units: 3 }), readout({ units: 2 })] }),
      /layer 'g' \(gru, gru neurons\): NIR has no primitive for a 'gru' layer/,
    ],
    [
      "uneven 'same' padding",
      () =>
        network({
          input: [8, 8, 1],
          layers: [conv2d({ name: 'c', filters: 2, kernelSize: 2, padding: 'same', neuron: lif({ reset: 'zero' }) }), flatten(), readout({ units: 2 })],
        }),
      /layer 'c'.*pads \[0, 1\] rows.*unevenly/,
    ],
  ];
  for (const [what, make, message, options] of refused) {
    it(what, () => {
      const net = make();
      expect(() => networkToNir(net, options)).toThrow(message);
      net.dispose();
    });
  }
  it('--deterministic exports the deterministic network of a stochastic one', () => {
    const net = network({ input: [4], layers: [dense({ units: 3, neuron: lif({ reset: 'zero' }), learn: ['sigma'] }), readout({ units: 2 })] });
    expect(networkToNir(net, { noise: 'logistic:0.3', deterministic: true }).nodes!['dense0.neurons']!.type).toBe('LIF');
    net.dispose();
  });
});

describe('files written by h5py in the spec layout import and run as the reference simulator runs them', () => {
  // lif-li: every LIF parameter per neuron, R ≠ τ/dt, v_leak ≠ 0, a Linear into LI;
  // cuba-recurrent: CubaLIF with w_in and R scaling its input, a recurrent Affine in a cycle, IF;
  // conv: Conv2d (padding 1; stride 2), per-channel IF thresholds, SumPool2d, AvgPool2d, Flatten of [C, H, W];
  // subgraph: a recurrent LIF as a NIRGraph node (snnTorch's RSynaptic export), an integrator I
  const cases: [string, number[]][] = [
    ['lif-li', [6]],
    ['cuba-recurrent', [5]],
    ['conv', [2, 9, 9]],
    ['subgraph', [4]],
  ];
  for (const [name, nirShape] of cases) {
    it(name, async () => {
      const file = path.join(dir, `${name}.nir`);
      reference('write', name, file);
      const { net, dt } = await importNir(file);
      const steps = 16,
        batch = 3;
      // input in NIR's layout [B, T, …], made from a seed; spikelr's is [B, T, H, W, C]
      const x = spikes([batch, steps, ...nirShape], 21, 0.5);
      const mine = nirShape.length === 3 ? tf.transpose(x, [0, 1, 3, 4, 2]) : x.clone();
      const inputFile = path.join(dir, `${name}.input.json`),
        outFile = path.join(dir, `${name}.out.json`);
      writeFileSync(inputFile, JSON.stringify({ dt, input: x.arraySync() }));
      reference('simulate', file, inputFile, outFile);
      const ref = JSON.parse(readFileSync(outFile, 'utf8')) as { outputs: Record<string, number[][][]>; margin: number };
      // float32 here, float64 there: spikes can only differ where a membrane comes within rounding of its threshold
      expect(ref.margin).toBeGreaterThan(1e-4);
      const r = net.run(mine, { record: net.layers.filter((l) => l.neuron).map((l) => l.name) });
      for (const layer of net.layers.filter((l) => l.neuron)) {
        const node = layer.name === 'rnn_lif' ? 'rnn.lif' : layer.name; // the neuron node each layer came from
        const expected = ref.outputs[node]!; // [B][T][…NIR shape]
        const rec = r.records[layer.name]!;
        const readoutLayer = layer.neuron!.kind === 'readout';
        let got = readoutLayer ? rec.membrane! : rec.spikes!;
        if (got.rank === 5) got = tf.transpose(got, [0, 1, 4, 2, 3]); // back to channels-first
        const a = Array.from(got.dataSync()),
          b = expected.flat(Infinity) as unknown as number[];
        expect(a.length).toBe(b.length);
        if (readoutLayer) {
          const scale = Math.max(...b.map(Math.abs));
          for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThan(1e-5 * scale + 1e-6);
        } else {
          expect(a).toEqual(b);
          const rate = b.reduce((s, v) => s + v, 0) / b.length;
          expect(rate, `${node} firing rate`).toBeGreaterThan(0.02);
          expect(rate, `${node} firing rate`).toBeLessThan(0.98);
        }
      }
      r.dispose();
      x.dispose();
      mine.dispose();
      net.dispose();
    });
  }
});

describe("spikelr's files, read by h5py", () => {
  it("have the spec's layout and values, and run in the reference simulator as they ran in spikelr", async () => {
    const net = network({
      input: [6, 6, 2],
      seed: 12,
      layers: [
        conv2d({ name: 'conv', filters: 3, kernelSize: 3, padding: 1, neuron: lif({ beta: 0.8, threshold: 0.3, reset: 'zero' }), learn: ['threshold'] }),
        sumPool2d({ name: 'pool', poolSize: 2 }),
        flatten({ name: 'flat' }),
        recurrent({ name: 'rec', units: 7, neuron: synaptic({ alpha: 0.5, beta: 0.9, threshold: 0.4, reset: 'zero' }), recurrentBias: true }),
        readout({ name: 'out', units: 3, beta: 0.75 }),
      ],
    });
    varyCoefficients(net, 4);
    const file = path.join(dir, 'spikelr.nir');
    await exportNir(net, file);
    const layout = JSON.parse(reference('inspect', file)) as Record<string, { dtype: string; shape: number[]; value: unknown; compression: string | null }>;
    expect(layout['version']!.value).toBe('1.0.7');
    expect(layout['node/type']!.value).toBe('NIRGraph');
    const types = Object.fromEntries(
      Object.entries(layout)
        .filter(([k]) => k.endsWith('/type') && k !== 'node/type')
        .map(([k, v]) => [k.split('/')[2], v.value]),
    );
    expect(types).toEqual({
      input: 'Input',
      'conv.weight': 'Conv2d',
      'conv.neurons': 'LIF',
      pool: 'SumPool2d',
      flat: 'Flatten',
      'rec.weight': 'Affine',
      'rec.neurons': 'CubaLIF',
      'rec.recurrent': 'Affine',
      'out.weight': 'Affine',
      'out.neurons': 'LI',
      output: 'Output',
    });
    const edges = layout['node/edges']!;
    expect(edges.shape).toEqual([11, 2]);
    expect(edges.value).toEqual([
      'input',
      'conv.weight',
      'conv.weight',
      'conv.neurons',
      'conv.neurons',
      'pool',
      'pool',
      'flat',
      'flat',
      'rec.weight',
      'rec.weight',
      'rec.neurons',
      'rec.neurons',
      'rec.recurrent',
      'rec.recurrent',
      'rec.neurons',
      'rec.neurons',
      'out.weight',
      'out.weight',
      'out.neurons',
      'out.neurons',
      'output',
    ]);
    expect(layout['node/nodes/input/shape']!.value).toEqual([2, 6, 6]);
    // the conv kernel in PyTorch's [out, in, kh, kw], gzip-compressed float32
    const k = layout['node/nodes/conv.weight/weight']!;
    expect(k).toMatchObject({ dtype: 'float32', shape: [3, 2, 3, 3], compression: 'gzip' });
    const kernel = net.layer('conv').params['weight']!.arraySync() as number[][][][]; // [kh, kw, in, out]
    expect((k.value as number[])[((2 * 2 + 1) * 3 + 0) * 3 + 2]).toBe(kernel[0]![2]![1]![2]);
    expect(layout['node/nodes/conv.weight/padding']!.value).toEqual([1, 1]);
    expect(layout['node/nodes/conv.weight/groups']).toMatchObject({ dtype: 'int64', shape: [], value: 1 });
    // per-channel thresholds spread over [C, H, W]
    const thresholds = net.layer('conv').params['threshold']!.dataSync();
    expect(layout['node/nodes/conv.neurons/v_threshold']!.shape).toEqual([3, 6, 6]);
    expect((layout['node/nodes/conv.neurons/v_threshold']!.value as number[])[2 * 36 + 7]).toBe(thresholds[2]);
    expect((layout['node/nodes/conv.neurons/tau']!.value as number[])[0]).toBeCloseTo(1e-4 / 0.2, 15);
    expect(layout['node/nodes/flat/input_type']!.value).toEqual([3, 3, 3]);
    // the first weights after Flatten read NIR's (c, h, w) order: column (c, h, w) is spikelr's row (h, w, c)
    const w = net.layer('rec').params['weight']!.arraySync() as number[][]; // [27, 7], rows in (h, w, c) order
    const nirW = layout['node/nodes/rec.weight/weight']!.value as number[]; // [7, 27], columns in (c, h, w) order
    expect(nirW[4 * 27 + (2 * 3 + 1) * 3 + 0]).toBe(w[(1 * 3 + 0) * 3 + 2]![4]);
    expect(layout['node/nodes/rec.recurrent/bias']!.value).toEqual(Array.from(net.layer('rec').params['recurrentBias']!.dataSync()));
    // the reference simulates the file, spikelr the network: the same spikes
    const x = spikes([2, 14, 2, 6, 6], 6, 0.5); // NIR's layout
    const mine = tf.transpose(x, [0, 1, 3, 4, 2]);
    const inputFile = path.join(dir, 'spikelr.input.json'),
      outFile = path.join(dir, 'spikelr.out.json');
    writeFileSync(inputFile, JSON.stringify({ dt: 1e-4, input: x.arraySync() }));
    reference('simulate', file, inputFile, outFile);
    const ref = JSON.parse(readFileSync(outFile, 'utf8')) as { outputs: Record<string, number[][][]>; margin: number };
    expect(ref.margin).toBeGreaterThan(1e-4);
    const r = net.run(mine, { record: { conv: ['spikes'], rec: ['spikes'], out: ['membrane'] } });
    const conv = tf.transpose(r.records['conv']!.spikes!, [0, 1, 4, 2, 3]);
    expect(Array.from(conv.dataSync())).toEqual(ref.outputs['conv.neurons']!.flat(Infinity as 1));
    expect(Array.from(r.records['rec']!.spikes!.dataSync())).toEqual(ref.outputs['rec.neurons']!.flat(Infinity as 1));
    const out = Array.from(r.records['out']!.membrane!.dataSync()),
      expected = ref.outputs['out.neurons']!.flat(Infinity) as unknown as number[];
    out.forEach((v, i) => expect(Math.abs(v - expected[i]!)).toBeLessThan(1e-5));
    expect(Array.from(r.records['rec']!.spikes!.dataSync()).some((v) => v === 1)).toBe(true);
    tf.dispose([x, mine, conv]);
    r.dispose();
    net.dispose();
  });
});

/**
 * The peer itself: snnTorch 0.9.4's import_from_nir runs a spikelr export. Off unless
 * SPIKELR_SNNTORCH_PYTHONPATH holds the PYTHONPATH of snnTorch 0.9.4 with nirtorch 1.0 and nir ≤ 1.0.4
 * (the versions that work together; torch from Debian's python3-torch): none installs offline.
 */
describe.runIf(process.env['SPIKELR_SNNTORCH_PYTHONPATH'])("snnTorch's import_from_nir", () => {
  it('reproduces the spikes of a LIF → CubaLIF → LIF network exported by spikelr', async () => {
    const net = network({
      input: [20],
      seed: 3,
      layers: [
        dense({ name: 'hidden', units: 16, neuron: lif({ beta: 0.9, threshold: 0.5, reset: 'zero' }) }),
        dense({ name: 'syn', units: 10, neuron: synaptic({ alpha: 0.8, beta: 0.85, threshold: 0.4, reset: 'zero' }) }),
        dense({ name: 'out', units: 4, neuron: lif({ beta: 0.8, threshold: 0.3, reset: 'zero' }) }),
      ],
    });
    const file = path.join(dir, 'snntorch.nir'),
      inputFile = path.join(dir, 'snntorch.input.json'),
      outFile = path.join(dir, 'snntorch.out.json');
    await exportNir(net, file);
    const x = spikes([3, 20, 20], 7, 0.5);
    writeFileSync(inputFile, JSON.stringify({ input: x.arraySync() }));
    execFileSync(PYTHON, [REFERENCE, 'snntorch', file, inputFile, outFile], {
      env: { ...process.env, PYTHONPATH: process.env['SPIKELR_SNNTORCH_PYTHONPATH'] },
      stdio: 'pipe',
    });
    const theirs = (JSON.parse(readFileSync(outFile, 'utf8')) as { output: number[][][] }).output.flat(Infinity) as unknown as number[];
    const mine = outputs(net, x, ['out'])[0]!;
    expect(theirs).toEqual(mine);
    expect(mine.filter((v) => v === 1).length).toBeGreaterThan(10);
    x.dispose();
    net.dispose();
  });
});

describe('malformed NIR files get errors naming what is wrong', () => {
  /** A file of a valid two-layer graph, with `edit` applied to the graph first. */
  async function malformed(edit: (g: { nodes: Record<string, NirNode>; edges: [string, string][] }) => void): Promise<string> {
    const net = network({ input: [4], seed: 1, layers: [dense({ name: 'h', units: 3, neuron: lif({ reset: 'zero' }) }), readout({ name: 'o', units: 2 })] });
    const g = networkToNir(net);
    net.dispose();
    const copy = { nodes: { ...g.nodes! }, edges: g.edges!.map((e) => [...e] as [string, string]) };
    edit(copy);
    const file = path.join(dir, `bad-${Math.random().toString(36).slice(2)}.nir`);
    await writeNirFile(file, { ...g, nodes: copy.nodes, edges: copy.edges });
    return file;
  }
  const node = (n: NirNode, fields: Record<string, unknown>, drop: string[] = []): NirNode =>
    ({ ...n, fields: Object.fromEntries([...Object.entries(n.fields).filter(([k]) => !drop.includes(k)), ...Object.entries(fields)]) }) as NirNode;
  const cases: [string, Parameters<typeof malformed>[0], RegExp][] = [
    [
      'a node type spikelr does not know',
      (g) => (g.nodes['h.neurons'] = { type: 'Delay', fields: {}, metadata: {} }),
      /node 'h.neurons' has type 'Delay', which spikelr cannot import; it imports Input, Output, Affine, Linear, Conv2d, LIF, CubaLIF, IF, LI, I, Flatten, SumPool2d, AvgPool2d, NIRGraph/,
    ],
    [
      'a missing parameter',
      (g) => (g.nodes['h.neurons'] = node(g.nodes['h.neurons']!, {}, ['tau'])),
      /node 'h.neurons' \(LIF\) has no 'tau'; a LIF node carries tau, r, v_leak, v_threshold/,
    ],
    [
      'an edge to an unknown node',
      (g) => g.edges.push(['h.neurons', 'ghost']),
      /edge \('h.neurons', 'ghost'\) names 'ghost', which is not a node of the graph/,
    ],
    [
      'a weight that does not fit its input',
      (g) => (g.nodes['h.weight'] = node(g.nodes['h.weight']!, { weight: { shape: [3, 5], data: new Float64Array(15), dtype: 'float32' } })),
      /node 'h.weight' \(Affine\): weight is \[3, 5\] \(out, in\), but the node before it gives 4 values/,
    ],
    [
      'a neuron parameter of the wrong shape',
      (g) => (g.nodes['h.neurons'] = node(g.nodes['h.neurons']!, { tau: { shape: [5], data: new Float64Array(5).fill(1e-3), dtype: 'float64' } })),
      /node 'h.neurons' \(LIF\): 'tau' has shape \[5\], but the node before it gives it \[3\]/,
    ],
    [
      'an Output of the wrong shape',
      (g) => (g.nodes['output'] = node(g.nodes['output']!, { shape: { shape: [1], data: Float64Array.of(7), dtype: 'int64' } })),
      /the Output node has shape \[7\], but the node before it gives \[2\]/,
    ],
    [
      'a branch',
      (g) => g.edges.push(['h.neurons', 'output']),
      /node 'h.neurons' feeds 2 nodes \(o.weight, output\); spikelr networks are layer sequences, without branches/,
    ],
    [
      'a neuron with no weight before it',
      (g) => {
        g.edges = [
          ['input', 'h.neurons'],
          ['h.neurons', 'o.weight'],
          ['o.weight', 'o.neurons'],
          ['o.neurons', 'output'],
        ];
        delete g.nodes['h.weight'];
      },
      /node 'h.neurons' \(LIF\) is not fed by a weight node/,
    ],
    [
      'a time constant shorter than dt',
      (g) => (g.nodes['h.neurons'] = node(g.nodes['h.neurons']!, { tau: { shape: [3], data: new Float64Array(3).fill(5e-5), dtype: 'float64' } })),
      /tau = 0.00005 s is shorter than the step dt = 0.0001 s.*--dt/,
    ],
    [
      'a reset potential other than zero',
      (g) => (g.nodes['h.neurons'] = node(g.nodes['h.neurons']!, { v_reset: { shape: [3], data: new Float64Array(3).fill(0.5), dtype: 'float64' } })),
      /v_reset ≠ 0 \(0.5\)/,
    ],
  ];
  for (const [what, edit, message] of cases) {
    it(what, async () => {
      await expect(importNir(await malformed(edit))).rejects.toThrow(message);
    });
  }
  it('a node without a type, written by h5py', async () => {
    const file = path.join(dir, 'untyped.nir');
    execFileSync(PYTHON, [
      '-c',
      `import h5py, numpy as np
f = h5py.File(${JSON.stringify(file)}, 'w')
f.create_dataset('version', data='1.0.7', dtype=h5py.string_dtype())
g = f.create_group('node'); g.create_dataset('type', data='NIRGraph', dtype=h5py.string_dtype())
n = g.create_group('nodes'); n.create_group('lif').create_dataset('tau', data=np.ones(3))
g.create_dataset('edges', data=[('lif', 'lif')])
f.close()`,
    ]);
    await expect(importNir(file)).rejects.toThrow(
      /\/node\/nodes\/lif: the node has no 'type' dataset \(it has 'tau'\); every NIR node names its primitive in 'type'/,
    );
  });
  it('not an HDF5 file, and an HDF5 file with no graph', async () => {
    const text = path.join(dir, 'text.nir');
    writeFileSync(text, 'not hdf5');
    await expect(importNir(text)).rejects.toThrow(/text.nir is not an HDF5 file \(no HDF5 signature/);
    const empty = path.join(dir, 'empty.nir');
    execFileSync(PYTHON, ['-c', `import h5py\nh5py.File(${JSON.stringify(empty)}, 'w').create_dataset('x', data=1)`]);
    await expect(importNir(empty)).rejects.toThrow(/has no \/node group \(it has \/x\)/);
    await expect(importNir(path.join(dir, 'missing.nir'))).rejects.toThrow(/missing.nir not found/);
  });
  it('reads back what it wrote, subgraphs included', async () => {
    const inner: NirNode = {
      type: 'NIRGraph',
      fields: {},
      metadata: {},
      nodes: { a: { type: 'Input', fields: { shape: { shape: [1], data: Float64Array.of(2), dtype: 'int64' } }, metadata: {} } },
      edges: [],
    };
    const file = path.join(dir, 'nested.nir');
    await writeNirFile(file, { type: 'NIRGraph', fields: {}, metadata: { note: 'x' }, nodes: { sub: inner }, edges: [['sub', 'sub']] });
    const { graph } = await readNirFile(file);
    expect(graph.metadata['note']).toBe('x');
    expect(graph.nodes!['sub']!.nodes!['a']!.fields['shape']).toMatchObject({ shape: [1], dtype: 'int64' });
    expect(graph.edges).toEqual([['sub', 'sub']]);
  });
});

describe('spikelr export / import on trained runs', () => {
  const small = [
    '--dataset',
    'mnist',
    '--train-limit',
    '256',
    '--test-limit',
    '100',
    '--hidden',
    '16',
    '--steps',
    '5',
    '--batch-size',
    '32',
    '--reset',
    'zero',
    '--no-progress',
  ];
  for (const method of ['bptt', 'lr']) {
    it(`a ${method} run exports, imports and evaluates to the run's accuracy`, async () => {
      const run = path.join(dir, `run-${method}`),
        nir = path.join(dir, `${method}.nir`),
        imported = path.join(dir, `imported-${method}`);
      const t = await spikelr('train', '--method', method, ...small, '--out', run);
      expect(t.code, t.stderr).toBe(0);
      const accuracy = (JSON.parse(t.stdout) as { testAccuracy: number }).testAccuracy;
      if (method === 'lr') {
        const refused = await spikelr('export', run, '--nir', nir);
        expect(refused.code).toBe(1);
        expect(refused.stderr).toMatch(/fires with escape noise \(.*trained by lr\), which NIR cannot express.*--deterministic/);
      }
      const e = await spikelr('export', run, '--nir', nir, ...(method === 'lr' ? ['--deterministic'] : []));
      expect(e.code, e.stderr).toBe(0);
      const i = await spikelr('import', nir, '--out', imported);
      expect(i.code, i.stderr).toBe(0);
      expect(JSON.parse(readFileSync(path.join(imported, 'import.json'), 'utf8'))).toMatchObject({ dt: 1e-4, version: '1.0.7' });
      const ev = await spikelr('eval', imported, '--config', path.join(run, 'config.json'));
      expect(ev.code, ev.stderr).toBe(0);
      expect((JSON.parse(ev.stdout) as { accuracy: number }).accuracy).toBe(accuracy);
      // an imported model has no recipe: nothing says it fires with noise, so it exports as it is
      const back = await spikelr('export', imported, '--nir', path.join(dir, `${method}-back.nir`));
      expect(back.code, back.stderr).toBe(0);
      const again = await spikelr('import', nir, '--out', imported);
      expect(again.stderr).toMatch(/already holds a model; choose another --out, or overwrite with --force/);
    });
  }
  it('a run with the default reset by subtraction is refused with the way out named', async () => {
    const run = path.join(dir, 'run-subtract');
    const t = await spikelr('train', '--method', 'bptt', ...small.filter((a) => a !== 'zero' && a !== '--reset'), '--max-steps', '1', '--out', run);
    expect(t.code, t.stderr).toBe(0);
    const e = await spikelr('export', run, '--nir', path.join(dir, 'subtract.nir'));
    expect(e.code).toBe(1);
    expect(e.stderr).toMatch(/^spikelr: error: NIR export: layer 'hidden' \(dense, lif neurons\): reset by subtraction has no NIR primitive/m);
  });
});
