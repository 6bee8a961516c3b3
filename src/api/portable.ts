/**
 * The part of spikelr's public API that runs in any host: Node and web pages alike (the web
 * build's entry, src/api/web.ts, re-exports it). What needs Node — the backend probe, the trainer's
 * run directories, worker threads, dataset files, NIR files — is added by src/index.ts.
 */
export { SpikelrError } from '../core/errors.js';
export {
  lif,
  ifNeuron,
  synaptic,
  alif,
  readoutNeuron,
  analog,
  equationNeuron,
  neuronFromRecord,
  isSpiking,
  isUnit,
  modelOf,
  RESET_MODES,
  NEURON_KINDS,
  NEURON_MODELS,
  NEURON_PRESETS,
  ACTIVATIONS,
} from '../neurons/params.js';
export type {
  LIFParams,
  SynapticParams,
  ALIFParams,
  ReadoutParams,
  AnalogParams,
  GRUParams,
  EquationParams,
  EquationOptions,
  SpikingParams,
  UnitParams,
  NeuronParams,
  NeuronKind,
  ResetMode,
  LIFOptions,
  Activation,
} from '../neurons/params.js';
export type { NeuronModel, Role, AdjointInput, AdjointStep, AdjointTrace, TangentInput, Coefficients } from '../neurons/model.js';
export {
  initialState,
  neuronStep,
  fireFor,
  lifStep,
  synapticStep,
  alifStep,
  readoutStep,
  gruStep,
  equationStep,
  alifThreshold,
  stateTensors,
} from '../neurons/dynamics.js';
export type { NeuronState } from '../neurons/dynamics.js';
export { heaviside, escapeFire, stepNoise, activate } from '../neurons/firing.js';
export type { Fire, Coef } from '../neurons/firing.js';
export {
  escapeNoise,
  parseNoise,
  noiseFromRecord,
  firingProbability,
  noiseDensity,
  noiseScore,
  spikeScore,
  sampleNoise,
  noiseQuantile,
  normalQuantile,
  NOISE_KINDS,
} from '../neurons/noise.js';
export type { EscapeNoise, NoiseKind } from '../neurons/noise.js';
export {
  dense,
  recurrent,
  conv2d,
  graphConv,
  gru,
  normalizedAdjacency,
  readout,
  maxPool2d,
  sumPool2d,
  avgPool2d,
  flatten,
  layerFromRecord,
  buildLayer,
  layerName,
  withLocalHead,
  LAYER_KINDS,
  LEARNABLE,
} from '../sim/layer.js';
export type { LocalHeadSpec } from '../sim/layer.js';
export type { Learnable } from '../sim/layer.js';
export type { Layer, LayerSpec, LayerKind, Padding } from '../sim/layer.js';
export { Network, Simulation, network } from '../sim/network.js';
export type { NetworkSpec, RunOptions, RunResult, Recording, Field } from '../sim/network.js';
export { runSequence } from '../sim/loop.js';
export type { SequenceOptions, SequenceResult } from '../sim/loop.js';
export { rateEncode, latencyEncode, deltaEncode, LATENCY_MODES } from '../sim/encoders.js';
export type { LatencyMode } from '../sim/encoders.js';
export { saveNetwork, loadNetwork, serializeNetwork, deserializeNetwork, MODEL_FORMAT, MODEL_VERSION } from '../io/network-file.js';
export { streamKey, uniform, fillUniform, word } from '../core/random.js';
export {
  deployment,
  parseDeployment,
  deploySpecs,
  deploysNeurons,
  quantizeChannels,
  quantizedWeights,
  withQuantizedWeights,
  MIN_WEIGHT_BITS,
  MAX_WEIGHT_BITS,
} from '../sim/deploy.js';
export type { Deployment, DeploymentOptions } from '../sim/deploy.js';
export { deployedNeuron, isDeployed, quantizeState, mismatchPattern, ROUNDINGS } from '../neurons/deployed.js';
export type { DeployedParams, DeployedOptions, FixedPoint, Mismatch, Rounding } from '../neurons/deployed.js';
export { likelihoodRatio, lrMethod, lrConfigOf, BASELINES, LOCAL_CREDITS } from '../learning/estimators/lr.js';
export type { LocalCredit } from '../learning/estimators/lr.js';
export { ESTIMATORS, METHODS, methodOf } from '../learning/estimators/registry.js';
export type { MethodName } from '../learning/estimators/registry.js';
export type { Method } from '../learning/estimators/types.js';
export type { LRConfig, Estimator, EstimateOptions, GradientEstimate, Batch, Baseline } from '../learning/estimators/lr.js';
export { copyPlan, SAMPLINGS } from '../learning/sampling.js';
export type { CopyPlan, Sampling } from '../learning/sampling.js';
export { sobolPoints, sobolColumn } from '../learning/sobol.js';
export {
  membraneCrossEntropy,
  membraneSquaredError,
  countCrossEntropy,
  countSquaredError,
  rateSquaredError,
  zeroOneLoss,
  maskedLoss,
  checkDifferentiable,
  predict,
  predictFirstSpike,
  MEMBRANE_REDUCTIONS,
  ACCURACY_KINDS,
} from '../learning/losses.js';
export type { MembraneReduction, AccuracyKind } from '../learning/losses.js';
export type { RowLoss } from '../learning/losses.js';
export { rateRegularizer, sparsityRegularizer, regularized, regularizersOf, ratePenalty, REGULARIZERS } from '../learning/regularizers.js';
export type { RateRegularizer, RegularizedLoss } from '../learning/regularizers.js';
export { fgsm, pgd, inputGradient, gaussianCorruption } from '../learning/robustness.js';
export type { AttackOptions } from '../learning/robustness.js';
export { optimizer, OPTIMIZERS } from '../learning/optim.js';
export type { Optimizer, OptimizerConfig, OptimizerKind } from '../learning/optim.js';
export { schedule, NAMED_SCHEDULES, SCHEDULE_VARIABLES } from '../learning/schedule.js';
export type { Schedule, ScheduleContext } from '../learning/schedule.js';
export { progressBar, formatDuration } from '../learning/progress.js';
export type { Progress, ProgressOptions } from '../learning/progress.js';
export { imageSequences, storedSequences, subset, ENCODINGS } from '../data/dataset.js';
export type { Dataset, Encoding } from '../data/dataset.js';
export { permutation } from '../core/random.js';
export { gradientDiagnostics } from '../learning/diagnostics.js';
export type { DiagnosticsOptions, DiagnosticsRow, LayerStats } from '../learning/diagnostics.js';
export { conv2dFilterGradient, conv2dOp } from '../sim/conv.js';
export { stochasticBlockModel } from '../data/graphs.js';
export type { Graph } from '../data/graphs.js';
export { randman, randmanTask, randmanCutoff } from '../data/randman.js';
export type { RandmanOptions, RandmanTask } from '../data/randman.js';
export { bptt, bpttMethod, differentiableRun } from '../learning/estimators/bptt.js';
export { forwardGradient, fgMethod, fgActivityMethod, PERTURBATIONS, TANGENTS } from '../learning/estimators/fg.js';
export type { FGConfig } from '../learning/estimators/fg.js';
export { tangentRun, directionalDerivative } from '../learning/tangent.js';
export type { TangentOptions } from '../learning/tangent.js';
export type { BPTTConfig } from '../learning/estimators/bptt.js';
export {
  atan,
  fastSigmoid,
  sigmoid,
  triangular,
  straightThrough,
  customSurrogate,
  formulaSurrogate,
  surrogateSpike,
  surrogateByName,
  SURROGATE_NAMES,
} from '../neurons/surrogate.js';
export { compileFormula } from '../neurons/formula.js';
export type { Surrogate } from '../neurons/surrogate.js';
export { backendChecks, checkLif, checkLrUnbiased, checkLrConstantInput, checkBpttGradient } from '../learning/checks.js';
export type { CheckResult } from '../learning/checks.js';
export { defaultConfig, COMMON_DEFAULTS } from '../learning/defaults.js';
