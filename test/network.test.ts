import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { escapeNoise } from '../src/neurons/noise.js';
import { alif, lif, readoutNeuron, synaptic } from '../src/neurons/params.js';
import { conv2d, dense, flatten, gru, maxPool2d, readout, recurrent } from '../src/sim/layer.js';
import { Network } from '../src/sim/network.js';
import { initBackend } from '../src/kernels/backend.js';
import { bptt } from '../src/learning/estimators/bptt.js';
import { membraneCrossEntropy } from '../src/learning/losses.js';
import { atan } from '../src/neurons/surrogate.js';
import { sparseStats } from '../src/kernels/spike-matmul.js';
import { dyadic, nest, refAffine, refGru, refNeurons } from './reference.js';

const arr = (t: tf.Tensor) => Array.from(t.dataSync());

/** Binary input spikes [B, T, N] from a fixed pattern. */
function pattern(batch: number, steps: number, n: number, seed: number): tf.Tensor {
  const v = dyadic(batch * steps * n, seed, 0, 1).map((x) => (x > 0 ? 1 : 0));
  return tf.tensor(v, [batch, steps, n]);
}

function smallNetwork(seed = 1): Network {
  const net = new Network({
    input: [4],
    layers: [
      dense({ name: 'in', units: 5, neuron: lif({ beta: 0.5, threshold: 0.5, reset: 'subtract' }) }),
      recurrent({ name: 'rec', units: 3, neuron: lif({ beta: 0.5, threshold: 0.25, reset: 'zero', refractory: 1 }) }),
      readout({ name: 'out', units: 2, beta: 0.5 }),
    ],
    seed,
  });
  // Dyadic weights make every membrane exact in float32, so reference and simulator agree bit for bit.
  let k = 0;
  for (const layer of net.layers)
    for (const [name, v] of Object.entries(layer.params)) net.setParameter(layer.name, name, dyadic(v.size, 100 + k++, -24, 40), { layout: 'spikelr' });
  return net;
}

function reference(net: Network, input: number[][][]) {
  return input.map((sample) => {
    let x = sample; // [T][N]
    const layers: Record<string, { spikes: number[][]; membrane: number[][] }> = {};
    for (const layer of net.layers) {
      const w = nest(arr(layer.params['weight']!), layer.params['weight']!.shape);
      const b = layer.params['bias'] ? arr(layer.params['bias']) : undefined;
      const v = layer.params['recurrent'] ? nest(arr(layer.params['recurrent']), layer.params['recurrent'].shape) : undefined;
      const currents = x.map((row) => refAffine(row, w, b));
      const trace = refNeurons(layer.neuron!, currents, undefined, v ? (prev) => refAffine(prev, v) : undefined);
      layers[layer.name] = trace;
      x = layer.neuron!.kind === 'readout' ? trace.membrane : trace.spikes;
    }
    return { output: x, layers };
  });
}

describe('network simulation', () => {
  it('matches the scalar reference for dense, recurrent and readout layers, step by step', () => {
    const net = smallNetwork();
    const input = pattern(3, 12, 4, 9);
    const result = net.run(input, { record: ['in', 'rec'] });
    const ref = reference(net, nest(arr(input), input.shape));
    expect(result.output.shape).toEqual([3, 12, 2]);
    expect(nest(arr(result.output), result.output.shape)).toEqual(ref.map((r) => r.output));
    expect(nest(arr(result.records['rec']!.spikes!), [3, 12, 3])).toEqual(ref.map((r) => r.layers['rec']!.spikes));
    expect(nest(arr(result.records['in']!.membrane!), [3, 12, 5])).toEqual(ref.map((r) => r.layers['in']!.membrane));
    // the pattern must exercise the dynamics: both spiking layers fire, but not always
    for (const name of ['in', 'rec']) {
      const m = arr(tf.mean(result.records[name]!.spikes!))[0]!;
      expect(m).toBeGreaterThan(0.05);
      expect(m).toBeLessThan(0.95);
    }
    result.dispose();
    input.dispose();
    net.dispose();
  });

  it('matches the scalar reference when the input is large and sparse enough for the event-driven product', () => {
    // 8 samples × 12 steps of 300 inputs at ~15% firing: the first product is [96, 300] · [300, 48],
    // past the wasm kernel's size floor; dyadic weights keep every sum exact in any order
    const net = new Network({
      input: [300],
      layers: [dense({ name: 'in', units: 48, neuron: lif({ beta: 0.5, threshold: 0.5, reset: 'subtract' }) }), readout({ name: 'out', units: 3, beta: 0.5 })],
      seed: 2,
    });
    let k = 0;
    for (const layer of net.layers)
      for (const [name, v] of Object.entries(layer.params)) net.setParameter(layer.name, name, dyadic(v.size, 200 + k++, -12, 14), { layout: 'spikelr' });
    const input = tf.tensor(
      dyadic(8 * 12 * 300, 5, 0, 63).map((x) => (x < 10 / 64 ? 1 : 0)),
      [8, 12, 300],
    );
    const before = sparseStats.sparse;
    const result = net.run(input, { record: ['in'] });
    // the event-driven kernel is the wasm backend's; on another (SPIKELR_BACKEND) the dense path is the one under test
    expect(sparseStats.sparse > before, `event-driven product taken on ${tf.getBackend()}`).toBe(tf.getBackend() === 'wasm');
    const ref = reference(net, nest(arr(input), input.shape));
    expect(nest(arr(result.records['in']!.spikes!), [8, 12, 48])).toEqual(ref.map((r) => r.layers['in']!.spikes));
    expect(nest(arr(result.output), result.output.shape)).toEqual(ref.map((r) => r.output));
    const rate = arr(tf.mean(result.records['in']!.spikes!))[0]!;
    expect(rate).toBeGreaterThan(0.05);
    expect(rate).toBeLessThan(0.95);
    result.dispose();
    input.dispose();
    net.dispose();
  });

  it('runs a spiking conv net (conv2d, max pool, flatten, readout) as the reference convolution says', () => {
    const net = new Network({
      input: [5, 5, 1],
      layers: [
        conv2d({ name: 'c1', filters: 2, kernelSize: 3, padding: 'same', neuron: lif({ beta: 0.5, threshold: 0.25 }) }),
        conv2d({ name: 'c2', filters: 2, kernelSize: 3, stride: 2, padding: 'valid', neuron: synaptic({ alpha: 0.5, beta: 0.5, threshold: 0.25 }) }),
        flatten(),
        readout({ name: 'out', units: 3, beta: 0.5 }),
      ],
      seed: 3,
    });
    let k = 0;
    for (const layer of net.layers)
      for (const [name, v] of Object.entries(layer.params)) net.setParameter(layer.name, name, dyadic(v.size, 50 + k++, -20, 40), { layout: 'spikelr' });
    const input = pattern(2, 6, 25, 4).reshape([2, 6, 5, 5, 1]);
    const result = net.run(input, { record: ['c1', 'c2'] });
    expect(net.layer('c2').outputShape).toEqual([2, 2, 2]);

    const conv = (img: number[], [h, w, c]: number[], kernel: number[], bias: number[], kk: number, cout: number, stride: number, pad: number) => {
      const oh = Math.floor((h! + 2 * pad - kk) / stride) + 1,
        ow = Math.floor((w! + 2 * pad - kk) / stride) + 1;
      const out: number[] = [];
      for (let i = 0; i < oh; i++)
        for (let j = 0; j < ow; j++)
          for (let o = 0; o < cout; o++) {
            let s = bias[o]!;
            for (let di = 0; di < kk; di++)
              for (let dj = 0; dj < kk; dj++)
                for (let ci = 0; ci < c!; ci++) {
                  const y = i * stride + di - pad,
                    x = j * stride + dj - pad;
                  if (y >= 0 && y < h! && x >= 0 && x < w!) s += img[(y * w! + x) * c! + ci]! * kernel[((di * kk + dj) * c! + ci) * cout + o]!;
                }
            out.push(s);
          }
      return out;
    };
    const x = nest(arr(input), [2, 6, 25]) as number[][][];
    const p = (l: string, n: string) => arr(net.layer(l).params[n]!);
    x.forEach((sample, b) => {
      const c1 = refNeurons(
        net.layer('c1').neuron!,
        sample.map((img) => conv(img, [5, 5, 1], p('c1', 'weight'), p('c1', 'bias'), 3, 2, 1, 1)),
      );
      const c2 = refNeurons(
        net.layer('c2').neuron!,
        c1.spikes.map((img) => conv(img, [5, 5, 2], p('c2', 'weight'), p('c2', 'bias'), 3, 2, 2, 0)),
      );
      const w = nest(p('out', 'weight'), [8, 3]);
      const out = refNeurons(
        net.layer('out').neuron!,
        c2.spikes.map((row) => refAffine(row, w, p('out', 'bias'))),
      );
      expect(nest(arr(result.records['c1']!.spikes!), [2, 6, 50])[b]).toEqual(c1.spikes);
      expect(nest(arr(result.records['c2']!.spikes!), [2, 6, 8])[b]).toEqual(c2.spikes);
      expect(nest(arr(result.output), [2, 6, 3])[b]).toEqual(out.membrane);
    });
    expect(arr(tf.sum(result.records['c2']!.spikes!))[0]).toBeGreaterThan(0);
    result.dispose();
    input.dispose();
    net.dispose();
  });

  it("runs a GRU layer with PyTorch's equations (against the scalar reference)", () => {
    const net = new Network({ input: [3], layers: [gru({ name: 'g', units: 4 })], seed: 8 });
    const input = tf.tidy(() => tf.reshape(tf.sin(tf.range(0, 2 * 5 * 3)), [2, 5, 3]));
    const r = net.run(input);
    const p = (n: string) => arr(net.layer('g').params[n]!);
    const x = nest(arr(input), [2, 5, 3]) as number[][][];
    x.forEach((sample, b) => {
      const ref = refGru(sample, nest(p('weight'), [3, 12]), p('bias'), nest(p('recurrent'), [4, 12]), p('recurrentBias'));
      (nest(arr(r.output), [2, 5, 4]) as number[][][])[b]!.forEach((row, t) => row.forEach((v, k) => expect(v).toBeCloseTo(ref[t]![k]!, 5)));
    });
    r.dispose();
    input.dispose();
    net.dispose();
  });

  it('max pooling of spikes is an OR over each window', () => {
    const net = new Network({ input: [4, 4, 1], layers: [maxPool2d({ poolSize: 2 }), flatten()] });
    const img = [1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
    const input = tf.tensor(img, [1, 1, 4, 4, 1]);
    const r = net.run(input);
    expect(arr(r.output)).toEqual([1, 1, 0, 0]);
    r.dispose();
    net.dispose();
  });

  it("max pooling routes its gradient to each window's first maximum on every backend (PyTorch's choice), silent windows included", async () => {
    // windows (2×2, row-major): [1 1; 0 1] ties three ways, [1 1; 1 0] three, [0 0; 0 0] is silent, [0 1; 0 0] has one maximum
    const img = [1, 1, 1, 1, 0, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0];
    const weights = [1, 2, 3, 4];
    const expected = [1, 0, 2, 0, 0, 0, 0, 0, 3, 0, 0, 4, 0, 0, 0, 0];
    const before = tf.getBackend();
    for (const backend of ['wasm', 'cpu']) {
      await initBackend({ backend, log: null });
      const net = new Network({ input: [4, 4, 1], layers: [maxPool2d({ poolSize: 2 })] });
      const layer = net.layers[0]!;
      const x = tf.tensor4d(img, [1, 4, 4, 1]);
      const g = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(layer.map(v, []), tf.tensor4d(weights, [1, 2, 2, 1]))))(x);
      expect(arr(g), backend).toEqual(expected);
      // the tangent reads the same elements: J dx at the first maxima
      const dx = tf.tensor4d(
        img.map((_, i) => i + 1),
        [1, 4, 4, 1],
      );
      expect(arr(layer.jvp!(x, dx, {})), backend).toEqual([1, 3, 9, 12]);
      tf.dispose([x, dx]);
      net.dispose();
    }
    await tf.setBackend(before);
  });

  it('gives the same output stepping one step at a time as running all steps at once, with and without noise', () => {
    const net = smallNetwork();
    const input = pattern(2, 10, 4, 21);
    for (const noise of [undefined, escapeNoise('logistic', 0.2)]) {
      const all = net.run(input, { noise, seed: 77 });
      const sim = net.simulation(2, { noise, seed: 77 });
      const steps: number[][] = [];
      for (let t = 0; t < 10; t++) {
        const xt = tf.tidy(() => tf.squeeze(tf.slice(input, [0, t, 0], [2, 1, 4]), [1]));
        const y = sim.step(xt);
        steps.push(arr(y));
        y.dispose();
        xt.dispose();
      }
      const whole = nest(arr(all.output), [2, 10, 2]) as number[][][];
      for (let t = 0; t < 10; t++) for (let b = 0; b < 2; b++) for (let o = 0; o < 2; o++) expect(steps[t]![b * 2 + o]).toBeCloseTo(whole[b]![t]![o]!, 6);
      sim.dispose();
      all.dispose();
    }
    input.dispose();
    net.dispose();
  });

  it('keeps no tensors after a run that is disposed, and the live count stays flat across runs and steps', () => {
    const net = new Network({
      input: [20],
      layers: [
        dense({ units: 16, neuron: alif({ refractory: 2 }) }),
        recurrent({ units: 8, neuron: synaptic() }),
        readout({ units: 3, neuron: readoutNeuron() }),
      ],
      seed: 5,
    });
    const input = pattern(4, 8, 20, 2);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) {
      const r = net.run(input, { record: i % 2 ? ['dense0'] : [], noise: escapeNoise('gaussian', 0.3) });
      expect(tf.memory().numTensors).toBe(before + 1 + (i % 2 ? 2 : 0));
      r.dispose();
      expect(tf.memory().numTensors).toBe(before);
    }
    const sim = net.simulation(4);
    const afterCreate = tf.memory().numTensors;
    const x = tf.ones([4, 20]);
    for (let t = 0; t < 6; t++) sim.step(x).dispose();
    expect(tf.memory().numTensors).toBe(afterCreate + 1);
    sim.dispose();
    x.dispose();
    expect(tf.memory().numTensors).toBe(before - 0);
    net.dispose();
    input.dispose();
  });

  it('is reproducible from the noise seed, and different seeds give different spikes', () => {
    const net = smallNetwork();
    const input = pattern(2, 10, 4, 8);
    const noise = escapeNoise('gaussian', 0.3);
    const a = net.run(input, { noise, record: ['in'] });
    const again = net.run(input, { noise, seed: a.seed, record: ['in'] });
    const other = net.run(input, { noise, seed: a.seed + 1, record: ['in'] });
    expect(arr(again.records['in']!.spikes!)).toEqual(arr(a.records['in']!.spikes!));
    expect(arr(other.records['in']!.spikes!)).not.toEqual(arr(a.records['in']!.spikes!));
    // and from the network seed alone: a rebuilt network replays the same sequence of runs
    const twin = smallNetwork();
    const b = twin.run(input, { noise, record: ['in'] });
    expect(b.seed).toBe(a.seed);
    for (const r of [a, again, other, b]) r.dispose();
    input.dispose();
    net.dispose();
    twin.dispose();
  });

  it("keeps each network's state to itself: interleaved simulations equal separate ones", () => {
    const x = tf.ones([1, 4]);
    const run = (interleave: boolean) => {
      const n1 = smallNetwork(1),
        n2 = smallNetwork(2);
      const s1 = n1.simulation(1),
        s2 = n2.simulation(1);
      const out: number[] = [];
      for (let t = 0; t < 6; t++) {
        const y1 = s1.step(x);
        if (interleave) s2.step(x).dispose();
        out.push(...arr(y1));
        y1.dispose();
      }
      s1.dispose();
      s2.dispose();
      n1.dispose();
      n2.dispose();
      return out;
    };
    expect(run(true)).toEqual(run(false));
    x.dispose();
  });

  it('initialises weights as PyTorch does, U(−1/√fan_in, 1/√fan_in), reproducibly from the seed', () => {
    const a = new Network({ input: [400], layers: [dense({ units: 300 })], seed: 12 });
    const b = new Network({ input: [400], layers: [dense({ units: 300 })], seed: 12 });
    const c = new Network({ input: [400], layers: [dense({ units: 300 })], seed: 13 });
    const w = arr(a.layers[0]!.params['weight']!);
    expect(arr(b.layers[0]!.params['weight']!)).toEqual(w);
    expect(arr(c.layers[0]!.params['weight']!)).not.toEqual(w);
    const bound = 1 / Math.sqrt(400);
    expect(Math.max(...w.map(Math.abs))).toBeLessThanOrEqual(bound);
    const mean = w.reduce((s, v) => s + v, 0) / w.length;
    const variance = w.reduce((s, v) => s + (v - mean) ** 2, 0) / w.length;
    const uniformVariance = bound ** 2 / 3;
    expect(Math.abs(mean)).toBeLessThan(4.5 * Math.sqrt(uniformVariance / w.length));
    expect(Math.abs(variance - uniformVariance) / uniformVariance).toBeLessThan(0.02); // sd of the ratio ≈ 0.0015 here
    for (const n of [a, b, c]) n.dispose();
  });
});

describe('network errors', () => {
  it('names the expected and the received input shape', () => {
    const net = smallNetwork();
    expect(() => net.run(tf.zeros([8, 4]))).toThrow(/network.run: input must have shape \[B, T, 4\] \(batch, steps, …per-step input\), got \[8, 4\]/);
    expect(() => net.run(tf.zeros([8, 10, 5]))).toThrow(/got \[8, 10, 5\]/);
    const sim = net.simulation(2);
    expect(() => sim.step(tf.zeros([3, 4]))).toThrow(/simulation.step: input must have shape \[2, 4\], got \[3, 4\]/);
    sim.dispose();
    net.dispose();
  });

  it('rejects layers that do not fit, unknown names, duplicate names and misplaced noise', () => {
    expect(() => new Network({ input: [8, 8, 1], layers: [dense({ units: 3 })] })).toThrow(
      /dense 'dense0': input must be rank 1 per step, got shape \[8, 8, 1\]; put flatten\(\) before it/,
    );
    expect(() => new Network({ input: [4], layers: [conv2d({ filters: 2, kernelSize: 3 })] })).toThrow(/conv2d 'conv2d0': input must be rank 3 per step/);
    expect(() => new Network({ input: [4], layers: [dense({ name: 'a', units: 3 }), dense({ name: 'a', units: 3 })] })).toThrow(/two layers are named 'a'/);
    expect(() => dense({ units: 0 })).toThrow(/dense: units must be an integer >= 1, got 0/);
    expect(() => dense({ units: 3, neuron: readoutNeuron() as never })).toThrow(/dense: neuron must be a spiking model/);
    const net = smallNetwork();
    const x = tf.zeros([1, 2, 4]);
    expect(() => net.run(x, { record: ['hiden'] })).toThrow(/no layer named 'hiden'; layers are 'in', 'rec', 'out'/);
    expect(() => net.run(x, { noise: { out: escapeNoise('gaussian', 1) } })).toThrow(/noise given for layer 'out', which does not spike/);
    expect(() => net.run(x, { recrd: ['in'] } as never)).toThrow(
      /network\.run: options: unknown option 'recrd'; allowed options are record, noise, seed, constantInput/,
    );
    expect(() => net.run(x, { seed: -1 })).toThrow(/network\.run: seed must be an integer >= 0, got -1/);
    expect(() => net.run(x, { constantInput: 'yes' } as never)).toThrow(/network\.run: constantInput must be true or false, got 'yes'/);
    expect(() => net.run(x, 7 as never)).toThrow(/network\.run: options must be an object such as \{ record: \['hidden'\], noise, seed \}, got 7/);
    expect(() => net.simulation(1, { record: ['in'] } as never)).toThrow(
      /network\.simulation: options: unknown option 'record'; allowed options are noise, seed/,
    );
    expect(() => net.setParameter('in', 'weight', [1, 2, 3])).toThrow(/in.weight must have shape \[4, 5\] \(20 values\), got \[3\]/);
    net.dispose();
  });

  it("a recurrent bias adds to the currents as the bias does (snnTorch RLeaky's second bias): same outputs as one bias b + b_rec, and the same gradient", () => {
    const input = tf.tidy(() => tf.randomUniform([3, 6, 4], 0, 1, 'float32', 8));
    const build = (recurrentBias: boolean) =>
      new Network({
        input: [4],
        layers: [recurrent({ name: 'r', units: 5, neuron: lif({ beta: 0.9, threshold: 0.4 }), recurrentBias }), readout({ name: 'o', units: 2 })],
        seed: 3,
      });
    const [two, one] = [build(true), build(false)];
    expect(Object.keys(two.layer('r').params)).toContain('recurrentBias');
    for (const n of ['weight', 'recurrent']) one.setParameter('r', n, two.layer('r').params[n]!);
    for (const n of ['weight', 'bias']) one.setParameter('o', n, two.layer('o').params[n]!);
    one.setParameter('r', 'bias', tf.add(two.layer('r').params['bias']!, two.layer('r').params['recurrentBias']!));
    const [a, b] = [two.run(input), one.run(input)];
    expect(a.output.arraySync()).toEqual(b.output.arraySync());
    // b and b_rec enter every step's current alike, so autodiff gives them one gradient
    const g = bptt({ surrogate: atan({ alpha: 2 }) }).estimate(two, { input, labels: tf.tensor1d([0, 1, 1], 'int32') }, membraneCrossEntropy('mean'));
    const [gb, gr] = [g.gradients.get(two.layer('r').params['bias']!)!, g.gradients.get(two.layer('r').params['recurrentBias']!)!];
    expect(Array.from(gr.dataSync())).toEqual(Array.from(gb.dataSync()));
    expect(tf.norm(gb).dataSync()[0]).toBeGreaterThan(0);
    g.dispose();
    input.dispose();
    a.dispose();
    b.dispose();
    two.dispose();
    one.dispose();
  });

  it("setParameter takes a flat matrix only with its layout said, and PyTorch's layout transposed", () => {
    const net = new Network({
      input: [2, 2, 1],
      layers: [conv2d({ name: 'c', filters: 3, kernelSize: 2, padding: 'valid' }), flatten(), dense({ name: 'd', units: 2 })],
      seed: 0,
    });
    const flat = Array.from({ length: 6 }, (_, i) => i); // d.weight is [3, 2]
    expect(() => net.setParameter('d', 'weight', flat)).toThrow(
      /d\.weight is \[3, 2\]: a flat array of 6 values could be laid out as spikelr's \[3, 2\] or as PyTorch's \[2, 3\]; pass a tensor, or say which with \{ layout: 'spikelr' \}/,
    );
    net.setParameter('d', 'weight', flat, { layout: 'spikelr' });
    expect(net.layer('d').params['weight']!.arraySync()).toEqual([
      [0, 1],
      [2, 3],
      [4, 5],
    ]);
    // torch's nn.Linear(3, 2).weight is [out, in] = [[0, 1, 2], [3, 4, 5]]: W[i][o] = torch[o][i]
    net.setParameter('d', 'weight', flat, { layout: 'torch' });
    expect(net.layer('d').params['weight']!.arraySync()).toEqual([
      [0, 3],
      [1, 4],
      [2, 5],
    ]);
    // nn.Conv2d(1, 3, 2).weight is [out 3, in 1, kh 2, kw 2]; spikelr's kernel is [kh, kw, in, out]
    const torchKernel = Array.from({ length: 12 }, (_, i) => i);
    net.setParameter('c', 'weight', tf.tensor(torchKernel, [3, 1, 2, 2]), { layout: 'torch' });
    const k = net.layer('c').params['weight']!.arraySync() as number[][][][];
    for (let o = 0; o < 3; o++)
      for (let y = 0; y < 2; y++) for (let x = 0; x < 2; x++) expect(k[y]![x]![0]![o]).toBe(torchKernel[((o * 1 + 0) * 2 + y) * 2 + x]);
    expect(() => net.setParameter('c', 'weight', tf.zeros([2, 2, 1, 3]), { layout: 'torch' })).toThrow(
      /c\.weight must have shape \[3, 1, 2, 2\] \(PyTorch's layout\), got \[2, 2, 1, 3\]/,
    );
    net.setParameter('d', 'bias', [1, 2]); // a vector has one layout
    net.dispose();
  });
});
