// Analytics charts: each .chart element is drawn with uPlot from the table it names
// (data-table), reading the raw figures from the cells' data-value attributes. The table stays
// the text alternative; the chart is hidden from assistive technology.
"use strict";

(function () {
  const PALETTE = ["#1d5fa8", "#c2410c", "#15803d", "#7e22ce", "#a16207", "#0e7490", "#be123c"];

  function read(table, wanted) {
    const heads = Array.from(table.tHead.rows[0].cells);
    const rows = Array.from(table.tBodies[0].rows);
    const labels = rows.map((row) => row.cells[0].textContent.trim());
    const xs = rows.map((row) => row.cells[0].dataset.value);
    const series = [];
    heads.forEach((head, index) => {
      if (index === 0) return;
      const kind = head.dataset.kind;
      if (kind === "text" || kind === "date") return;
      if (wanted.length && !wanted.includes(head.dataset.key)) return;
      series.push({
        label: head.textContent.trim(),
        kind: kind,
        values: rows.map((row) => {
          const raw = row.cells[index].dataset.value;
          if (raw === "" || raw === undefined) return null;
          const value = Number(raw);
          return kind === "percent" ? value * 100 : kind === "seconds" ? value / 60 : value;
        }),
      });
    });
    return { labels, xs, series, dates: heads[0].dataset.kind === "date" };
  }

  function draw(element) {
    const table = document.getElementById(element.dataset.table);
    if (!table || !window.uPlot) return;
    const wanted = (element.dataset.series || "").split(",").filter(Boolean);
    const data = read(table, wanted);
    if (!data.series.length || !data.labels.length) return;
    const bars = element.dataset.chart === "bar";
    const marks = (element.dataset.marks || "").split(",").filter(Boolean);
    const x = data.dates
      ? data.xs.map((iso) => Date.parse(iso + "T12:00:00Z") / 1000)
      : data.labels.map((_label, index) => index);
    const width = Math.max(280, element.clientWidth || 600);
    const options = {
      width: width,
      height: 240,
      scales: { x: { time: data.dates } },
      axes: [
        data.dates
          ? {}
          : { values: (_u, splits) => splits.map((i) => (Number.isInteger(i) ? data.labels[i] || "" : "")) },
        {},
      ],
      series: [{}].concat(
        data.series.map((s, index) => ({
          label: s.label,
          stroke: PALETTE[index % PALETTE.length],
          fill: bars ? PALETTE[index % PALETTE.length] + "99" : undefined,
          width: 2,
          paths: bars ? uPlot.paths.bars({ size: [0.6, 64] }) : undefined,
          points: { show: !bars && x.length < 40 },
        }))
      ),
      hooks: {
        draw: [
          (u) => {
            // Spikes from the listening engine: a dashed line at each marked day.
            if (!marks.length || !data.dates) return;
            const ctx = u.ctx;
            ctx.save();
            ctx.strokeStyle = "#a4262c";
            ctx.setLineDash([4, 4]);
            marks.forEach((iso) => {
              const left = u.valToPos(Date.parse(iso + "T12:00:00Z") / 1000, "x", true);
              ctx.beginPath();
              ctx.moveTo(left, u.bbox.top);
              ctx.lineTo(left, u.bbox.top + u.bbox.height);
              ctx.stroke();
            });
            ctx.restore();
          },
        ],
      },
    };
    if (bars) options.scales.x = { time: false, range: [-0.5, x.length - 0.5] };
    element.textContent = "";
    new uPlot(options, [x].concat(data.series.map((s) => s.values)), element);
    element.dataset.drawn = "true";
  }

  function start() {
    document.querySelectorAll(".chart[data-table]").forEach(draw);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
