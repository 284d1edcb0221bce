// Interactive learning curves for reverie's reports, with no network and no library: each <div class="chart">
// holds its curve as JSON (data-curve: title, xlabel, ylabel, x, series {label: {mean, low, high[, x]}}, logx,
// logy). The chart draws means as lines and 95% intervals as bands; hovering shows the values at the nearest x;
// clicking a legend entry hides or shows that series.
"use strict";
(function () {
  const NS = "http://www.w3.org/2000/svg";
  const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf"];
  const W = 640, H = 360, L = 70, R = 16, T = 28, B = 46;

  function el(name, attrs, parent) {
    const node = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (parent) parent.appendChild(node);
    return node;
  }
  function finite(v) { return v !== null && v !== undefined && Number.isFinite(v); }
  function fmt(v) { return finite(v) ? Number(v.toPrecision(4)).toString() : "-"; }

  function draw(div) {
    const curve = JSON.parse(div.dataset.curve);
    const fx = curve.logx ? Math.log10 : (v) => v, fy = curve.logy ? Math.log10 : (v) => v;
    const series = Object.entries(curve.series).map(([label, band], i) => ({
      label, band, color: COLORS[i % COLORS.length], xs: band.x || curve.x, shown: true }));
    const points = [];
    for (const s of series) s.xs.forEach((x, i) => {
      for (const key of ["mean", "low", "high"]) {
        const y = s.band[key][i];
        if (finite(x) && finite(y) && (!curve.logx || x > 0) && (!curve.logy || y > 0)) points.push([fx(x), fy(y)]);
      }
    });
    if (!points.length) return;
    let [x0, x1] = [Math.min(...points.map((p) => p[0])), Math.max(...points.map((p) => p[0]))];
    let [y0, y1] = [Math.min(...points.map((p) => p[1])), Math.max(...points.map((p) => p[1]))];
    if (curve.ylim) [y0, y1] = curve.ylim.map(fy);
    if (x1 === x0) x1 = x0 + 1;
    if (y1 === y0) y1 = y0 + 1;
    const sx = (x) => L + ((fx(x) - x0) / (x1 - x0)) * (W - L - R);
    const sy = (y) => T + (1 - (fy(y) - y0) / (y1 - y0)) * (H - T - B);
    const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img" }, div);
    el("text", { x: W / 2, y: 16, "text-anchor": "middle", "font-size": 13 }, svg).textContent = curve.title;
    el("text", { x: W / 2, y: H - 6, "text-anchor": "middle", "font-size": 12 }, svg).textContent = curve.xlabel;
    el("text", { x: 14, y: H / 2, "text-anchor": "middle", "font-size": 12, transform: `rotate(-90 14 ${H / 2})` },
      svg).textContent = curve.ylabel;
    el("rect", { x: L, y: T, width: W - L - R, height: H - T - B, fill: "none", stroke: "#999" }, svg);
    for (let k = 0; k <= 4; k++) {
      const vx = x0 + (k / 4) * (x1 - x0), vy = y0 + (k / 4) * (y1 - y0);
      const tx = curve.logx ? 10 ** vx : vx, ty = curve.logy ? 10 ** vy : vy;
      el("text", { x: sx(tx), y: H - B + 16, "text-anchor": "middle", "font-size": 11 }, svg).textContent = fmt(tx);
      el("text", { x: L - 6, y: sy(ty) + 4, "text-anchor": "end", "font-size": 11 }, svg).textContent = fmt(ty);
    }
    for (const s of series) {
      s.group = el("g", { class: "series", "data-label": s.label }, svg);
      const ok = s.xs.map((x, i) => finite(x) && finite(s.band.mean[i]));
      const line = s.xs.map((x, i) => (ok[i] ? `${sx(x)},${sy(s.band.mean[i])}` : null)).filter(Boolean);
      const low = s.xs.map((x, i) => (ok[i] && finite(s.band.low[i]) ? `${sx(x)},${sy(s.band.low[i])}` : null));
      const high = s.xs.map((x, i) => (ok[i] && finite(s.band.high[i]) ? `${sx(x)},${sy(s.band.high[i])}` : null));
      const band = high.filter(Boolean).concat(low.filter(Boolean).reverse());
      if (band.length > 2) el("polygon", { points: band.join(" "), fill: s.color, opacity: 0.18 }, s.group);
      el("polyline", { points: line.join(" "), fill: "none", stroke: s.color, "stroke-width": 1.8 }, s.group);
    }
    const legend = document.createElement("div");
    legend.className = "legend";
    for (const s of series) {
      const item = document.createElement("span");
      item.className = "legend-item";
      item.style.color = s.color;
      item.textContent = `\u25A0 ${s.label}`;
      item.title = "click to hide or show";
      item.addEventListener("click", () => {
        s.shown = !s.shown;
        s.group.style.display = s.shown ? "" : "none";
        item.style.opacity = s.shown ? 1 : 0.35;
      });
      legend.appendChild(item);
    }
    div.appendChild(legend);
    const readout = document.createElement("div");
    readout.className = "readout";
    readout.textContent = "hover over the plot for values";
    div.appendChild(readout);
    const cursor = el("line", { y1: T, y2: H - B, stroke: "#444", "stroke-dasharray": "3 3", visibility: "hidden" }, svg);
    svg.addEventListener("mousemove", (event) => {
      const box = svg.getBoundingClientRect();
      const px = ((event.clientX - box.left) / box.width) * W;
      const parts = [];
      let cx = null;
      for (const s of series.filter((t) => t.shown)) {
        let best = -1;
        s.xs.forEach((x, i) => {
          if (finite(x) && (best < 0 || Math.abs(sx(x) - px) < Math.abs(sx(s.xs[best]) - px))) best = i;
        });
        if (best < 0) continue;
        cx = sx(s.xs[best]);
        const b = s.band;
        parts.push(`${s.label}: ${fmt(b.mean[best])} [${fmt(b.low[best])}, ${fmt(b.high[best])}] at ${fmt(s.xs[best])}`);
      }
      if (cx !== null) {
        cursor.setAttribute("x1", cx);
        cursor.setAttribute("x2", cx);
        cursor.setAttribute("visibility", "visible");
      }
      readout.textContent = parts.join("  |  ");
    });
  }

  window.addEventListener("DOMContentLoaded", () => document.querySelectorAll("div.chart").forEach(draw));
})();
