/**
 * The browser side of the HTML report, inlined as text: draws each raster from its embedded JSON
 * with d3 — SVG marks for small rasters, one canvas for large ones (thousands of neurons stay
 * responsive) — with zoom and pan along time and a tooltip naming the layer, neuron and step.
 */
export const CANVAS_ABOVE = 20_000;

export const CLIENT_SCRIPT = String.raw`
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
    var m = { top: 22, right: 12, bottom: 34, left: 56 };
    data.layers.forEach(function (layer) {
      var height = Math.min(320, Math.max(80, layer.neurons * 2));
      var panel = root.append('div').attr('class', 'raster-panel').attr('data-layer', layer.name);
      panel.append('div').attr('class', 'raster-title').text(layer.name + ' — ' + layer.neurons + ' neurons, ' + layer.times.length + ' spikes');
      var x0 = d3.scaleLinear().domain([0, layer.steps]).range([m.left, width - m.right]);
      var y = d3.scaleLinear().domain([0, layer.neurons]).range([m.top, m.top + height]);
      var useCanvas = layer.times.length > CANVAS_ABOVE;
      var svg = panel.append('svg').attr('width', width).attr('height', height + m.top + m.bottom).attr('class', 'raster-svg');
      var xAxis = svg.append('g').attr('transform', 'translate(0,' + (m.top + height) + ')');
      svg.append('g').attr('transform', 'translate(' + m.left + ',0)').call(d3.axisLeft(y).ticks(4));
      svg.append('text').attr('x', (m.left + width) / 2).attr('y', m.top + height + 30).attr('text-anchor', 'middle').text('time step');
      svg.append('defs').append('clipPath').attr('id', 'clip-' + layer.name).append('rect').attr('x', m.left).attr('y', m.top).attr('width', width - m.left - m.right).attr('height', height);
      var marks = svg.append('g').attr('clip-path', 'url(#clip-' + layer.name + ')');
      var canvas, ctx;
      if (useCanvas) {
        canvas = panel.insert('canvas', 'svg').attr('width', width).attr('height', height + m.top + m.bottom).attr('class', 'raster-canvas').node();
        ctx = canvas.getContext('2d');
      }
      function render(x) {
        xAxis.call(d3.axisBottom(x).ticks(8));
        var w = Math.max(1, x(1) - x(0)), h = Math.max(1, y(1) - y(0));
        if (useCanvas) {
          ctx.clearRect(0, 0, canvas.width, canvas.height);
          ctx.fillStyle = '#1f2937';
          for (var i = 0; i < layer.times.length; i++) {
            var px = x(layer.times[i]);
            if (px + w < m.left || px > width - m.right) continue;
            ctx.fillRect(px, y(layer.units[i]), w, h);
          }
        } else {
          marks.selectAll('rect.spike').data(layer.times).join('rect').attr('class', 'spike')
            .attr('x', function (t) { return x(t); }).attr('y', function (t, i) { return y(layer.units[i]); })
            .attr('width', w).attr('height', h);
        }
      }
      render(x0);
      var zoom = d3.zoom().scaleExtent([1, 64]).translateExtent([[m.left, 0], [width - m.right, 0]]).extent([[m.left, 0], [width - m.right, 0]])
        .on('zoom', function (event) { current = event.transform.rescaleX(x0); render(current); });
      var current = x0;
      var overlay = svg.append('rect').attr('class', 'overlay').attr('x', m.left).attr('y', m.top).attr('width', width - m.left - m.right).attr('height', height)
        .style('fill', 'none').style('pointer-events', 'all');
      overlay.call(zoom).on('mousemove', function (event) {
        var p = d3.pointer(event);
        var t = Math.floor(current.invert(p[0])), n = Math.floor(y.invert(p[1]));
        var spiked = false;
        for (var i = 0; i < layer.times.length; i++) if (layer.times[i] === t && layer.units[i] === n) { spiked = true; break; }
        show(event, layer.name + ': neuron ' + n + ', step ' + t + (spiked ? ' — spike' : ''));
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
  document.body.setAttribute('data-rendered', 'true');
})();
`;
