/**
 * The browser side of the HTML report, inlined as text: draws each raster from its embedded JSON
 * with d3 — SVG marks for small rasters, one canvas for large ones (thousands of neurons stay
 * responsive) — with zoom and pan along time and a tooltip naming the layer, neuron and step.
 */
export const CANVAS_ABOVE = 20_000;

export const CLIENT_SCRIPT = `
(function () {
  'use strict';
  var CANVAS_ABOVE = ${CANVAS_ABOVE};
  var tip = d3.select('body').append('div').attr('class', 'tooltip').style('opacity', 0);
  function show(event, text) {
    tip.text(text).style('opacity', 1).style('left', event.pageX + 12 + 'px').style('top', event.pageY + 12 + 'px');
  }
  function hide() { tip.style('opacity', 0); }

  function drawRaster(root, data) {
    var width = Math.max(480, root.node().clientWidth || 720);
    var RATE = 56, POP = 36;
    var m = { top: 22, right: 12 + RATE, bottom: 34 + POP + 24, left: 60 };
    data.layers.forEach(function (layer) {
      var height = Math.min(320, Math.max(80, layer.neurons * 2));
      var panel = root.append('div').attr('class', 'raster-panel').attr('data-layer', layer.name);
      panel.append('div').attr('class', 'raster-title').text(layer.title || (layer.name + ' — ' + layer.neurons + ' neurons, ' + layer.times.length + ' spikes'));
      var row = function (n) { return layer.rows ? layer.rows[n] : n; };
      var analog = !!layer.values;
      var peak = 1;
      if (analog) { peak = 0; layer.values.forEach(function (v) { peak = Math.max(peak, Math.abs(v)); }); peak = peak || 1; }
      var x0 = d3.scaleLinear().domain([0, layer.steps]).range([m.left, width - m.right]);
      var y = d3.scaleLinear().domain([0, layer.neurons]).range([m.top, m.top + height]);
      var useCanvas = layer.times.length > CANVAS_ABOVE;
      var svg = panel.append('svg').attr('width', width).attr('height', height + m.top + m.bottom).attr('class', 'raster-svg');
      var xAxis = svg.append('g').attr('class', 'axis x').attr('transform', 'translate(0,' + (m.top + height) + ')');
      svg.append('g').attr('class', 'axis y').attr('transform', 'translate(' + m.left + ',0)').call(d3.axisLeft(y).ticks(4));
      svg.append('text').attr('class', 'axis-label').attr('transform', 'translate(' + (m.left - 40) + ',' + (m.top + height / 2) + ') rotate(-90)').attr('text-anchor', 'middle').text(layer.rows ? 'neuron (ordered)' : 'neuron');
      // each neuron's rate at the right, the population rate under the raster
      var rates = layer.rates, pop = layer.population;
      var maxRate = d3.max(rates) || 1e-9, maxPop = d3.max(pop) || 1e-9;
      var right = width - m.right + 6, h0 = Math.max(1, y(1) - y(0));
      svg.append('g').attr('class', 'rates').selectAll('rect').data(rates.map(function (r, n) { return n; }).filter(function (n) { return rates[n] > 0; })).join('rect')
        .attr('class', 'rate').attr('x', right).attr('y', function (n) { return y(row(n)); }).attr('height', h0)
        .attr('width', function (n) { return (RATE - 14) * rates[n] / maxRate; });
      svg.append('text').attr('class', 'mark-label').attr('x', right).attr('y', m.top - 6).text('rate ≤ ' + (Math.round(maxRate * 100) / 100));
      var stripTop = m.top + height + 24;
      var strip = d3.scaleLinear().domain([0, maxPop]).range([stripTop + POP, stripTop]);
      var popPath = svg.append('path').attr('class', 'population-rate');
      svg.append('text').attr('class', 'mark-label').attr('x', m.left - 6).attr('y', stripTop + 8).attr('text-anchor', 'end').text(analog ? 'mean' : 'rate');
      svg.append('text').attr('class', 'axis-label').attr('x', (m.left + width - m.right) / 2).attr('y', stripTop + POP + 16).attr('text-anchor', 'middle').text('time step');
      svg.append('defs').append('clipPath').attr('id', 'clip-' + layer.name).append('rect').attr('x', m.left).attr('y', m.top).attr('width', width - m.left - m.right).attr('height', height);
      var marks = svg.append('g').attr('clip-path', 'url(#clip-' + layer.name + ')');
      var canvas, ctx;
      if (useCanvas) {
        canvas = panel.insert('canvas', 'svg').attr('width', width).attr('height', height + m.top + m.bottom).attr('class', 'raster-canvas').node();
        ctx = canvas.getContext('2d');
      }
      function render(x) {
        xAxis.call(d3.axisBottom(x).ticks(8));
        popPath.attr('d', d3.line().x(function (v, t) { return x(t + 0.5); }).y(function (v) { return strip(v); })(pop));
        var w = Math.max(1, x(1) - x(0)), h = Math.max(1, y(1) - y(0));
        if (useCanvas) {
          ctx.clearRect(0, 0, canvas.width, canvas.height);
          ctx.fillStyle = analog ? '#1d4ed8' : '#1f2937';
          for (var i = 0; i < layer.times.length; i++) {
            var px = x(layer.times[i]);
            if (px + w < m.left || px > width - m.right) continue;
            if (analog) ctx.globalAlpha = Math.abs(layer.values[i]) / peak;
            ctx.fillRect(px, y(row(layer.units[i])), w, h);
          }
          ctx.globalAlpha = 1;
        } else {
          marks.selectAll('rect.' + (analog ? 'cell' : 'spike')).data(layer.times).join('rect').attr('class', analog ? 'cell' : 'spike')
            .attr('x', function (t) { return x(t); }).attr('y', function (t, i) { return y(row(layer.units[i])); })
            .attr('width', w).attr('height', h)
            .attr('fill', analog ? '#1d4ed8' : null).attr('fill-opacity', function (t, i) { return analog ? Math.abs(layer.values[i]) / peak : null; });
        }
      }
      render(x0);
      var zoom = d3.zoom().scaleExtent([1, 64]).translateExtent([[m.left, 0], [width - m.right, 0]]).extent([[m.left, 0], [width - m.right, 0]])
        .on('zoom', function (event) { current = event.transform.rescaleX(x0); render(current); });
      var current = x0;
      var unitAt = new Int32Array(layer.neurons);
      for (var n = 0; n < layer.neurons; n++) unitAt[row(n)] = n;
      var overlay = svg.append('rect').attr('class', 'overlay').attr('x', m.left).attr('y', m.top).attr('width', width - m.left - m.right).attr('height', height)
        .style('fill', 'none').style('pointer-events', 'all');
      overlay.call(zoom).on('mousemove', function (event) {
        var p = d3.pointer(event);
        var t = Math.floor(current.invert(p[0])), n = unitAt[Math.max(0, Math.min(layer.neurons - 1, Math.floor(y.invert(p[1]))))];
        var value = null;
        for (var i = 0; i < layer.times.length; i++) if (layer.times[i] === t && layer.units[i] === n) { value = analog ? layer.values[i] : 1; break; }
        show(event, layer.name + ': neuron ' + n + ', step ' + t + (value === null ? '' : analog ? ' — value ' + value : ' — spike') + ' (rate ' + (Math.round(rates[n] * 100) / 100) + ')');
      }).on('mouseleave', hide);
    });
  }

  document.querySelectorAll('.raster[data-source]').forEach(function (node) {
    var data = JSON.parse(document.getElementById(node.getAttribute('data-source')).textContent);
    drawRaster(d3.select(node), data);
  });
  document.querySelectorAll('svg.chart circle, svg.chart rect.bar, svg.membrane circle').forEach(function (mark) {
    var title = mark.querySelector('title');
    if (!title) return;
    mark.addEventListener('mousemove', function (event) { show(event, title.textContent); });
    mark.addEventListener('mouseleave', hide);
  });
  // training as a film: one frame at a time, by the slider or played in order
  document.querySelectorAll('.film').forEach(function (film) {
    var frames = film.querySelectorAll('.film-frame'), slider = film.querySelector('.film-slider'), label = film.querySelector('.film-label'), play = film.querySelector('.film-play');
    var timer = null;
    function show(i) {
      frames.forEach(function (f, k) { f.hidden = k !== i; });
      slider.value = String(i);
      label.textContent = frames[i].getAttribute('data-label');
    }
    slider.addEventListener('input', function () { show(Number(slider.value)); });
    play.addEventListener('click', function () {
      if (timer) { clearInterval(timer); timer = null; play.textContent = 'play'; return; }
      var i = Number(slider.value) >= frames.length - 1 ? 0 : Number(slider.value);
      show(i);
      play.textContent = 'pause';
      timer = setInterval(function () {
        if (i >= frames.length - 1) { clearInterval(timer); timer = null; play.textContent = 'play'; return; }
        show(++i);
      }, 700);
    });
  });
  document.body.setAttribute('data-rendered', 'true');
})();
`;
