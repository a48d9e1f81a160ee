// The overview's live figures: poll figures.json every 2 s, update each number and its sparkline.
// Gauges are drawn as they are; counters (evicted, expired) as a rate per second between two polls.
(function () {
  const box = document.getElementById("figures");
  if (!box) return;
  const status = document.getElementById("live-status");
  const KEEP = 60;  // two minutes of points
  const history = {};
  let last = null;

  function format(el, value) {
    const kind = el.dataset.format;
    if (kind === "bytes") {
      const units = ["B", "KB", "MB", "GB", "TB"];
      let i = 0;
      while (value >= 1024 && i < units.length - 1) { value /= 1024; i++; }
      return value.toFixed(i ? 1 : 0) + " " + units[i];
    }
    if (kind === "pct") return (value * 100).toFixed(1) + " %";
    if (kind === "ratio") return value.toFixed(2);
    return Math.round(value).toLocaleString();
  }

  function draw(svg, points) {
    const w = svg.clientWidth || 160, h = 28;
    const lo = Math.min(...points), hi = Math.max(...points);
    const span = hi - lo || 1;
    const step = points.length > 1 ? w / (KEEP - 1) : 0;
    const xy = points.map((v, i) => `${(i * step).toFixed(1)},${(h - 2 - ((v - lo) / span) * (h - 4)).toFixed(1)}`);
    svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
    svg.innerHTML = `<polyline points="${xy.join(" ")}"><title>${lo} – ${hi}</title></polyline>`;
  }

  async function poll() {
    try {
      const res = await fetch(box.dataset.url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      const data = await res.json();
      if (!res.ok) throw new Error(data.detail || res.status);
      for (const el of box.querySelectorAll("[data-figure]")) {
        const name = el.dataset.figure;
        let value = data.figures[name];
        if (value === undefined) continue;
        el.textContent = format(el, value);
        if (el.dataset.counter) {
          if (!last) continue;
          value = (value - last.figures[name]) / Math.max(0.001, data.at - last.at);
        }
        const points = (history[name] = history[name] || []);
        points.push(value);
        if (points.length > KEEP) points.shift();
        draw(box.querySelector(`[data-spark="${name}"]`), points);
      }
      last = data;
      status.textContent = "live · " + new Date(data.at * 1000).toLocaleTimeString();
    } catch (err) {
      status.textContent = "not refreshing: " + err.message;
    }
  }
  poll();
  setInterval(poll, 2000);
})();
