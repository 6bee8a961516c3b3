/**
 * Activity-perturbed forward gradients with local losses (Ren et al. 2022's LG-FG-A) on
 * local-net.ts's network: a direction on the first layer (which has a head) ends there and takes
 * the head's loss (the row's derivative, or with unit credit each unit's own term; unit credit also
 * takes the layer the readout reads by its mean through the readout's credit). Its mean over independent draws must be the exact surrogate gradient
 * of each block's own loss — which a second method gives: BPTT with local losses (local BPTT inside
 * each block, same surrogate), tested against float64 differences in bptt-local.test.ts.
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { bptt } from '../src/learning/estimators/bptt.js';
import { forwardGradient } from '../src/learning/estimators/fg.js';
import { membraneCrossEntropy } from '../src/learning/losses.js';
import { dense, readout } from '../src/sim/layer.js';
import { Network } from '../src/sim/network.js';
import { build, H1, H1_KEYS, H2, HEAD_KEYS, INPUTS, LABELS, LAST_KEYS, READOUT_BETA, READOUT_KEYS, T, VALUES } from './local-net.js';
import { expectUnbiased, type Params } from './tiny-snn.js';

const loss = membraneCrossEntropy('mean');

function gradientsOf(net: Network, e: { gradients: Map<tf.Variable, tf.Tensor> }): Params {
  return Object.fromEntries(
    net.layers.flatMap((l) =>
      Object.entries(l.params)
        .filter(([, v]) => e.gradients.has(v))
        .map(([n, v]) => [`${l.name}.${n}`, Array.from(e.gradients.get(v)!.dataSync())]),
    ),
  );
}

describe('fg-activity with local losses', () => {
  it.each(['loss', 'unit'] as const)("with %s credit, is unbiased for each block's own surrogate gradient (local BPTT's), and not the network's", (credit) => {
    const input = tf.tensor(INPUTS.flat(2), [2, T, 3]);
    const labels = tf.tensor1d(LABELS, 'int32');
    const batch = { input, labels };
    const net = build();
    const exactE = bptt().estimate(net, batch, loss);
    const exact = gradientsOf(net, exactE);
    exactE.dispose();
    const fg = forwardGradient({ directions: 64, perturb: 'activities', localCredit: credit });
    const draws = 40;
    const samples: Record<string, number[][]> = {};
    for (let d = 0; d < draws; d++) {
      const e = fg.estimate(net, batch, loss, 500 + d);
      for (const [key, g] of Object.entries(gradientsOf(net, e))) (samples[key] ??= []).push(g);
      e.dispose();
    }
    const mean: Params = {},
      se: Params = {};
    for (const [key, rows] of Object.entries(samples)) {
      mean[key] = rows[0]!.map((_, i) => rows.reduce((s, r) => s + r[i]!, 0) / draws);
      se[key] = rows[0]!.map((_, i) => Math.sqrt(rows.reduce((s, r) => s + (r[i]! - mean[key]![i]!) ** 2, 0) / (draws - 1) / draws));
    }
    expect(Object.keys(mean).sort()).toEqual(Object.keys(exact).sort());
    // the heads are trained by their exact gradient in both
    for (const key of HEAD_KEYS) exact[key]!.forEach((g, i) => expect(mean[key]![i]!, `${key}[${i}]`).toBeCloseTo(g, 5));
    const estimated = (p: Params) => Object.fromEntries([...H1_KEYS, ...LAST_KEYS, ...READOUT_KEYS].map((k) => [k, p[k]!]));
    expect(expectUnbiased(estimated(mean), estimated(se), estimated(exact), expect)).toBeLessThan(3);
    // positive control: without heads (the same weights), BPTT's first-layer gradient is the network loss's, far from the estimate
    const plain = new Network({
      input: [3],
      layers: [dense({ name: 'h1', units: 2, neuron: H1 }), dense({ name: 'h2', units: 2, neuron: H2 }), readout({ name: 'o', units: 2, beta: READOUT_BETA })],
      seed: 1,
    });
    for (const [key, v] of Object.entries(VALUES))
      if (!HEAD_KEYS.includes(key)) plain.setParameter(key.split('.')[0]!, key.split('.')[1]!, v, { layout: 'spikelr' });
    const globalE = bptt().estimate(plain, batch, loss);
    const global = gradientsOf(plain, globalE);
    const distance = H1_KEYS.flatMap((k) => global[k]!.map((g, i) => ((mean[k]![i]! - g) / se[k]![i]!) ** 2)).reduce((a, b) => a + b, 0);
    expect(distance).toBeGreaterThan(100);
    globalE.dispose();
    tf.dispose([input, labels]);
    net.dispose();
    plain.dispose();
  });
});
