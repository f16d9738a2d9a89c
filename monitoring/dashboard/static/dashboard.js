// medval monitoring dashboard: plots from the embedded monitoring JSON, live refresh by polling
// data/manifest.json. Computes nothing: every number comes from the monitor's result.
"use strict";
const MedvalDashboard = (() => {
  const RED = "#b3261e", BLUE = "#2f5fb3", GREEN = "#1b7f3b", GREY = "#8a93a6", ORANGE = "#b86e00";
  const cfg = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["lasso2d", "select2d"] };
  const data = () => JSON.parse(document.getElementById("monitoring-data").textContent);
  const layout = (title, extra) => Object.assign({
    title: { text: title, font: { size: 13 } }, margin: { l: 48, r: 12, t: 34, b: 40 },
    height: 240, showlegend: false, xaxis: { type: "category" }, font: { size: 11 },
  }, extra || {});
  const hasPlotly = () => typeof Plotly !== "undefined";

  function poll() {
    const body = document.body, root = body.dataset.root || "", digest = body.dataset.digest;
    const every = 1000 * (parseFloat(body.dataset.poll) || 3), live = document.getElementById("live");
    if (location.protocol === "file:") { if (live) live.textContent = "static copy"; return; }
    const tick = () => fetch(root + "data/manifest.json", { cache: "no-store" })
      .then(r => r.ok ? r.json() : Promise.reject(r.status))
      .then(m => {
        if (live) { live.classList.remove("stale"); live.textContent = "● live · " + m.n_windows + " windows"; }
        if (m.monitoring_digest !== digest) location.reload();
      })
      .catch(() => { if (live) { live.classList.add("stale"); live.textContent = "○ offline"; } });
    setInterval(tick, every);
  }

  function tested(d) { return d.windows.filter(w => w.tested); }

  function features(d, el) {
    const ws = tested(d).filter(w => w.feature_drift);
    if (!ws.length) return;
    const names = ws[0].feature_drift.results.map(r => r.feature);
    names.forEach(name => {
      const div = document.createElement("div"); div.id = "feature-" + name; el.appendChild(div);
      const rs = ws.map(w => w.feature_drift.results.find(r => r.feature === name));
      const x = ws.map(w => w.id);
      Plotly.newPlot(div, [
        { x, y: rs.map(r => r.effect_size), mode: "lines+markers", line: { color: BLUE },
          marker: { size: 9, color: rs.map(r => r.drifted ? RED : BLUE) },
          text: rs.map(r => `p_adj ${r.p_adjusted === null ? "—" : Number(r.p_adjusted).toExponential(2)}`),
          hovertemplate: "%{x}: " + (rs[0].effect_size_name || "effect") + " %{y:.3f}<br>%{text}<extra></extra>" },
        { x, y: x.map(() => ws[0].feature_drift.min_effect), mode: "lines", line: { color: RED, dash: "dash" },
          hoverinfo: "skip" },
      ], layout(`${name} (${rs[0].method}, ${rs[0].effect_size_name})`, { yaxis: { rangemode: "tozero" } }), cfg);
    });
  }

  function model(d, el) {
    const ws = tested(d), x = ws.map(w => w.id);
    const emb = ws.filter(w => w.embedding_drift);
    if (emb.length) {
      const div = document.createElement("div"); div.id = "plot-embedding"; el.appendChild(div);
      Plotly.newPlot(div, [{ x: emb.map(w => w.id), y: emb.map(w => w.embedding_drift.effect_size), mode: "lines+markers",
        marker: { size: 9, color: emb.map(w => w.embedding_drift.drifted ? RED : BLUE) }, line: { color: BLUE },
        text: emb.map(w => "p " + w.embedding_drift.p_value), hovertemplate: "%{x}: MMD %{y:.4f}<br>%{text}<extra></extra>" }],
        layout("embedding (" + emb[0].embedding_drift.method + ")", { yaxis: { rangemode: "tozero" } }), cfg);
    }
    const div = document.createElement("div"); div.id = "plot-positive-rate"; el.appendChild(div);
    Plotly.newPlot(div, [
      { x, y: ws.map(w => w.stats.positive_rate), mode: "lines+markers", line: { color: BLUE }, name: "window" },
      { x, y: x.map(() => d.reference.positive_rate), mode: "lines", line: { color: GREY, dash: "dot" }, name: "reference" },
    ], layout("positive rate at the locked threshold", { yaxis: { rangemode: "tozero" } }), cfg);
  }

  function band(x, lo, hi, color) {
    return [
      { x, y: hi, mode: "lines", line: { width: 0 }, hoverinfo: "skip", showlegend: false },
      { x, y: lo, mode: "lines", line: { width: 0 }, fill: "tonexty", fillcolor: color, hoverinfo: "skip", showlegend: false },
    ];
  }

  function performance(d, el) {
    const ws = d.windows, x = ws.map(w => w.id), traces = [];
    [["sensitivity", BLUE, "rgba(47,95,179,0.18)"], ["specificity", GREEN, "rgba(27,127,59,0.18)"]].forEach(([m, c, fill]) => {
      const e = ws.map(w => (w.estimated_performance && w.estimated_performance.metrics[m]) || {});
      traces.push(...band(x, e.map(v => v.lower), e.map(v => v.upper), fill));
      traces.push({ x, y: e.map(v => v.estimate), mode: "lines+markers", line: { color: c }, name: "estimated " + m });
      const r = ws.map(w => (w.realised_performance && w.realised_performance.metrics[m]) || null);
      const xr = x.filter((_, i) => r[i]), rr = r.filter(v => v);
      if (rr.length) traces.push({ x: xr, y: rr.map(v => v.estimate), mode: "markers", marker: { symbol: "diamond", size: 10, color: c },
        error_y: { type: "data", symmetric: false, array: rr.map(v => v.upper - v.estimate), arrayminus: rr.map(v => v.estimate - v.lower) },
        name: "realised " + m });
      if (d.reference.limits[m] !== undefined)
        traces.push({ x, y: x.map(() => d.reference.limits[m]), mode: "lines", line: { color: c, dash: "dash" }, name: "validated lower bound (" + m + ")" });
    });
    Plotly.newPlot(el, traces, layout("", { height: 360, showlegend: true, legend: { orientation: "h" }, yaxis: { range: [0, 1.02] } }), cfg);
  }

  function charts(d, el) {
    (d.charts || []).forEach(ch => {
      const div = document.createElement("div"); div.id = "chart-" + ch.name; el.appendChild(div);
      const x = ch.windows, traces = [], alarm = new Set(ch.alarm_indices);
      Object.entries(ch.series || { z: ch.z }).forEach(([name, ys], k) => traces.push({ x, y: ys, mode: "lines+markers", name,
        line: { color: [BLUE, ORANGE, GREEN][k % 3] }, marker: { size: 8, color: ys.map((_, i) => alarm.has(i) ? RED : [BLUE, ORANGE, GREEN][k % 3]) } }));
      Object.entries(ch.limits || {}).forEach(([name, v]) => { if (v !== null) traces.push({ x, y: x.map(() => v), mode: "lines", name,
        line: { color: RED, dash: "dash" } }); });
      Plotly.newPlot(div, traces, layout(`${ch.kind.toUpperCase()} · ${ch.statistic} (ARL0 ${ch.spec.arl0})`), cfg);
    });
  }

  function index() {
    poll();
    if (!hasPlotly()) return;
    const d = data();
    performance(d, document.getElementById("plot-performance"));
    charts(d, document.getElementById("plot-charts"));
    model(d, document.getElementById("plot-model"));
    features(d, document.getElementById("plot-features"));
    document.body.dataset.rendered = "1";
  }

  function windowPage() { poll(); document.body.dataset.rendered = "1"; }
  return { index, window: windowPage };
})();
