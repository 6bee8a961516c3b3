// The spikelr playground: trains a spiking network on MNIST digits in the page with the library's
// web build (spikelr.js) on the backend the browser offers. Plain script (the page works from
// file://); everything it computes goes through spikelr's own API, as a user's script would.
'use strict';
(() => {
  const S = globalThis.spikelr;
  const tf = S.tf;
  const $ = (id) => document.getElementById(id);
  /** What tests and curious users can read: runs, the last raster's recording, the state. */
  const page = (globalThis.playground = { state: 'loading', runs: [], recording: null, backend: null });
  const EVAL_EVERY = 25;
  let data;
  let stopRequested = false;
  let lastNetwork = null;

  // ---------------------------------------------------------------- data
  async function unpack(split) {
    const packed = Uint8Array.from(atob(split.gzip), (c) => c.charCodeAt(0));
    const stream = new Blob([packed]).stream().pipeThrough(new DecompressionStream('gzip'));
    const bytes = new Uint8Array(await new Response(stream).arrayBuffer());
    const images = new Float32Array(split.count * 784);
    for (let i = 0; i < images.length; i++) images[i] = bytes[split.count + i] / 255;
    return { count: split.count, rows: 28, cols: 28, classes: 10, images, labels: Int32Array.from(bytes.subarray(0, split.count)) };
  }

  // ---------------------------------------------------------------- settings
  function settings() {
    const int = (id, min, max, what) => {
      const v = Number($(id).value);
      if (!Number.isInteger(v) || v < min || v > max) throw new Error(`${what} must be a whole number from ${min} to ${max}; got '${$(id).value}'`);
      return v;
    };
    const lr = Number($('lr').value);
    if (!(lr > 0 && lr < 1)) throw new Error(`the learning rate must be between 0 and 1; got '${$('lr').value}'`);
    return {
      hidden: int('hidden', 1, 4096, 'hidden units'),
      neuron: $('neuron').value,
      steps: int('steps', 1, 200, 'time steps'),
      method: $('method').value,
      copies: int('copies', 2, 4096, 'copies K'),
      learningRate: lr,
      batch: int('batch', 1, data.train.count, 'batch size'),
      trainSteps: int('trainSteps', 1, 100000, 'training steps'),
      seed: int('seed', 0, 2 ** 31, 'seed'),
    };
  }

  function network(s) {
    const neuron = S.NEURON_PRESETS[s.neuron]({ beta: 0.9, threshold: 1, reset: 'subtract' });
    return new S.Network({
      input: [784],
      layers: [S.dense({ name: 'hidden', units: s.hidden, neuron }), S.readout({ name: 'out', units: 10, beta: 0.9 })],
      seed: s.seed,
    });
  }

  function estimator(s, method) {
    // the method's own recipe keys, with the page's K (LR's copies, FG's directions)
    return S.methodOf(method).estimator({ ...S.defaultConfig(method), method, copies: s.copies, directions: s.copies });
  }

  // ---------------------------------------------------------------- drawing
  function drawCurves() {
    const series = [];
    for (const run of page.runs) {
      series.push({ name: `${run.name} loss`, points: run.losses.map((l, i) => [i + 1, l]) });
    }
    const acc = page.runs
      .filter((r) => r.evals.length)
      .map((run) => ({ name: `${run.name} test accuracy`, points: run.evals.map((e) => [e.step, e.accuracy]) }));
    $('curves').innerHTML =
      (series.length ? S.viz.lineChartSvg({ title: 'training loss', x: 'step', y: 'loss', series, width: 520, height: 220 }) : '') +
      (acc.length ? S.viz.lineChartSvg({ title: 'test accuracy (1000 digits)', x: 'step', y: 'accuracy', series: acc, width: 520, height: 200 }) : '');
    $('runs').replaceChildren(
      ...page.runs.map((run) => {
        const tr = document.createElement('tr');
        const last = run.evals.at(-1);
        for (const text of [
          run.name,
          String(run.step),
          run.losses.length ? run.losses.at(-1).toFixed(3) : '–',
          last ? `${(100 * last.accuracy).toFixed(1)}%` : '–',
          run.msPerStep ? run.msPerStep.toFixed(0) : '–',
        ]) {
          const td = document.createElement('td');
          td.textContent = text;
          tr.append(td);
        }
        return tr;
      }),
    );
  }

  /** The raster and membrane traces of test digit 0 through `net`. */
  function drawRaster(net, s, title) {
    const input = data.testSeq.batch(Int32Array.of(0), 0);
    const result = net.run(input, { record: { hidden: ['spikes', 'membrane'], out: ['membrane'] } });
    const raster = S.viz.rasterFromRecording(result, 0, { input, caption: `${title}: test digit 0 (a ${data.test.labels[0]})` });
    $('raster').innerHTML = S.viz.rasterSvg(raster, { width: 560 });
    const spikes = result.records.hidden.spikes.arraySync()[0];
    const membrane = result.records.hidden.membrane.arraySync()[0];
    page.recording = { spikes, steps: s.steps, units: s.hidden };
    // three hidden neurons that fired on about half the steps (the most telling traces), and the
    // readout's membranes of the true class and of the guess
    const counts = Array.from({ length: s.hidden }, (_, n) => spikes.reduce((a, row) => a + row[n], 0));
    const busiest = [...counts.keys()].sort((a, b) => Math.abs(counts[a] - s.steps / 2) - Math.abs(counts[b] - s.steps / 2) || a - b).slice(0, 3);
    const out = result.records.out.membrane.arraySync()[0];
    const traces = busiest.map((n) => ({ label: `hidden ${n}`, membrane: membrane.map((row) => row[n]), threshold: 1, spikes: spikes.map((row) => row[n]) }));
    const sums = Array.from({ length: 10 }, (_, k) => out.reduce((a, row) => a + row[k], 0));
    const predicted = sums.indexOf(Math.max(...sums));
    for (const k of new Set([data.test.labels[0], predicted]))
      traces.push({ label: `readout ${k}${k === predicted ? ' (guess)' : ''}`, membrane: out.map((row) => row[k]), threshold: null });
    $('membranes').innerHTML = S.viz.membraneSvg(traces, { width: 560, title: `${title}: membranes for test digit 0` });
    result.dispose();
    input.dispose();
  }

  // ---------------------------------------------------------------- training
  function status(text) {
    $('status').textContent = `${page.backend ? page.backend.notice : ''}\n${text}`;
  }

  function message(text) {
    $('message').textContent = text;
  }

  /** Test accuracy on the page's 1000 test digits, read as `spikelr eval` reads it (summed readout membrane). */
  function evaluate(net) {
    let correct = 0;
    for (let from = 0; from < data.test.count; from += 250) {
      const idx = Int32Array.from({ length: Math.min(250, data.test.count - from) }, (_, i) => from + i);
      const input = data.testSeq.batch(idx, 0);
      const out = net.run(input, { constantInput: true });
      const predicted = tf.tidy(() => S.predict(tf.transpose(out.output, [1, 0, 2])));
      const guesses = predicted.dataSync();
      predicted.dispose();
      guesses.forEach((g, i) => (correct += g === data.test.labels[idx[i]] ? 1 : 0));
      out.dispose();
      input.dispose();
    }
    return correct / data.test.count;
  }

  function makeRun(s, method) {
    const net = network(s);
    return {
      name: method,
      method,
      net,
      est: estimator(s, method),
      opt: S.optimizer({ kind: 'adam', learningRate: s.learningRate }),
      loss: S.membraneCrossEntropy('mean'),
      step: 0,
      losses: [],
      evals: [],
      msPerStep: 0,
      liveTensors: [],
    };
  }

  function oneStep(run, s) {
    const order = (run.order ??= Array.from({ length: data.train.count }, (_, i) => i));
    const start = (run.step * s.batch) % data.train.count;
    if (start < s.batch) shuffle(order, s.seed + run.step);
    const idx = Int32Array.from({ length: s.batch }, (_, i) => order[(start + i) % data.train.count]);
    const input = data.trainSeq.batch(idx, s.seed + run.step);
    const labels = tf.tensor1d(
      Int32Array.from(idx, (i) => data.train.labels[i]),
      'int32',
    );
    const t0 = performance.now();
    const e = run.est.estimate(run.net, { input, labels, constantInTime: true }, run.loss, S.streamKey(s.seed, run.step));
    run.opt.apply(e.gradients);
    const lossValue = e.loss;
    e.dispose();
    tf.dispose([input, labels]);
    if (!Number.isFinite(lossValue)) throw new Error(`${run.name}: the loss is not finite at step ${run.step + 1}; lower the learning rate`);
    run.losses.push(lossValue);
    run.step++;
    const ms = performance.now() - t0;
    run.msPerStep = run.msPerStep ? 0.9 * run.msPerStep + 0.1 * ms : ms;
  }

  function shuffle(a, seed) {
    let x = (seed * 2654435761 + 1) >>> 0;
    for (let i = a.length - 1; i > 0; i--) {
      x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
      const j = x % (i + 1);
      [a[i], a[j]] = [a[j], a[i]];
    }
  }

  function outOfMemory(err) {
    return /out of memory|Failed to allocate|OOM|allocation|exceeds|context lost/i.test(err.message ?? '');
  }

  /** Rough bytes one training step holds at once: the method's stored traces of every copy and step. */
  function stepBytes(s, method) {
    const copies = method === 'bptt' ? 1 : s.copies;
    return 4 * copies * s.batch * s.steps * (s.hidden * 6 + 10) + 4 * s.hidden * 784 * 4;
  }
  const MEMORY_BUDGET = 1.5 * 2 ** 30;

  async function train(methods) {
    message('');
    let s;
    try {
      s = settings();
      for (const m of methods) {
        const need = stepBytes(s, m);
        if (need > MEMORY_BUDGET)
          throw new Error(
            `${m} would hold about ${(need / 2 ** 30).toFixed(1)} GiB a step (K × batch × steps × hidden units), more than a page can count on (${MEMORY_BUDGET / 2 ** 30} GiB); lower K, the batch size, the time steps or the hidden units`,
          );
      }
    } catch (err) {
      message(err.message);
      return;
    }
    for (const run of page.runs) {
      run.net.dispose();
      run.opt.dispose();
    }
    page.runs = [];
    page.state = 'training';
    stopRequested = false;
    setBusy(true);
    try {
      if ($('backend').value !== page.backend?.requested) await chooseBackend();
      data.trainSeq = S.imageSequences(data.train, { steps: s.steps, encoding: 'direct' });
      data.testSeq = S.imageSequences(data.test, { steps: s.steps, encoding: 'direct' });
      page.runs = methods.map((m) => makeRun(s, m));
      for (let step = 0; step < s.trainSteps && !stopRequested; step++) {
        for (const run of page.runs) oneStep(run, s);
        if ((step + 1) % EVAL_EVERY === 0 || step + 1 === s.trainSteps) {
          for (const run of page.runs) run.evals.push({ step: run.step, accuracy: evaluate(run.net) });
          drawRaster(page.runs[0].net, s, page.runs[0].name);
        }
        if (step % 5 === 4 || step + 1 === s.trainSteps) drawCurves();
        page.runs[0].liveTensors.push(tf.memory().numTensors);
        status(`step ${step + 1} of ${s.trainSteps}; ${tf.memory().numTensors} tensors live`);
        await tf.nextFrame(); // the page stays responsive: draw, take clicks
      }
      drawCurves();
      lastNetwork = page.runs[0].net;
      page.state = 'done';
      status(
        `done: ${page.runs.map((r) => `${r.name} ${r.step} steps, ${r.evals.length ? `${(100 * r.evals.at(-1).accuracy).toFixed(1)}%` : ''}`).join('; ')}`,
      );
    } catch (err) {
      page.state = 'error';
      message(outOfMemory(err) ? `out of GPU memory (${err.message.slice(0, 80)}): lower the hidden units, K, the batch size or the time steps` : err.message);
    } finally {
      setBusy(false);
    }
  }

  function setBusy(busy) {
    for (const id of ['train', 'compare']) $(id).disabled = busy;
    $('stop').disabled = !busy;
    $('download').disabled = busy || page.runs.length === 0;
  }

  async function download() {
    const net = lastNetwork ?? page.runs[0]?.net;
    if (!net) return;
    const bytes = await S.serializeNetwork(net);
    const a = document.createElement('a');
    a.href = URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' }));
    a.download = `spikelr-${page.runs[0].name}-h${net.layers[0].outputShape[0]}.safetensors`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  }

  async function chooseBackend() {
    page.backend = await S.initWebBackend({ backend: $('backend').value });
    status('');
  }

  // ---------------------------------------------------------------- start
  async function start() {
    for (const n of Object.keys(S.NEURON_PRESETS)) $('neuron').append(new Option(n, n));
    for (const m of S.METHODS) $('method').append(new Option(`${m}: ${S.ESTIMATORS[m].description}`, m));
    const query = new URLSearchParams(location.search);
    for (const [key, value] of query) if ($(key)) $(key).value = value;
    // K means nothing to a method without random samples (BPTT)
    const samplesK = () => ($('copies').disabled = !S.ESTIMATORS[$('method').value].samples);
    $('method').addEventListener('change', samplesK);
    samplesK();
    $('train').addEventListener('click', () => train([$('method').value]));
    $('compare').addEventListener('click', () => train(['lr', 'bptt']));
    $('stop').addEventListener('click', () => (stopRequested = true));
    $('download').addEventListener('click', download);
    try {
      await chooseBackend();
      data = { train: await unpack(globalThis.spikelrMnist.train), test: await unpack(globalThis.spikelrMnist.test) };
      page.state = 'ready';
      status(`ready: ${data.train.count} training and ${data.test.count} test digits`);
    } catch (err) {
      page.state = 'error';
      message(err.message);
    }
  }
  page.train = train;
  page.ready = start();
})();
