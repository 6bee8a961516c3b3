/**
 * The two time loops of a recurrent LIF population (lif-recurrent-sequence.ts): the forward
 * recursion from rest and the backward recursion of its adjoint. Each comes twice: as two wasm
 * kernels — the forward loop whole in `assembly/lif.ts` (the recurrent input as the event-driven
 * product of the step before's spikes, listed as the loop goes), the backward loop one dense
 * product a_{t+1} Vᵀ (`assembly/dense.ts`, Vᵀ packed once for all T steps) and one fused
 * elementwise kernel a step, the surrogate's slope computed in it —
 * and as plain tensor code with no tape for the other backends. Rows of the batch never meet in
 * either loop, so a helper thread can run one half of the rows while the calling thread runs the
 * other (product-threads.ts), each row by the same arithmetic — the same bits — as a one-thread loop.
 */
import * as tf from '@tensorflow/tfjs';
import { FORMS, type SurrogateForm } from './lif-sequence.js';
import { fusedKernelsActive, RESET_CODES } from './noisy-lif-kernel.js';
import { packPanels, productBy, sparseChoice, transposeLast } from './spike-matmul.js';
import { heapOffset, kernelsFor, registerWasmKernel, type KernelArgs } from './wasm-module.js';

/** What a helper thread runs: half a product, or half the rows of one of these loops. */
export const TASKS = { product: 0, recurrentForward: 1, recurrentBackward: 2 } as const;

/**
 * Runs `task` on the bottom half of the rows (axis 1) of `rows` elsewhere while `local(h)` computes
 * the first h rows of the `outputs` here — whole-size tensors, the rest left for the helper's rows,
 * which are copied in; undefined where it stays on one thread (product-threads.ts).
 */
export type RowSplitter = (
  task: number,
  rows: readonly tf.Tensor[],
  v: tf.Tensor,
  outputs: number,
  params: { readonly ints: readonly number[]; readonly floats: readonly number[] },
  local: (rows: number) => tf.Tensor[],
  tfl: typeof tf,
) => tf.Tensor[] | undefined;

export interface LoopParams {
  readonly beta: number;
  readonly threshold: number;
  /** How a spike resets the membrane: subtract ϑ, to zero, or not at all (RESET_CODES, as the fused kernels take it). */
  readonly reset: keyof typeof RESET_CODES;
  /** The backward loop drops the reset's term (the neuron's own update takes s_{t−1} as a constant). */
  readonly detachReset?: boolean;
  /** The wasm kernels rather than tensor ops (decided on the calling thread, so a helper's half runs the same arithmetic). */
  readonly fused?: boolean;
  /** The surrogate's form the fused backward loop computes its slope from (kind a FORMS code; 0 or absent: a slope operand is given). */
  readonly slope?: { readonly kind: number; readonly c: number; readonly a: number };
}

/** The parameters as a helper thread's control words take them (integers, floats), and back. */
export function encodeParams(p: LoopParams): { ints: number[]; floats: number[] } {
  const s = p.slope ?? { kind: 0, c: 0, a: 0 };
  return { ints: [RESET_CODES[p.reset], p.detachReset ? 1 : 0, p.fused ? 1 : 0, s.kind], floats: [p.beta, p.threshold, s.c, s.a] };
}
const RESET_OF = Object.fromEntries(Object.entries(RESET_CODES).map(([mode, code]) => [code, mode])) as Record<number, LoopParams['reset']>;
export function decodeParams(ints: ArrayLike<number>, floats: ArrayLike<number>): LoopParams {
  return {
    beta: floats[0]!,
    threshold: floats[1]!,
    reset: RESET_OF[ints[0]!]!,
    detachReset: ints[1] === 1,
    fused: ints[2] === 1,
    slope: { kind: ints[3]!, c: floats[2]!, a: floats[3]! },
  };
}

/**
 * The backward loop's operands, all `[T, B, N]`: the slope σ'(u_t − ϑ) unless the fused loop
 * computes it, the spikes' upstream gradient, the membranes, and the spikes where the loop reads
 * them (a zero reset's ∂u_{t+1}/∂u_t = β (1 − s_t); a subtracted or no reset never does).
 */
export interface BackwardOperands {
  readonly slope?: tf.Tensor;
  readonly upstream: tf.Tensor;
  readonly membrane: tf.Tensor;
  readonly spikes?: tf.Tensor;
}
/** Which operands the backward loop reads under `p`. */
const needs = (p: LoopParams) => ({ slope: !(p.fused && (p.slope?.kind ?? 0) !== 0), spikes: p.reset === 'zero' });
/** The operands the backward loop reads under `p`, in the order the splitter passes them (slope, upstream, membrane, spikes), and back. */
export function backwardList(o: BackwardOperands, p: LoopParams): tf.Tensor[] {
  const n = needs(p);
  if ((n.slope && !o.slope) || (n.spikes && !o.spikes)) throw new Error('recurrent backward loop: a slope or spikes operand it reads is missing');
  return [...(n.slope ? [o.slope!] : []), o.upstream, o.membrane, ...(n.spikes ? [o.spikes!] : [])];
}
export function backwardOperands(x: readonly tf.Tensor[], p: LoopParams): BackwardOperands {
  const n = needs(p);
  const [upstream, membrane] = x.slice(n.slope ? 1 : 0) as [tf.Tensor, tf.Tensor];
  return { ...(n.slope ? { slope: x[0]! } : {}), upstream, membrane, ...(n.spikes ? { spikes: x[x.length - 1]! } : {}) };
}
/** How many `[T, B, N]` operands `task` reads under `p`. */
export const operandCount = (task: number, p: LoopParams): number => {
  if (task === TASKS.recurrentForward) return 1;
  const n = needs(p);
  return 2 + (n.slope ? 1 : 0) + (n.spikes ? 1 : 0);
};

/** The slope the fused backward loop computes itself for a surrogate of a known form (none: a slope operand is needed). */
export function slopeCode(form: SurrogateForm | undefined): LoopParams['slope'] {
  return form ? { kind: FORMS[form.kind], c: form.c, a: form.a } : undefined;
}

const FORWARD = 'SpikelrRecurrentLif',
  BACKWARD = 'SpikelrRecurrentLifGrad';
let installed = false;

/** Whether the fused loops run here (the wasm backend with spikelr's kernels, not turned off). */
export function recurrentKernelsActive(): boolean {
  return installed && fusedKernelsActive();
}

/** Registers the two loops' kernels for the wasm backend (idempotent). */
export function installRecurrentLoopKernels(): void {
  if (installed) return;
  installed = true;
  registerWasmKernel(FORWARD, ({ inputs, backend, attrs }: KernelArgs) => {
    const { drives, v } = inputs as Record<string, tf.TensorInfo>;
    const { beta, threshold, reset, rows } = attrs as { beta: number; threshold: number; reset: number; rows: number };
    const [T, B, N] = drives!.shape as [number, number, number];
    const [membrane, spikes] = [0, 1].map(() => backend.makeOutput(drives!.shape, 'float32')) as [tf.TensorInfo, tf.TensorInfo];
    const m = rows * N;
    // scratch: the lists' starts and indices, their values (all 1), the recurrent input of a step, V's stripes of 16 columns
    const scratch = [rows + 1, m, m, m, Math.floor(N / 16) * 16 * N].map((count) => backend.wasm._malloc(4 * Math.max(count, 1)) >>> 0) as [
      number,
      number,
      number,
      number,
      number,
    ];
    try {
      const at = (t: tf.TensorInfo) => heapOffset(backend, t);
      kernelsFor(backend).recurrentLifSequence(at(drives!), T, rows, N, B * N, at(v!), beta, threshold, reset, at(membrane), at(spikes), ...scratch);
    } finally {
      for (const p of scratch) backend.wasm._free(p);
    }
    return [membrane, spikes];
  });
  registerWasmKernel(BACKWARD, ({ inputs, backend, attrs }: KernelArgs) => {
    const { slope, upstream, membrane, spikes, v } = inputs as Record<string, tf.TensorInfo | undefined>;
    const { beta, threshold, reset, detach, kind, c, a, rows } = attrs as Record<string, number>;
    const [T, B, N] = membrane!.shape as [number, number, number];
    const m = rows! * N;
    const out = backend.makeOutput(membrane!.shape, 'float32');
    // a_{t+1} of the rows computed here as its own [rows, N] tensor for the product with Vᵀ (the step kernel writes it there too)
    const next = backend.makeOutput([rows!, N], 'float32');
    const at = (t: tf.TensorInfo | undefined) => (t ? heapOffset(backend, t) : 0);
    const kernels = kernelsFor(backend);
    // Vᵀ packed once for the dense products (as a separate product packs it: the same bits), and a_{t+1} Vᵀ's floats
    const packed = packPanels(backend, v!, true);
    const product = backend.wasm._malloc(4 * m) >>> 0;
    // Vᵀ as a tensor only if some step's product is event-driven
    let transposed: tf.TensorInfo | undefined;
    try {
      for (let t = T - 1; t >= 0; t--) {
        // by the path a separate product would take (dense, unless the surrogate's slope is zero on most of the state)
        const choice = t < T - 1 ? sparseChoice(backend, next) : undefined;
        let sparse: tf.TensorInfo | undefined;
        if (choice?.sparse) sparse = productBy(backend, next, (transposed ??= transposeLast(backend, v!)), false, true, choice.nnz);
        else if (choice) kernels.panelProduct(at(next), N, rows!, N, packed, N, product, N);
        try {
          kernels.recurrentAdjointStep(
            t,
            at(slope),
            kind!,
            c!,
            a!,
            at(upstream),
            sparse ? at(sparse) : choice ? product : 0,
            at(spikes),
            at(membrane),
            T,
            m,
            B * N,
            beta!,
            threshold!,
            reset!,
            detach!,
            at(out),
            t > 0 ? at(next) : 0,
          );
        } finally {
          if (sparse) backend.disposeData(sparse.dataId);
        }
      }
    } finally {
      backend.disposeData(next.dataId);
      if (transposed) backend.disposeData(transposed.dataId);
      backend.wasm._free(packed);
      backend.wasm._free(product);
    }
    return out;
  });
}

/**
 * The first `rows` rows (all by default) of the membranes and spikes `[T, B, N]` from rest, driven
 * by `drives` `[T, B, N]` plus s_{t−1} V; the other rows' values are undefined.
 */
export function recurrentForward(drives: tf.Tensor, v: tf.Tensor, p: LoopParams, rows = drives.shape[1]!): { membrane: tf.Tensor; spikes: tf.Tensor } {
  const { beta, threshold, reset } = p;
  if (p.fused) {
    const [membrane, spikes] = tf.engine().runKernel(FORWARD, { drives, v }, { beta, threshold, reset: RESET_CODES[reset], rows }) as tf.Tensor[];
    return { membrane: membrane!, spikes: spikes! };
  }
  if (rows < drives.shape[1]!) {
    // the tensor ops on a block of rows, padded back to the whole batch
    return tf.tidy(() => {
      const block = recurrentForward(firstRows(drives, rows), v, p);
      return { membrane: padRows(block.membrane, drives.shape[1]!), spikes: padRows(block.spikes, drives.shape[1]!) };
    });
  }
  const steps = tf.unstack(drives);
  const membranes: tf.Tensor[] = [],
    spikes: tf.Tensor[] = [];
  for (const [t, drive] of steps.entries()) {
    const [u, s] = tf.tidy(() => {
      if (t === 0) {
        const u0 = tf.add(tf.mul(beta, tf.zerosLike(drive)), drive);
        return [u0, tf.step(tf.sub(u0, threshold))];
      }
      const uPrev = membranes[t - 1]!,
        sPrev = spikes[t - 1]!;
      const input = tf.add(drive, tf.matMul(sPrev, v));
      // integrateAndFire's arithmetic, op for op
      const u =
        reset === 'subtract'
          ? tf.sub(tf.add(tf.mul(beta, uPrev), input), tf.mul(threshold, sPrev))
          : reset === 'zero'
            ? tf.add(tf.mul(tf.mul(beta, tf.sub(1, sPrev)), uPrev), input)
            : tf.add(tf.mul(beta, uPrev), input);
      return [u, tf.step(tf.sub(u, threshold))];
    });
    membranes.push(u!);
    spikes.push(s!);
  }
  tf.dispose(steps);
  const out = { membrane: tf.stack(membranes), spikes: tf.stack(spikes) };
  tf.dispose([...membranes, ...spikes]);
  return out;
}

/**
 * The current's adjoint a `[T, B, N]` — its first `rows` rows (all by default), the others' values
 * undefined — from the operands (the slope σ'(u_t − ϑ), the upstream gradient g of the spikes, the
 * membranes u and spikes s) and V:
 * b_t = g_t + a_{t+1} Vᵀ − [reset] ∂u_{t+1}/∂s_t a_{t+1},  a_t = σ'_t b_t + ∂u_{t+1}/∂u_t a_{t+1}.
 */
export function recurrentBackward(o: BackwardOperands, v: tf.Tensor, p: LoopParams, rows = o.membrane.shape[1]!): tf.Tensor {
  const { beta, threshold, reset } = p;
  return tf.tidy(() => {
    if (p.fused) {
      const s = p.slope ?? { kind: 0, c: 0, a: 0 };
      if (s.kind === 0 && !o.slope) throw new Error('recurrentBackward: no slope operand, and no surrogate form to compute it from');
      if (reset === 'zero' && !o.spikes) throw new Error("recurrentBackward: a zero reset's loop reads the spikes, and none were given");
      const inputs = { upstream: o.upstream, membrane: o.membrane, v, ...(o.spikes ? { spikes: o.spikes } : {}), ...(s.kind === 0 ? { slope: o.slope! } : {}) };
      const attrs = { beta, threshold, reset: RESET_CODES[reset], detach: p.detachReset ? 1 : 0, kind: s.kind, c: s.c, a: s.a, rows };
      return tf.engine().runKernel(BACKWARD, inputs, attrs) as tf.Tensor;
    }
    const batch = o.membrane.shape[1]!;
    if (rows < batch) {
      const block = backwardOperands(
        backwardList(o, p).map((x) => firstRows(x, rows)),
        p,
      );
      return padRows(recurrentBackward(block, v, p), batch);
    }
    const vT = tf.transpose(v);
    const steps = o.membrane.shape[0]!;
    const slopes = tf.unstack(o.slope!),
      gs = tf.unstack(o.upstream),
      us = tf.unstack(o.membrane),
      ss = o.spikes ? tf.unstack(o.spikes) : [];
    const adjoint: tf.Tensor[] = new Array(steps);
    for (let t = steps - 1; t >= 0; t--) {
      const next = adjoint[t + 1];
      adjoint[t] = tf.tidy(() => {
        if (!next) return tf.mul(slopes[t]!, gs[t]!);
        let b = tf.add(gs[t]!, tf.matMul(next, vT));
        if (!p.detachReset && reset === 'subtract') b = tf.sub(b, tf.mul(threshold, next));
        if (!p.detachReset && reset === 'zero') b = tf.sub(b, tf.mul(tf.mul(beta, us[t]!), next));
        const carry = reset === 'zero' ? tf.mul(tf.mul(beta, tf.sub(1, ss[t]!)), next) : tf.mul(beta, next);
        return tf.add(tf.mul(slopes[t]!, b), carry);
      });
    }
    return tf.stack(adjoint);
  });
}

/** The first `rows` rows (axis 1) of a `[T, B, N]` tensor. */
const firstRows = (x: tf.Tensor, rows: number) => tf.slice(x, [0, 0, 0], [x.shape[0]!, rows, x.shape[2]!]);
/** A `[T, rows, N]` tensor padded with zero rows to `[T, batch, N]`. */
const padRows = (x: tf.Tensor, batch: number) =>
  tf.tidy(() =>
    tf.pad(x, [
      [0, 0],
      [0, batch - x.shape[1]!],
      [0, 0],
    ]),
  );
