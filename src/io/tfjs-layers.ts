/**
 * Pre-trained conventional models into spikelr: a tfjs-layers model (`model.json` and its weight
 * files, what `model.save()` writes and what tensorflowjs_converter makes of a Keras model) of
 * dense, conv, max-pooling and flatten layers becomes a spikelr network of analog units — each
 * layer's map with its weights, φ as the unit's activation, the last layer a readout whose membrane
 * is the logits (β = 0: one step is the whole forward pass). LR can then fine-tune it through
 * forward passes alone (DESIGN.md; the ULR paper's fine-tuning experiment), with any deployment
 * transform (src/sim/deploy.ts).
 *
 * tfjs parses the file itself (`tf.loadLayersModel`); this file only maps its layers.
 */
import * as tf from '@tensorflow/tfjs';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { check, show, SpikelrError } from '../core/errors.js';
import { readFileNamed } from '../core/files.js';
import { analog, type Activation } from '../neurons/analog.js';
import { readoutNeuron } from '../neurons/readout.js';
import { conv2d, dense, flatten, maxPool2d, readout, type LayerSpec } from '../sim/layer.js';
import { Network } from '../sim/network.js';

/** Keras activations spikelr's analog units have (softmax only at the output: the loss applies it). */
const ACTIVATION: Readonly<Record<string, Activation>> = { relu: 'relu', tanh: 'tanh', sigmoid: 'sigmoid', linear: 'identity' };

/** Layer classes that do nothing at inference. */
const PASS_THROUGH = new Set(['InputLayer', 'Dropout', 'SpatialDropout1D', 'SpatialDropout2D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout']);

interface Config {
  readonly [key: string]: unknown;
}

/** Reads a tfjs-layers model.json and its weight files into a tfjs LayersModel. */
export async function loadLayersModelFile(file: string): Promise<tf.LayersModel> {
  const text = Buffer.from(await readFileNamed(file, 'tfjs-layers model.json')).toString('utf8');
  let json: { modelTopology?: unknown; weightsManifest?: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[]; format?: string };
  try {
    json = JSON.parse(text) as typeof json;
  } catch (err) {
    throw new SpikelrError(`${file}: not valid JSON (${(err as Error).message})`);
  }
  check(
    typeof json.modelTopology === 'object' && json.modelTopology !== null && Array.isArray(json.weightsManifest),
    () =>
      `${file}: not a tfjs-layers model (a model.json with modelTopology and weightsManifest, as model.save() or tensorflowjs_converter --output_format tfjs_layers_model write); a graph model cannot be mapped to layers`,
  );
  const weightSpecs: tf.io.WeightsManifestEntry[] = [];
  const buffers: Uint8Array[] = [];
  for (const group of json.weightsManifest!) {
    weightSpecs.push(...group.weights);
    for (const p of group.paths) buffers.push(new Uint8Array(await readFileNamed(path.join(path.dirname(file), p), `weight file of ${file}`)));
  }
  const weightData = new Uint8Array(buffers.reduce((n, b) => n + b.length, 0));
  let at = 0;
  for (const b of buffers) {
    weightData.set(b, at);
    at += b.length;
  }
  try {
    return await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology as object, weightSpecs, weightData: weightData.buffer }));
  } catch (err) {
    throw new SpikelrError(`${file}: tfjs could not load it as a layers model: ${(err as Error).message}`);
  }
}

/** A pair [n, n] (Keras writes kernel sizes, strides and pool sizes so), or n. */
function square(where: string, key: string, v: unknown): number {
  const pair = Array.isArray(v) ? v : [v, v];
  check(
    pair.length === 2 && pair[0] === pair[1] && Number.isInteger(pair[0]),
    () => `${where}: ${key} ${show(v)} is not square; spikelr's layers take square kernels, strides and pools`,
  );
  return pair[0] as number;
}

/**
 * The spikelr network of a tfjs LayersModel (a chain of layers): its weights copied, analog units
 * with the layers' activations, the last layer a readout (β = 0) whose membrane is the logits.
 * Run it for one step on direct input; softmax of its output is the model's prediction.
 */
export function layersModelToNetwork(model: tf.LayersModel, o: { readonly seed?: number } = {}): Network {
  const inputShape = model.inputs[0]!.shape.slice(1);
  check(
    model.inputs.length === 1 && model.outputs.length === 1 && inputShape.every((d) => typeof d === 'number'),
    () =>
      `tfjs model '${model.name}': spikelr imports models with one input of fixed shape and one output (got ${model.inputs.length} inputs, input shape ${show(model.inputs[0]!.shape)})`,
  );
  const layers = model.layers.filter((l) => !PASS_THROUGH.has(l.getClassName()));
  // which layers compute: the last one is the readout; an Activation layer folds into the one before
  const specs: LayerSpec[] = [];
  const weights: tf.Tensor[][] = []; // the model's own variables' values (the model owns them)
  const computing = layers.filter((l) => ['Dense', 'Conv2D'].includes(l.getClassName()));
  check(computing.length > 0, () => `tfjs model '${model.name}': no Dense or Conv2D layer to import`);
  const last = computing[computing.length - 1]!;
  for (let i = 0; i < layers.length; i++) {
    const layer = layers[i]!;
    const kind = layer.getClassName();
    const where = `tfjs model '${model.name}', layer '${layer.name}' (${kind})`;
    const c = layer.getConfig() as Config;
    let activation = (c['activation'] as string | undefined) ?? 'linear';
    const next = layers[i + 1];
    if (next?.getClassName() === 'Activation' && (kind === 'Dense' || kind === 'Conv2D')) {
      check(activation === 'linear', () => `${where}: an Activation layer after a layer with its own activation '${activation}'; spikelr's units have one`);
      activation = (next.getConfig() as Config)['activation'] as string;
      i++;
    }
    const unit = (isLast: boolean) => {
      if (isLast) {
        check(
          activation === 'linear' || activation === 'softmax',
          () =>
            `${where}: the output layer's activation is '${activation}'; spikelr reads the logits of a linear or softmax output (the loss applies the softmax)`,
        );
        return undefined;
      }
      const a = ACTIVATION[activation];
      if (!a)
        throw new SpikelrError(
          `${where}: activation '${activation}' has no analog unit in spikelr (${Object.keys(ACTIVATION).join(', ')}${activation === 'softmax' ? '; softmax only at the output' : ''})`,
        );
      return analog({ activation: a });
    };
    const bias = c['useBias'] !== false;
    switch (kind) {
      case 'Dense': {
        const units = c['units'] as number;
        const neuron = unit(layer === last);
        specs.push(neuron ? dense({ name: layer.name, units, neuron, bias }) : readout({ name: layer.name, units, neuron: readoutNeuron({ beta: 0 }), bias }));
        weights.push(layer.getWeights());
        break;
      }
      case 'Conv2D': {
        check(layer !== last, () => `${where}: the output layer is a convolution; end the model with Flatten and Dense`);
        check(
          (c['dataFormat'] ?? 'channelsLast') === 'channelsLast',
          () => `${where}: data format '${String(c['dataFormat'])}'; spikelr's images are channels_last`,
        );
        check(square(where, 'dilationRate', c['dilationRate'] ?? 1) === 1, () => `${where}: dilated convolutions are not supported`);
        const padding = c['padding'] as string;
        check(padding === 'valid' || padding === 'same', () => `${where}: padding '${padding}'; expected 'valid' or 'same'`);
        specs.push(
          conv2d({
            name: layer.name,
            filters: c['filters'] as number,
            kernelSize: square(where, 'kernelSize', c['kernelSize']),
            stride: square(where, 'strides', c['strides'] ?? 1),
            padding,
            neuron: unit(false)!,
            bias,
          }),
        );
        weights.push(layer.getWeights());
        break;
      }
      case 'MaxPooling2D': {
        const size = square(where, 'poolSize', c['poolSize']);
        check(c['padding'] === undefined || c['padding'] === 'valid', () => `${where}: padding '${String(c['padding'])}'; spikelr pools with 'valid'`);
        specs.push(maxPool2d({ name: layer.name, poolSize: size, stride: square(where, 'strides', c['strides'] ?? size) }));
        weights.push([]);
        break;
      }
      case 'Flatten':
        specs.push(flatten({ name: layer.name }));
        weights.push([]);
        break;
      case 'Activation':
        throw new SpikelrError(`${where}: an Activation layer must follow a Dense or Conv2D layer`);
      default:
        throw new SpikelrError(
          `${where}: spikelr imports Dense, Conv2D, MaxPooling2D, Flatten (and skips ${[...PASS_THROUGH].join(', ')}); '${kind}' has no spikelr layer`,
        );
    }
    if (layer === last) {
      check(i === layers.length - 1, () => `${where}: layers follow the last Dense layer; the output must be its logits`);
    }
  }
  const net = new Network({ input: inputShape as number[], layers: specs, ...(o.seed !== undefined ? { seed: o.seed } : { seed: 0 }) });
  try {
    net.layers.forEach((l, i) => {
      const w = weights[i]!;
      if (w.length === 0) return;
      l.params['weight']!.assign(w[0]!);
      if (w[1]) l.params['bias']!.assign(w[1]);
    });
  } catch (err) {
    net.dispose();
    throw err;
  }
  return net;
}

/** Reads a tfjs-layers model.json (and its weight files) as a spikelr network of analog units. */
export async function importLayersModel(file: string, o: { readonly seed?: number } = {}): Promise<Network> {
  const model = await loadLayersModelFile(file);
  try {
    return layersModelToNetwork(model, o);
  } finally {
    model.dispose();
  }
}

/** Whether a file looks like a tfjs-layers model.json (by its name and first bytes). */
export async function isLayersModelFile(file: string): Promise<boolean> {
  if (!file.endsWith('.json')) return false;
  const head = (await fs.readFile(file, 'utf8').catch(() => '')).slice(0, 4096);
  return head.includes('"modelTopology"');
}
