import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { alif, analog, lif, synaptic } from '../src/neurons/params.js';
import { deserializeModel, deserializeNetwork, loadNetwork, saveNetwork, serializeNetwork } from '../src/io/network-file.js';
import { conv2d, dense, flatten, graphConv, gru, maxPool2d, readout, recurrent } from '../src/sim/layer.js';
import { Network } from '../src/sim/network.js';
import { escapeNoise } from '../src/neurons/noise.js';

const dir = mkdtempSync(path.join(tmpdir(), 'spikelr-io-'));
const bits = (t: tf.Tensor) => Array.from(new Uint32Array(new Float32Array(t.dataSync()).buffer));

function mixedNetwork(): Network {
  return new Network({
    input: [6, 6, 1],
    layers: [
      conv2d({ name: 'conv', filters: 3, kernelSize: 3, neuron: lif({ beta: 0.8, threshold: 0.3, reset: 'zero', refractory: 1 }) }),
      maxPool2d({ poolSize: 2 }),
      flatten(),
      recurrent({ name: 'rec', units: 12, neuron: alif({ beta: 0.9, threshold: 0.2, rho: 0.8, adaptation: 0.1 }), recurrentBias: true }),
      dense({ name: 'hid', units: 7, neuron: synaptic({ alpha: 0.7, beta: 0.85, threshold: 0.2, reset: 'none' }), bias: false }),
      readout({ name: 'out', units: 4, beta: 0.6 }),
    ],
    seed: 99,
  });
}

describe('saving and loading a network', () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('round-trips topology, neuron parameters and weights bit-exactly, giving identical outputs', async () => {
    const net = mixedNetwork();
    const file = path.join(dir, 'net.safetensors');
    await saveNetwork(net, file);
    const back = await loadNetwork(file);
    expect(back.layers.map((l) => l.spec)).toEqual(net.layers.map((l) => ({ ...l.spec, name: l.name })));
    expect(back.seed).toBe(net.seed);
    for (const [i, layer] of net.layers.entries()) {
      for (const [name, v] of Object.entries(layer.params)) expect(bits(back.layers[i]!.params[name]!)).toEqual(bits(v));
    }
    const input = tf.tidy(() => tf.cast(tf.greater(tf.randomUniform([3, 8, 6, 6, 1], 0, 1, 'float32', 4), 0.6), 'float32'));
    for (const noise of [undefined, escapeNoise('laplace', 0.1)]) {
      const a = net.run(input, { record: ['rec'], noise, seed: 5 });
      const b = back.run(input, { record: ['rec'], noise, seed: 5 });
      expect(bits(b.output)).toEqual(bits(a.output));
      expect(bits(b.records['rec']!.spikes!)).toEqual(bits(a.records['rec']!.spikes!));
      a.dispose();
      b.dispose();
    }
    input.dispose();
    net.dispose();
    back.dispose();
  });

  it('round-trips analog, GRU and graph layers and learned coefficients', async () => {
    const edges: [number, number][] = [
      [0, 1],
      [1, 2],
      [2, 3],
      [3, 0],
    ];
    const net = new Network({
      input: [5],
      layers: [
        graphConv({ name: 'g', units: 6, nodes: 4, edges, neuron: analog({ activation: 'tanh' }) }),
        dense({ name: 'd', units: 5, neuron: lif(), learn: ['beta', 'threshold', 'sigma'] }),
        gru({ name: 'r', units: 3, learn: ['sigma'] }),
        readout({ units: 2 }),
      ],
      seed: 11,
    });
    net.setParameter('d', 'noiseScale', [0.1, -0.2, 0.3, 0, 0.05]);
    const back = deserializeNetwork(await serializeNetwork(net), 'mixed');
    const input = tf.tidy(() => tf.reshape(tf.sin(tf.range(0, 4 * 3 * 5)), [4, 3, 5]));
    const a = net.run(input, { noise: escapeNoise('gaussian', 0.2), seed: 3 });
    const b = back.run(input, { noise: escapeNoise('gaussian', 0.2), seed: 3 });
    expect(bits(b.output)).toEqual(bits(a.output));
    expect(Object.keys(back.layer('d').params).sort()).toEqual(['beta', 'bias', 'noiseScale', 'threshold', 'weight']);
    tf.dispose([input]);
    a.dispose();
    b.dispose();
    net.dispose();
    back.dispose();
  });

  it('writes a standard safetensors file: 8-byte header length, JSON header, aligned F32 data', async () => {
    const net = mixedNetwork();
    const bytes = await serializeNetwork(net);
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect((8 + n) % 8).toBe(0);
    const header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + n)).toString());
    expect(header['rec.recurrent']).toEqual({ dtype: 'F32', shape: [12, 12], data_offsets: expect.any(Array) });
    const [start, end] = header['hid.weight'].data_offsets;
    const stored = new Float32Array(bytes.slice(8 + n + start, 8 + n + end).buffer);
    expect(Array.from(stored)).toEqual(Array.from(net.layer('hid').params['weight']!.dataSync()));
    expect(header['__metadata__'].format).toBe('spikelr');
    net.dispose();
  });

  it('names a truncated file as truncated, with the sizes', async () => {
    const net = mixedNetwork();
    const bytes = await serializeNetwork(net);
    net.dispose();
    const file = path.join(dir, 'cut.safetensors');
    writeFileSync(file, bytes.subarray(0, bytes.length - 100));
    await expect(loadNetwork(file)).rejects.toThrow(/cut.safetensors: truncated: the tensors need \d+ bytes of data but only \d+ follow the header/);
    writeFileSync(file, bytes.subarray(0, 40));
    await expect(loadNetwork(file)).rejects.toThrow(/cut.safetensors: truncated: the header needs \d+ bytes/);
  });

  it('tells a foreign file from a model: text, PNG, and a safetensors file of someone else', async () => {
    const text = path.join(dir, 'notes.txt');
    writeFileSync(text, 'these are not weights, just some notes that are long enough');
    await expect(loadNetwork(text)).rejects.toThrow(/notes.txt: not a spikelr model file \(expected a .safetensors file/);
    const png = path.join(dir, 'image.safetensors');
    writeFileSync(png, Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]));
    await expect(loadNetwork(png)).rejects.toThrow(/image.safetensors: not a spikelr model file/);
    const foreignHeader = Buffer.from(JSON.stringify({ 'model.fc1.weight': { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }));
    const foreign = Buffer.concat([Buffer.alloc(8), foreignHeader, Buffer.alloc(4)]);
    foreign.writeBigUInt64LE(BigInt(foreignHeader.length), 0);
    expect(() => deserializeNetwork(foreign, 'torch.safetensors')).toThrow(
      /torch.safetensors: a safetensors file, but not a spikelr model: it has no spikelr metadata \(tensors: model.fc1.weight\)/,
    );
    await expect(loadNetwork(path.join(dir, 'missing.safetensors'))).rejects.toThrow(/missing.safetensors: no such model file/);
  });

  it('detects corrupted weights by their checksum', async () => {
    const net = mixedNetwork();
    const bytes = await serializeNetwork(net);
    net.dispose();
    bytes[bytes.length - 3] = bytes[bytes.length - 3]! ^ 0x40;
    expect(() => deserializeNetwork(bytes, 'flipped.safetensors')).toThrow(/flipped.safetensors: corrupt: the weights do not match the checksum/);
  });

  it('detects a changed header by its own checksum: a neuron parameter, a shape, the checksum digits; files from before it load unchecked', async () => {
    const net = new Network({
      input: [4],
      layers: [dense({ name: 'h', units: 3, neuron: lif({ beta: 0.9, threshold: 1 }) }), readout({ name: 'o', units: 2, beta: 0.9 })],
      seed: 5,
    });
    const bytes = await serializeNetwork(net);
    net.dispose();
    const headerLength = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
    const text = Buffer.from(bytes.subarray(8, 8 + headerLength)).toString('latin1');
    const edited = (from: RegExp, to: string) => {
      const at = text.search(from);
      expect(at, String(from)).toBeGreaterThan(0);
      const copy = Uint8Array.from(bytes);
      copy.set(Buffer.from(text.replace(from, to), 'latin1'), 8);
      return copy;
    };
    const intact = deserializeModel(bytes, 'intact.safetensors');
    expect(intact.headerChecked).toBe(true);
    intact.net.dispose();
    // β 0.9 → 0.8 in the stored topology: valid JSON, a valid network, and another model
    expect(() => deserializeModel(edited(/\\"beta\\":0\.9/, '\\"beta\\":0.8'), 'beta.safetensors')).toThrow(
      /beta.safetensors: corrupt: the header \(topology, neuron parameters, tensor layout\) does not match the checksum stored with it/,
    );
    expect(() => deserializeModel(edited(/"shape":\[4,3\]/, '"shape":[3,4]'), 'shape.safetensors')).toThrow(/corrupt: the header/);
    const digits = /"headerCrc32":"(\d)/.exec(text)![1]!;
    expect(() => deserializeModel(edited(/"headerCrc32":"\d/, `"headerCrc32":"${(Number(digits) + 1) % 10}`), 'crc.safetensors')).toThrow(
      /corrupt: the header/,
    );
    // a file written before the header checksum: the field blanked out with spaces (still valid JSON)
    const old = edited(/,"headerCrc32":"\d{10}"/, ' '.repeat(',"headerCrc32":"0000000000"'.length));
    const loaded = deserializeModel(old, 'old.safetensors');
    expect(loaded.headerChecked).toBe(false);
    loaded.net.dispose();
  });

  it('validates the stored topology like a constructor would', async () => {
    const net = new Network({ input: [3], layers: [dense({ name: 'h', units: 2 })], seed: 1 });
    const bytes = await serializeNetwork(net);
    net.dispose();
    // an unchecked header (as files from before the header checksum have), so the topology check is what speaks
    const text = Buffer.from(bytes)
      .toString('latin1')
      .replace(/,"headerCrc32":"\d{10}"/, ' '.repeat(27))
      .replace('"beta\\":0.95', '"beta\\":1.95');
    expect(() => deserializeNetwork(Buffer.from(text, 'latin1'), 'edited.safetensors')).toThrow(
      /edited.safetensors: layer 0.neuron|lif: beta must be in \[0, 1\], got 1.95/,
    );
  });
});

describe("the web build's checksum", () => {
  it("the crc-32 package (src/core/platform/web.ts) gives zlib's CRC-32 (src/core/platform/node.ts) on every length", async () => {
    const web = await import('../src/core/platform/web.js');
    const node = await import('../src/core/platform/node.js');
    for (const n of [0, 1, 7, 64, 1000, 65537]) {
      const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 2654435761) >>> 24);
      expect(web.crc32(bytes), `${n} bytes`).toBe(node.crc32(bytes));
    }
    expect(node.crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926); // the CRC-32 check value
  });
});
