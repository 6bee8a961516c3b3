// Every test file runs on the embedded default backend unless SPIKELR_BACKEND says otherwise.
import { beforeAll } from 'vitest';
import { initBackend } from '../src/kernels/backend.js';

beforeAll(async () => {
  await initBackend({ backend: process.env['SPIKELR_BACKEND'] ?? 'wasm', log: null });
});
