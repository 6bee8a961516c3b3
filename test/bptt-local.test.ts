/**
 * BPTT with local losses (local BPTT inside each block) on local-net.ts's network, with the spike
 * replaced by a smooth step so that the surrogate network's exact gradient is a float64 central
 * difference of its reference losses.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { bptt } from '../src/learning/estimators/bptt.js';
import { membraneCrossEntropy } from '../src/learning/losses.js';
import { sigmoid } from '../src/neurons/surrogate.js';
import { refAffine, refNeurons } from './reference.js';
import type { Params } from './tiny-snn.js';
import { build, crossEntropy, differences, H1, H1_KEYS, H2, HEAD_KEYS, INPUTS, LABELS, LAST_KEYS, m, READOUT_BETA, READOUT_KEYS, T } from './local-net.js';

describe('BPTT with local losses (local BPTT inside each block), the spike replaced by a smooth step', () => {
  // S(x) = sigmoid(4x): the surrogate network is smooth, so its exact gradient is a float64 central difference
  const S = (x: number) => 1 / (1 + Math.exp(-4 * x));
  /** Per sample: the head's cross-entropy and the network's, with the smooth step as the spike. */
  function smoothLosses(P: Params): { head: number; net: number } {
    let head = 0,
      net = 0;
    INPUTS.forEach((x, b) => {
      const label = LABELS[b]!;
      const s1 = refNeurons(
        H1,
        x.map((row) => refAffine(row, m(P['h1.weight']!, 3, 2), P['h1.bias'])),
        (u, thr) => S(u - thr),
      ).spikes;
      head += crossEntropy(
        refAffine(
          [0, 1].map((j) => s1.reduce((s, r) => s + r[j]!, 0) / T),
          m(P['h1.localWeight']!, 2, 2),
          P['h1.localBias'],
        ),
        label,
      );
      const s2 = refNeurons(
        H2,
        s1.map((row) => refAffine(row, m(P['h2.weight']!, 2, 2), P['h2.bias'])),
        (u, thr) => S(u - thr),
      ).spikes;
      const mem = refNeurons(
        { kind: 'readout', beta: READOUT_BETA },
        s2.map((row) => refAffine(row, m(P['o.weight']!, 2, 2), P['o.bias'])),
      ).membrane;
      net += crossEntropy(
        [0, 1].map((k) => mem.reduce((s, r) => s + r[k]!, 0) / T),
        label,
      );
    });
    return { head: head / INPUTS.length, net: net / INPUTS.length };
  }

  it("the first block learns its head's loss alone and the second the network's; no gradient crosses between them", () => {
    const net = build();
    const input = tf.tensor(INPUTS.flat(2), [2, T, 3]);
    const labels = tf.tensor1d(LABELS, 'int32');
    const e = bptt({ surrogate: sigmoid({ slope: 4 }), smooth: true }).estimate(net, { input, labels }, membraneCrossEntropy('mean'));
    const got = Object.fromEntries(
      net.layers.flatMap((l) => Object.entries(l.params).map(([n, v]) => [`${l.name}.${n}`, Array.from(e.gradients.get(v)!.dataSync())])),
    );
    const headTruth = differences([...H1_KEYS, ...HEAD_KEYS], (P) => smoothLosses(P).head);
    const netTruth = differences([...LAST_KEYS, ...READOUT_KEYS], (P) => smoothLosses(P).net);
    for (const [key, g] of Object.entries({ ...headTruth, ...netTruth })) g.forEach((v, i) => expect(got[key]![i]!, `${key}[${i}]`).toBeCloseTo(v, 4));
    // positive control: through the blocks, the first layer's gradient would also carry the network's loss
    const through = differences(H1_KEYS, (P) => smoothLosses(P).net);
    expect(Math.max(...H1_KEYS.flatMap((k) => through[k]!.map(Math.abs)))).toBeGreaterThan(1e-2);
    e.dispose();
    tf.dispose([input, labels]);
    net.dispose();
  });
});
