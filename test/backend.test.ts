import { wasmKernelsRelaxed } from '../src/core/platform/node.js';
import * as tf from '@tensorflow/tfjs';
import { createRequire } from 'node:module';
import { afterAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/kernels/backend.js';
import { escapeNoise } from '../src/neurons/noise.js';
import { alif, lif } from '../src/neurons/params.js';
import { dense, readout, recurrent } from '../src/sim/layer.js';
import { Network } from '../src/sim/network.js';
import { rateEncode } from '../src/sim/encoders.js';
import { dyadic } from './reference.js';

const bits = (t: tf.Tensor) => Array.from(new Uint32Array(new Float32Array(t.dataSync()).buffer));
const nativeInstalled = (() => {
  try {
    createRequire(import.meta.url).resolve('@tensorflow/tfjs-node');
    return true;
  } catch {
    return false;
  }
})();

function runOn(backend: 'wasm' | 'cpu', net: Network, input: tf.Tensor, options: Parameters<Network['run']>[1]) {
  return initBackend({ backend, log: null }).then(() => {
    const r = net.run(input, options);
    const out = {
      output: Array.from(r.output.dataSync()),
      spikes: Array.from(r.records['h']!.spikes!.dataSync()),
      membrane: Array.from(r.records['h']!.membrane!.dataSync()),
    };
    r.dispose();
    return out;
  });
}

describe('backends', () => {
  afterAll(() => initBackend({ backend: 'wasm', log: null }));

  it('wasm and cpu give identical spikes and bit-identical membranes when arithmetic is exact', async () => {
    const net = new Network({
      input: [16],
      layers: [recurrent({ name: 'h', units: 12, neuron: lif({ beta: 0.5, threshold: 0.5 }) }), readout({ units: 3, beta: 0.5 })],
      seed: 2,
    });
    let k = 0;
    for (const l of net.layers)
      for (const [n, v] of Object.entries(l.params)) net.setParameter(l.name, n, dyadic(v.size, 7 + k++, -20, 32), { layout: 'spikelr' });
    const input = tf.tensor(dyadic(4 * 15 * 16, 3, 0, 1), [4, 15, 16]);
    const opts = { record: ['h'], noise: escapeNoise('logistic', 0.25), seed: 8 };
    const onWasm = await runOn('wasm', net, input, opts);
    const onCpu = await runOn('cpu', net, input, opts);
    expect(onCpu.spikes).toEqual(onWasm.spikes);
    expect(bits(tf.tensor(onCpu.membrane))).toEqual(bits(tf.tensor(onWasm.membrane)));
    expect(onWasm.spikes.some((s) => s === 1)).toBe(true);
    net.dispose();
    input.dispose();
  });

  it('wasm and cpu give identical spikes for an initialised network on rate-coded input', async () => {
    const net = new Network({
      input: [100],
      layers: [dense({ name: 'h', units: 60, neuron: alif({ beta: 0.9, threshold: 0.3 }) }), readout({ units: 5 })],
      seed: 4,
    });
    await initBackend({ backend: 'wasm', log: null });
    const x = tf.tidy(() => tf.div(tf.range(0, 800), 800).reshape([8, 100]));
    const input = rateEncode(x, 20, { seed: 1 });
    const onWasm = await runOn('wasm', net, input, { record: ['h'] });
    const onCpu = await runOn('cpu', net, input, { record: ['h'] });
    // Summation order may differ in the last bit; a spike would only flip for a membrane within
    // rounding of the threshold, which this check reports if it happens.
    expect(onCpu.spikes).toEqual(onWasm.spikes);
    onCpu.membrane.forEach((u, i) => expect(Math.abs(u - onWasm.membrane[i]!)).toBeLessThan(1e-5));
    expect(onWasm.spikes.filter((s) => s === 1).length).toBeGreaterThan(100);
    net.dispose();
    input.dispose();
    x.dispose();
  });

  it('reports which backend runs, why, and what it tried', async () => {
    const lines: string[] = [];
    const report = await initBackend({ backend: 'cpu', log: (l) => lines.push(l) });
    expect(report).toMatchObject({ name: 'cpu', requested: 'cpu', source: 'option' });
    expect(lines).toEqual([expect.stringMatching(/^spikelr: backend cpu \(pure JavaScript; cpu from --backend\)$/)]);
  });

  it.skipIf(nativeInstalled)('auto falls back to wasm when the native packages are absent, saying so', async () => {
    const saved = process.env['SPIKELR_BACKEND'];
    delete process.env['SPIKELR_BACKEND'];
    const lines: string[] = [];
    const report = await initBackend({ log: (l) => lines.push(l) });
    if (saved !== undefined) process.env['SPIKELR_BACKEND'] = saved;
    expect(report.name).toBe('wasm');
    expect(report.attempts.map((a) => [a.candidate, a.ok, a.detail])).toEqual([
      ['@tensorflow/tfjs-node-gpu', false, 'not installed'],
      ['@tensorflow/tfjs-node', false, 'not installed'],
      ['wasm', true, wasmKernelsRelaxed() ? 'WebAssembly with SIMD and fused multiply–add' : 'WebAssembly with SIMD'],
    ]);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/backend wasm .*skipped @tensorflow\/tfjs-node-gpu: not installed/);
  });

  it.skipIf(nativeInstalled)('asking for tensorflow without the native packages is an error that says how to fix it', async () => {
    await expect(initBackend({ backend: 'tensorflow', log: null })).rejects.toThrow(
      /could not start 'tensorflow'.*not installed.*npm install @tensorflow\/tfjs-node/,
    );
  });

  it('takes the backend from SPIKELR_BACKEND and rejects unknown names', async () => {
    const saved = process.env['SPIKELR_BACKEND'];
    process.env['SPIKELR_BACKEND'] = 'cpu';
    const report = await initBackend({ log: null });
    process.env['SPIKELR_BACKEND'] = 'webgpu';
    await expect(initBackend({ log: null })).rejects.toThrow(/unknown backend 'webgpu' \(from SPIKELR_BACKEND\); expected one of auto, tensorflow, wasm, cpu/);
    if (saved === undefined) delete process.env['SPIKELR_BACKEND'];
    else process.env['SPIKELR_BACKEND'] = saved;
    expect(report).toMatchObject({ name: 'cpu', source: 'SPIKELR_BACKEND' });
  });
});
