/**
 * Fault injection on `spikelr train`: runs killed with SIGKILL at random steps and inside checkpoint
 * writes, each file of a run directory corrupted in turn, and a full disk (writes to /dev/full).
 * After each: no completed checkpoint is lost, an error names the file, and `--resume` either ends
 * byte for byte where an uninterrupted run ends or refuses with a message. SPIKELR_SOAK=1 kills 5×
 * more runs.
 */
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deserializeModel } from '../src/io/network-file.js';
import { main, spikelr } from './cli-helpers.js';

const dir = mkdtempSync(path.join(tmpdir(), 'spikelr-faults-'));
const env = { ...process.env, SPIKELR_BACKEND: 'wasm' };
// 256 / 32 = 8 steps an epoch, 3 epochs, a checkpoint every 2 steps and a log line every step
const args = [
  'train',
  '--method',
  'bptt',
  '--train-limit',
  '256',
  '--test-limit',
  '50',
  '--hidden',
  '12',
  '--steps',
  '4',
  '--batch-size',
  '32',
  '--epochs',
  '3',
  '--checkpoint-every',
  '2',
  '--no-progress',
];
/** Runs killed per kind (at a step; inside a checkpoint write). */
const KILLS = process.env['SPIKELR_SOAK'] ? 10 : 1;

const read = (f: string) => {
  try {
    return readFileSync(f, 'utf8');
  } catch {
    return '';
  }
};
/** A log without its measurements: times, and the peak memory of the first step a process ran in each epoch. */
const untimed = (t: string) => t.replace(/"(seconds|trainSeconds|peakTensorBytes)":[0-9.e+-]+/g, '"$1":0');
const checkpointStep = (runDir: string) => {
  const bytes = readFileSync(path.join(runDir, 'checkpoint.safetensors'));
  const saved = deserializeModel(bytes, 'checkpoint'); // a checkpoint on disk is always whole: this throws on a partial one
  saved.net.dispose();
  return (JSON.parse(saved.metadata['trainer']!) as { step: number }).step;
};

/** Starts a run and SIGKILLs it once `when` holds (polled every 2 ms); resolves after it died. */
async function killWhen(out: string, when: () => boolean, extraEnv: Record<string, string> = {}, extraArgs: readonly string[] = []): Promise<void> {
  const child = spawn(process.execPath, [main, ...args, ...extraArgs, '--out', out], { env: { ...env, ...extraEnv }, stdio: 'ignore' });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  let done = false;
  void exited.then(() => (done = true));
  while (!done && !when()) await new Promise((r) => setTimeout(r, 2));
  child.kill('SIGKILL');
  await exited;
}

/** Resumes until the run finishes (a kill before the first checkpoint restarts it from its config). */
async function resumeToEnd(out: string): Promise<void> {
  const r = await spikelr('train', '--resume', out, '--no-progress');
  expect(r.code, r.stderr).toBe(0);
}

const reference = path.join(dir, 'reference');
let refModel: Buffer, refLog: string;

describe('fault injection: kill -9, corrupted files, a full disk', () => {
  beforeAll(async () => {
    const r = await spikelr(...args, '--out', reference);
    expect(r.code, r.stderr).toBe(0);
    refModel = readFileSync(path.join(reference, 'model.safetensors'));
    refLog = untimed(read(path.join(reference, 'metrics.jsonl')));
  }, 60_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it(`killed at random steps and inside checkpoint writes (${2 * KILLS} runs), every run resumes to the uninterrupted run's model and log`, async () => {
    let state = 12345;
    const random = () => (state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 2 * KILLS; i++) {
      const out = path.join(dir, `killed-${i}`);
      if (i % 2 === 0) {
        // at a random step: once the log has that many step lines
        const at = 1 + Math.floor(random() * 23);
        await killWhen(out, () => (read(path.join(out, 'metrics.jsonl')).match(/"type":"step"/g)?.length ?? 0) >= at);
      } else {
        // inside a checkpoint write: its temporary is written and flushed, the rename not yet done
        const nth = 1 + Math.floor(random() * 10);
        let seen = 0,
          last = '';
        await killWhen(
          out,
          () => {
            const tmp = existsSync(out) ? readdirSync(out).find((f) => f.startsWith('checkpoint.safetensors.tmp-')) : undefined;
            if (tmp && tmp + read(path.join(out, 'metrics.jsonl')).length !== last) {
              seen++;
              last = tmp + read(path.join(out, 'metrics.jsonl')).length;
            }
            return tmp !== undefined && seen >= nth;
          },
          { SPIKELR_FAULT_WRITE_DELAY_MS: '40' },
        );
        expect(
          readdirSync(out).some((f) => f.includes('.tmp-')),
          `run ${i} was killed inside a write`,
        ).toBe(true);
      }
      // whatever checkpoint survived is whole, and the resumed run ends where the uninterrupted one does
      if (existsSync(path.join(out, 'checkpoint.safetensors'))) expect(checkpointStep(out) % 2).toBe(0);
      await resumeToEnd(out);
      expect(readFileSync(path.join(out, 'model.safetensors')).equals(refModel), `run ${i}`).toBe(true);
      expect(untimed(read(path.join(out, 'metrics.jsonl'))), `run ${i}`).toBe(refLog);
      expect(readdirSync(out).filter((f) => f.includes('.tmp-'))).toEqual([]); // the dead write's temporary is cleared
    }
  }, 300_000);

  it("killed inside a snapshot write (--snapshots true), the resumed run keeps the uninterrupted run's snapshots, byte for byte", async () => {
    const withSnapshots = path.join(dir, 'snapshots-reference');
    const r = await spikelr(...args, '--snapshots', 'true', '--out', withSnapshots);
    expect(r.code, r.stderr).toBe(0);
    const shots = (run: string) => readdirSync(path.join(run, 'snapshots')).sort();
    const expected = shots(withSnapshots);
    expect(expected.length).toBeGreaterThan(3);
    const out = path.join(dir, 'killed-in-snapshot');
    const temporary = () => (existsSync(path.join(out, 'snapshots')) ? readdirSync(path.join(out, 'snapshots')).find((f) => f.includes('.tmp-')) : undefined);
    // the third snapshot's temporary is written and flushed, its rename not yet done
    await killWhen(out, () => temporary() !== undefined && readdirSync(path.join(out, 'snapshots')).length >= 3, { SPIKELR_FAULT_WRITE_DELAY_MS: '40' }, [
      '--snapshots',
      'true',
    ]);
    expect(temporary(), 'killed inside a snapshot write').toBeDefined();
    await resumeToEnd(out);
    expect(shots(out)).toEqual(expected); // the dead write's temporary is cleared
    for (const f of expected) expect(readFileSync(path.join(out, 'snapshots', f)).equals(readFileSync(path.join(withSnapshots, 'snapshots', f))), f).toBe(true);
  }, 120_000);

  describe('each file of a run directory corrupted in turn', () => {
    const partial = path.join(dir, 'partial');
    beforeAll(async () => {
      // a run killed after its checkpoint at step 6
      await killWhen(
        partial,
        () =>
          existsSync(path.join(partial, 'checkpoint.safetensors')) &&
          (() => {
            try {
              return checkpointStep(partial) >= 6;
            } catch {
              return false;
            }
          })(),
      );
    }, 60_000);
    const copy = (name: string, from = partial) => {
      const out = path.join(dir, `corrupt-${name}`);
      cpSync(from, out, { recursive: true });
      return out;
    };
    const flip = (file: string, at: number) => {
      const b = readFileSync(file);
      b[Math.floor(at * b.length)] = b[Math.floor(at * b.length)]! ^ 0x04;
      writeFileSync(file, b);
    };
    const cut = (file: string) => writeFileSync(file, readFileSync(file).subarray(0, Math.floor(readFileSync(file).length / 2)));

    it.each([
      ['config.json cut in half', (out: string) => cut(path.join(out, 'config.json')), /config\.json: not valid JSON/],
      [
        'checkpoint.safetensors with a flipped bit in its weights',
        (out: string) => flip(path.join(out, 'checkpoint.safetensors'), 0.9),
        /checkpoint\.safetensors: corrupt: the weights do not match the checksum/,
      ],
      [
        'checkpoint.safetensors with a flipped bit in its header',
        (out: string) => flip(path.join(out, 'checkpoint.safetensors'), 0.001),
        /checkpoint\.safetensors: corrupt/,
      ],
      ['checkpoint.safetensors cut in half', (out: string) => cut(path.join(out, 'checkpoint.safetensors')), /checkpoint\.safetensors: truncated/],
      [
        'metrics.jsonl cut in half',
        (out: string) => cut(path.join(out, 'metrics.jsonl')),
        /metrics\.jsonl has \d+ bytes, but held \d+ when .*checkpoint\.safetensors was written/,
      ],
      [
        'metrics.jsonl with a changed line',
        (out: string) => flip(path.join(out, 'metrics.jsonl'), 0.3),
        /metrics\.jsonl was changed since .*checkpoint\.safetensors was written/,
      ],
    ])(
      '%s: resume refuses, naming the file',
      async (name, corrupt, message) => {
        const out = copy(name.replace(/\W+/g, '-'));
        corrupt(out);
        const r = await spikelr('train', '--resume', out, '--no-progress');
        expect(r.code).toBe(1);
        expect(r.stderr).toMatch(message);
        expect(r.stderr.trim().split('\n').length).toBeLessThanOrEqual(2); // the backend line and the error
      },
      60_000,
    );

    it("a finished run's model.safetensors or metrics.json corrupted: resume rewrites both from the final checkpoint, byte for byte", async () => {
      for (const [file, at] of [
        ['model.safetensors', 0.5],
        ['metrics.json', 0.5],
      ] as const) {
        const out = copy(`finished-${file}`, reference);
        const before = readFileSync(path.join(out, 'metrics.json'));
        flip(path.join(out, file), at);
        await resumeToEnd(out);
        expect(readFileSync(path.join(out, 'model.safetensors')).equals(refModel), file).toBe(true);
        expect(readFileSync(path.join(out, 'metrics.json'), 'utf8'), file).toBe(before.toString('utf8').replace(reference, out));
      }
    }, 60_000);
  });

  it('a full disk: the write that fails is named with its cause, and the run resumes to the same model once there is room', async () => {
    const out = path.join(dir, 'full');
    mkdirSync(out);
    symlinkSync('/dev/full', path.join(out, 'metrics.jsonl')); // every write to it fails with ENOSPC
    const r = await spikelr(...args, '--out', out);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/spikelr: error: cannot (write|open) .*metrics\.jsonl: no space left on the device \(ENOSPC\)/);
    unlinkSync(path.join(out, 'metrics.jsonl'));
    await resumeToEnd(out);
    expect(readFileSync(path.join(out, 'model.safetensors')).equals(refModel)).toBe(true);
  }, 60_000);
});
