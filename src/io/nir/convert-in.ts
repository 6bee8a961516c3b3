/**
 * A NIR graph as a spikelr network. Subgraphs are inlined; a weight node (Affine, Linear, Conv2d)
 * with the neuron node it feeds becomes one layer; a Linear or Affine node in a cycle with a neuron
 * node (neuron → weight → neuron, snnTorch's RSynaptic) is that layer's recurrent weight; Flatten,
 * SumPool2d and AvgPool2d become their layers; a weight node feeding the Output directly becomes a
 * readout with β = 0 (its output is its input current). The rest of the graph must be one path
 * from the Input to the Output: spikelr networks are layer sequences.
 *
 * Neurons are stepped by forward Euler with step dt (convert-out.ts has the equations): τ gives
 * β = 1 − dt/τ, R dt/τ (and w_in dt/τ_syn) scales the input (folded into the weights and bias of
 * the node that feeds the neuron; exactly 1 for files written by spikelr or snnTorch, and left
 * alone then), (dt/τ) v_leak enters as bias. Images are [C, H, W] in NIR and [H, W, C] here: the
 * kernels and the first weights after a Flatten are permuted to match.
 */
import { check } from '../../core/errors.js';
import type { lif } from '../../neurons/lif.js';
import { readoutNeuron } from '../../neurons/readout.js';
import { modelOf } from '../../neurons/registry.js';
import { conv2d, dense, flatten, readout, recurrent, type LayerSpec } from '../../sim/layer.js';
import { convOutput } from '../../sim/layers/conv2d.js';
import { avgPool2d, sumPool2d } from '../../sim/layers/pool.js';
import { Network } from '../../sim/network.js';
import { DEFAULT_DT } from './convert-out.js';
import { chwOrder } from '../../sim/layers/nir.js';
import { importNeuron } from './import-neuron.js';
import { array, fail, inline, intsOf, NEURONS, perNeuron, square } from './read-graph.js';

export { NIR_IMPORT_TYPES } from './read-graph.js';
import { isArray, type NirNode } from '../../neurons/nir.js';

export interface NirImportOptions {
  /** Seconds per step (default: the dt in the graph's metadata when spikelr wrote it, else 1e-4, snnTorch's). */
  readonly dt?: number;
  /** Seed of the network (it sets the noise streams of runs that give none). */
  readonly seed?: number;
}

export interface NirImport {
  readonly net: Network;
  readonly dt: number;
  /** Which NIR nodes each layer came from. */
  readonly layers: readonly { readonly layer: string; readonly kind: string; readonly nodes: readonly string[] }[];
  /** What the import assumed or changed, one line each. */
  readonly notes: readonly string[];
}

/**
 * A layer name from its nodes' names: `hidden` from `hidden.weight`, `hidden.neurons` (and
 * `hidden.recurrent`), as spikelr writes them; else `preferred` (the neuron node's) made an identifier.
 */
function layerNameOf(names: readonly string[], preferred: string, taken: Set<string>): string {
  const prefixes = new Set(names.map((n) => n.split('.')[0]!));
  let base = prefixes.size === 1 && names.length > 1 && names.every((n) => n.includes('.')) ? [...prefixes][0]! : preferred;
  base = base.replace(/[^\w-]/g, '_');
  if (!/^[A-Za-z_]/.test(base)) base = `layer${base}`;
  let name = base;
  for (let i = 2; taken.has(name); i++) name = `${base}_${i}`;
  taken.add(name);
  return name;
}

/** Parameter values to set once the network is built, in NIR's (PyTorch's) layout: weights [out, in], kernels [out, in, kh, kw]. */
type Values = Record<string, Float32Array>;

/** The network a NIR graph describes. */
export function nirToNetwork(graph: NirNode, o: NirImportOptions = {}): NirImport {
  const meta = graph.metadata['dt'];
  const metaDt = isArray(meta) && meta.data.length === 1 && meta.data[0]! > 0 ? meta.data[0]! : undefined;
  const dt = o.dt ?? metaDt ?? DEFAULT_DT;
  check(dt > 0 && Number.isFinite(dt), () => `NIR import: dt must be a positive number of seconds, got ${dt}`);
  const notes: string[] = [
    `dt = ${dt} s ${o.dt !== undefined ? '(given)' : metaDt !== undefined ? "(from the graph's metadata)" : "(snnTorch's; pass --dt if the file was written with another)"}`,
  ];
  const { nodes, edges } = inline(graph, '');
  const ofType = (types: string[]) => [...nodes].filter(([, n]) => types.includes(n.type)).map(([k]) => k);
  const inputs = ofType(['Input']),
    outputs = ofType(['Output']);
  if (inputs.length !== 1 || outputs.length !== 1)
    fail(`the graph has ${inputs.length} Input and ${outputs.length} Output nodes; spikelr imports graphs with one of each`);
  const succ = new Map<string, string[]>(),
    pred = new Map<string, string[]>();
  for (const k of nodes.keys()) {
    succ.set(k, []);
    pred.set(k, []);
  }
  for (const [a, b] of edges) {
    succ.get(a)!.push(b);
    pred.get(b)!.push(a);
  }
  // recurrent weights: neuron → weight → the same neuron, nothing else in or out of the weight
  const recurrentOf = new Map<string, string>();
  for (const [w, node] of nodes) {
    const [p] = pred.get(w)!,
      [s] = succ.get(w)!;
    if (
      (node.type === 'Affine' || node.type === 'Linear') &&
      pred.get(w)!.length === 1 &&
      succ.get(w)!.length === 1 &&
      p === s &&
      NEURONS.includes(nodes.get(p!)!.type)
    ) {
      if (recurrentOf.has(p!)) fail(`node '${p}' has two recurrent weights ('${recurrentOf.get(p!)}' and '${w}')`);
      recurrentOf.set(p!, w);
      succ.set(
        p!,
        succ.get(p!)!.filter((x) => x !== w),
      );
      pred.set(
        p!,
        pred.get(p!)!.filter((x) => x !== w),
      );
    }
  }
  // the path from the input to the output
  const path: string[] = [inputs[0]!];
  for (let at = inputs[0]!; at !== outputs[0]; ) {
    const next = succ.get(at)!;
    if (next.length !== 1)
      fail(
        next.length === 0
          ? `node '${at}' leads nowhere: no edge from it reaches the Output`
          : `node '${at}' feeds ${next.length} nodes (${next.join(', ')}); spikelr networks are layer sequences, without branches`,
      );
    at = next[0]!;
    if (pred.get(at)!.length !== 1)
      fail(
        `node '${at}' has ${pred.get(at)!.length} inputs (${pred.get(at)!.join(', ')}); spikelr networks are layer sequences, without merges${at === path[path.length - 1] ? '' : ' (or a cycle other than neuron → Linear/Affine → the same neuron)'}`,
      );
    if (path.includes(at))
      fail(`the path from the input returns to node '${at}': a cycle spikelr cannot unroll (recurrence is neuron → Linear/Affine → the same neuron)`);
    path.push(at);
  }
  const stray = [...nodes.keys()].filter((k) => !path.includes(k) && ![...recurrentOf.values()].includes(k));
  if (stray.length)
    fail(
      `node${stray.length > 1 ? 's' : ''} ${stray.map((s) => `'${s}'`).join(', ')} ${stray.length > 1 ? 'are' : 'is'} not on the path from the Input to the Output`,
    );

  // shapes: NIR's (channels first) and the flat order after a Flatten
  const inShape = intsOf(inputs[0]!, nodes.get(inputs[0]!)!, 'shape');
  if (inShape.length !== 1 && inShape.length !== 3) fail(`the Input has shape [${inShape.join(', ')}]; spikelr imports vectors [N] and images [C, H, W]`);
  let shape = inShape; // NIR's
  let order: Int32Array | undefined;
  const specs: LayerSpec[] = [];
  const values: Values[] = [];
  const layers: { layer: string; kind: string; nodes: string[] }[] = [];
  const taken = new Set<string>();
  const add = (spec: LayerSpec, v: Values, from: string[]) => {
    specs.push(spec);
    values.push(v);
    layers.push({ layer: (spec as { name?: string }).name!, kind: spec.kind, nodes: from });
  };
  const body = path.slice(1, -1);
  for (let i = 0; i < body.length; i++) {
    const name = body[i]!,
      node = nodes.get(name)!;
    const image = shape.length === 3;
    if (NEURONS.includes(node.type))
      fail(`node '${name}' (${node.type}) is not fed by a weight node (Affine, Linear or Conv2d); each spikelr layer pairs one weight node with its neurons`);
    if (node.type === 'Flatten') {
      const rank = shape.length;
      const norm = (d: number) => (d < 0 ? d + rank : d);
      const [start] = intsOf(name, node, 'start_dim'),
        [end] = intsOf(name, node, 'end_dim');
      if (norm(start!) !== 0 || norm(end!) !== rank - 1)
        fail(`node '${name}' (Flatten) flattens dims ${start}…${end} of [${shape.join(', ')}]; spikelr flattens all of them (start_dim 0, end_dim -1)`);
      const declared = node.fields['input_type'];
      if (isArray(declared) && [...declared.data].join() !== shape.join())
        fail(`node '${name}' (Flatten): input_type [${[...declared.data].join(', ')}], but the node before it gives [${shape.join(', ')}]`);
      if (image) order = chwOrder(shape[1]!, shape[2]!, shape[0]!);
      shape = [shape.reduce((a, b) => a * b, 1)];
      add(flatten({ name: layerNameOf([name], name, taken) }), {}, [name]);
      continue;
    }
    if (node.type === 'SumPool2d' || node.type === 'AvgPool2d') {
      if (!image) fail(`node '${name}' (${node.type}) needs an image [C, H, W] input, got [${shape.join(', ')}]`);
      const k = square(name, node, 'kernel_size', 'pool window'),
        s = square(name, node, 'stride', 'pool stride'),
        p = square(name, node, 'padding', 'pool padding');
      const spec = (node.type === 'SumPool2d' ? sumPool2d : avgPool2d)({ name: layerNameOf([name], name, taken), poolSize: k, stride: s, padding: p });
      shape = [shape[0]!, convOutput(shape[1]!, k, s, p), convOutput(shape[2]!, k, s, p)];
      if (shape[1]! <= 0 || shape[2]! <= 0) fail(`node '${name}' (${node.type}): a ${k}×${k} window does not fit its input`);
      add(spec, {}, [name]);
      continue;
    }
    // a weight node, and the neurons it feeds (or the output)
    const neuronName = body[i + 1];
    const neuronNode = neuronName !== undefined ? nodes.get(neuronName)! : undefined;
    const hasNeuron = neuronNode !== undefined && NEURONS.includes(neuronNode.type);
    if (!hasNeuron && neuronName !== undefined)
      fail(
        `node '${name}' (${node.type}) feeds '${neuronName}' (${neuronNode!.type}); spikelr layers pair a weight node with a neuron node (LIF, CubaLIF, IF, LI, I), or end the network with it`,
      );
    const from = hasNeuron ? [name, neuronName!] : [name];
    if (hasNeuron) i++;
    const weight = array(name, node, 'weight');
    let out: number[];
    let conv: { filters: number; kernelSize: number; stride: number; padding: 'same' | 'valid' | number } | undefined;
    let w: Float64Array, b: Float64Array | undefined;
    if (node.type === 'Conv2d') {
      if (!image) fail(`node '${name}' (Conv2d) needs an image [C, H, W] input, got [${shape.join(', ')}]`);
      if (weight.shape.length !== 4) fail(`node '${name}' (Conv2d): weight has shape [${weight.shape.join(', ')}]; a Conv2d weight is [C_out, C_in, kH, kW]`);
      const [f, c, k, kw] = weight.shape as [number, number, number, number];
      if (c !== shape[0]) fail(`node '${name}' (Conv2d): weight takes ${c} input channels, but the node before it gives [${shape.join(', ')}]`);
      if (k !== kw) fail(`node '${name}' (Conv2d): a ${k}×${kw} kernel; spikelr's kernels are square`);
      if ('groups' in node.fields && intsOf(name, node, 'groups')[0] !== 1)
        fail(`node '${name}' (Conv2d): groups = ${intsOf(name, node, 'groups')[0]}; spikelr's convolutions have groups = 1`);
      if ('dilation' in node.fields && intsOf(name, node, 'dilation').some((d) => d !== 1))
        fail(`node '${name}' (Conv2d): dilation [${intsOf(name, node, 'dilation').join(', ')}]; spikelr's convolutions are not dilated`);
      const declared = node.fields['input_shape'];
      if (isArray(declared) && [...declared.data].join() !== shape.slice(1).join())
        fail(`node '${name}' (Conv2d): input_shape [${[...declared.data].join(', ')}], but the node before it gives [${shape.slice(1).join(', ')}]`);
      const stride = square(name, node, 'stride', 'conv stride');
      const pad = node.fields['padding'];
      const padding =
        typeof pad === 'string'
          ? pad === 'same' || pad === 'valid'
            ? pad
            : fail(`node '${name}' (Conv2d): padding '${pad}'; NIR pads by a number, 'same' or 'valid'`)
          : square(name, node, 'padding', 'conv padding') || 'valid';
      conv = { filters: f, kernelSize: k, stride, padding };
      const size = (x: number) => convOutput(x, k, stride, padding);
      out = [f, size(shape[1]!), size(shape[2]!)];
      if (out[1]! <= 0 || out[2]! <= 0) fail(`node '${name}' (Conv2d): a ${k}×${k} kernel does not fit a ${shape[1]}×${shape[2]} input`);
      w = Float64Array.from(weight.data); // NIR's (PyTorch's) [out, in, kh, kw], as setParameter takes it
      b = 'bias' in node.fields ? perNeuron(name, node, 'bias', [f]) : undefined;
    } else {
      if (image)
        fail(
          `node '${name}' (${node.type}) takes a vector, but the node before it gives an image [${shape.join(', ')}]; a Flatten node must come between them`,
        );
      if (weight.shape.length !== 2) fail(`node '${name}' (${node.type}): weight has shape [${weight.shape.join(', ')}]; spikelr imports [out, in] matrices`);
      const [units, inputs] = weight.shape as [number, number];
      if (inputs !== shape[0])
        fail(`node '${name}' (${node.type}): weight is [${units}, ${inputs}] (out, in), but the node before it gives ${shape[0]} values`);
      out = [units];
      // NIR's [out, in] (PyTorch's layout), its columns from NIR's input order into spikelr's
      w = Float64Array.from(weight.data);
      if (order) for (let r = 0; r < units; r++) for (let j = 0; j < inputs; j++) w[r * inputs + order[j]!] = weight.data[r * inputs + j]!;
      b = node.type === 'Affine' ? perNeuron(name, node, 'bias', [units]) : undefined;
    }
    order = undefined;
    const perOut = out[0]!; // a conv's output channels, a dense layer's units: the weight's first axis (PyTorch's layout)
    if (!hasNeuron && conv) fail(`node '${name}' (Conv2d) feeds the Output directly; spikelr's conv layers have neurons (add an IF or LIF node)`);
    const neuron = hasNeuron ? importNeuron(neuronName!, neuronNode!, out, dt, conv ? perOut : 0, notes) : undefined;
    // fold the neurons' input scale into the weights (per output) and their constant current into the bias
    const scale = neuron?.scale,
      offset = neuron?.offset;
    if (scale) {
      const fanIn = w.length / perOut;
      for (let j = 0; j < w.length; j++) w[j]! *= scale[Math.floor(j / fanIn)]!;
      if (b) b = b.map((x, j) => x * scale[j]!);
      notes.push(
        `${from.join(' → ')}: the neurons' input scale (R dt/τ${neuronNode?.type === 'CubaLIF' ? ' · w_in dt/τ_syn' : ''}) is folded into the weights`,
      );
    }
    if (offset) b = (b ?? new Float64Array(perOut)).map((x, j) => x + offset[j]!);
    const v: Values = { weight: Float32Array.from(w) };
    if (b) v['bias'] = Float32Array.from(b);
    const recurrentName = hasNeuron ? recurrentOf.get(neuronName!) : undefined;
    const layerName = layerNameOf(recurrentName ? [...from, recurrentName] : from, from[from.length - 1]!, taken);
    if (recurrentName) {
      const rec = nodes.get(recurrentName)!;
      const rw = array(recurrentName, rec, 'weight');
      const n = perOut;
      if (conv || rw.shape.join() !== `${n},${n}`)
        fail(`node '${recurrentName}' (${rec.type}): recurrent weight has shape [${rw.shape.join(', ')}], the neurons it loops on are [${out.join(', ')}]`);
      v['recurrent'] = Float32Array.from(rw.data, (x, i) => x * (scale ? scale[Math.floor(i / n)]! : 1)); // [out, in], row r scaled
      if (rec.type === 'Affine') v['recurrentBias'] = Float32Array.from(perNeuron(recurrentName, rec, 'bias', [n]), (x, r) => x * (scale ? scale[r]! : 1));
      from.push(recurrentName);
    }
    const learned = neuron?.learned ?? {};
    for (const [k, x] of Object.entries(learned)) v[k] = Float32Array.from(x);
    const learn = Object.keys(learned);
    const bias = v['bias'] !== undefined;
    let spec: LayerSpec;
    if (conv) {
      spec = conv2d({ name: layerName, ...conv, neuron: neuron!.neuron as ReturnType<typeof lif>, bias, learn });
    } else if (!neuron || modelOf(neuron.neuron).role === 'readout') {
      spec = readout({
        name: layerName,
        units: perOut,
        neuron: (neuron?.neuron as ReturnType<typeof readoutNeuron> | undefined) ?? readoutNeuron({ beta: 0 }),
        bias,
      });
      if (!neuron) notes.push(`${name} → Output: a readout with β = 0 (its output is its input current)`);
    } else {
      const options = { name: layerName, units: perOut, neuron: neuron.neuron as ReturnType<typeof lif>, bias, learn };
      spec = recurrentName ? recurrent({ ...options, ...(v['recurrentBias'] ? { recurrentBias: true } : {}) }) : dense(options);
    }
    if (learn.length) notes.push(`${layerName}: per-neuron ${learn.join(' and ')} imported as learned coefficients`);
    add(spec, v, from);
    shape = out;
  }
  const outShape = intsOf(outputs[0]!, nodes.get(outputs[0]!)!, 'shape');
  if (outShape.join() !== shape.join()) fail(`the Output node has shape [${outShape.join(', ')}], but the node before it gives [${shape.join(', ')}]`);
  if (specs.length === 0) fail('the graph has no layers between its Input and Output');
  const input = inShape.length === 3 ? [inShape[1]!, inShape[2]!, inShape[0]!] : inShape;
  const net = new Network({ input, layers: specs, seed: o.seed ?? 0 });
  try {
    net.layers.forEach((layer, i) => {
      for (const [param, x] of Object.entries(values[i]!)) net.setParameter(layer.name, param, x, { layout: 'torch' });
    });
  } catch (err) {
    net.dispose();
    throw err;
  }
  return { net, dt, layers, notes };
}
