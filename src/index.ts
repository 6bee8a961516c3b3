// spikelr public API: re-exports only. What runs in any host is in portable.ts; the rest needs Node.
export * from './api/portable.js';
export { initBackend, backendReport, packageVersions, BACKEND_CHOICES } from './kernels/backend.js';
export type { BackendChoice, BackendName, BackendReport, BackendOptions, BackendAttempt } from './kernels/backend.js';
export {
  exportNir,
  importNir,
  networkToNir,
  nirToNetwork,
  readNirFile,
  writeNirFile,
  NIR_VERSION,
  NIR_IMPORT_TYPES,
  DEFAULT_DT as NIR_DEFAULT_DT,
} from './io/nir/index.js';
export type { NirExportOptions, NirImportOptions, NirImport, NirNode } from './io/nir/index.js';
export { parseIdx, readIdx, encodeIdx } from './data/idx.js';
export type { IdxArray, IdxType, IdxData } from './data/idx.js';
export { loadMnist, loadIdxImages, mnistDataDir } from './data/mnist.js';
export type { ImageDataset, Split, IdxDatasetOptions } from './data/mnist.js';
export { shardedEstimator } from './learning/parallel.js';
export type { ShardedEstimator, ShardOptions, ShardParts, ShardRecipe } from './learning/parallel.js';
export { pipelinedLR, balancedSplit, layerWork } from './learning/pipeline.js';
export type { PipelinedEstimator, PipelineOptions, PipelineTiming } from './learning/pipeline.js';
export { loadShd, readShdFile, binEvents, SHD_CHANNELS, SHD_CLASSES } from './data/shd.js';
export type { SpikeEvents } from './data/shd.js';
export { train, evaluateDataset, testSeed, CHECKPOINT_FILE, MODEL_FILE, BEST_FILE, METRICS_LOG } from './learning/trainer.js';
export type { TrainOptions, TrainResult, EpochRecord, StepInfo, Evaluation } from './learning/trainer.js';
export { parseNmnistEvents, encodeNmnistEvents, eventsToFrames, loadNmnist, NMNIST_SIZE } from './data/nmnist.js';
export type { EventStream, EventDataset } from './data/nmnist.js';
