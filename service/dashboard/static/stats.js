/* Statistics charts, drawn with the vendored Chart.js from the JSON the page carries. */
"use strict";
(function () {
  const source = document.getElementById("stats-data");
  if (!source || !window.Chart) return;
  const data = JSON.parse(source.textContent);
  const ink = "#1f2937", grid = "#e5e7eb";
  const palette = {approved: "#16a34a", flagged: "#d97706", rejected: "#dc2626", pending: "#6b7280",
                   model: "#2563eb", rule: "#7c3aed", moderator: "#0891b2", admin: "#64748b", system: "#94a3b8"};
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.color = ink;
  Chart.defaults.borderColor = grid;
  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;
  const days = data.per_day.map((d) => {
    try { return new Intl.DateTimeFormat(Vigie.lang, {day: "numeric", month: "short"}).format(new Date(d.day + "T12:00:00")); }
    catch (e) { return d.day; }
  });
  const pct = (v) => new Intl.NumberFormat(Vigie.lang, {maximumFractionDigits: 1}).format(v) + (Vigie.lang === "fr" ? "\u00a0%" : "%");

  new Chart(document.getElementById("chart-per-day"), {
    type: "bar",
    data: {labels: days, datasets: [{label: Vigie.t("chart_comments"), data: data.per_day.map((d) => d.comments), backgroundColor: "#2563eb"}]},
    options: {plugins: {legend: {display: false}}, scales: {y: {beginAtZero: true, ticks: {precision: 0}}}},
  });

  new Chart(document.getElementById("chart-flag-rate"), {
    type: "line",
    data: {labels: days, datasets: [{label: Vigie.t("chart_flag_rate"),
      data: data.per_day.map((d) => d.flag_rate === null ? null : Math.round(d.flag_rate * 1000) / 10),
      borderColor: "#d97706", backgroundColor: "rgba(217,119,6,.15)", fill: true, tension: 0, spanGaps: true}]},
    options: {plugins: {legend: {display: false}}, scales: {y: {beginAtZero: true, suggestedMax: 20, ticks: {callback: (v) => pct(v)}}}},
  });

  const actors = [...new Set(data.by_source.map((r) => r.actor))];
  const statuses = ["approved", "flagged", "rejected", "pending"];
  new Chart(document.getElementById("chart-sources"), {
    type: "bar",
    data: {labels: actors.map((a) => Vigie.t("actor_" + a)), datasets: statuses.map((st) => ({label: Vigie.t("status_" + st), backgroundColor: palette[st],
      data: actors.map((a) => (data.by_source.find((r) => r.actor === a && r.status === st) || {count: 0}).count)}))},
    options: {scales: {x: {stacked: true}, y: {stacked: true, beginAtZero: true, ticks: {precision: 0}}}},
  });

  const buckets = data.score_buckets.map((_, i) => (i * 10) + "–" + pct((i + 1) * 10));
  new Chart(document.getElementById("chart-scores"), {
    type: "bar",
    data: {labels: buckets, datasets: [{label: Vigie.t("chart_comments"), data: data.score_buckets,
      backgroundColor: data.score_buckets.map((_, i) => i >= 8 ? "#dc2626" : i >= 5 ? "#d97706" : "#16a34a")}]},
    options: {plugins: {legend: {display: false}}, scales: {y: {beginAtZero: true, ticks: {precision: 0}}}},
  });

  const select = document.getElementById("overturn-label");
  const overturnChart = new Chart(document.getElementById("chart-overturns"), {
    type: "line",
    data: {labels: data.thresholds.map((t) => "≥ " + new Intl.NumberFormat(Vigie.lang).format(t)), datasets: []},
    options: {interaction: {mode: "index", intersect: false},
      scales: {y: {beginAtZero: true, position: "left", title: {display: true, text: Vigie.t("chart_axis_approved")}, max: 100},
               y1: {beginAtZero: true, position: "right", grid: {drawOnChartArea: false}, ticks: {precision: 0},
                    title: {display: true, text: Vigie.t("chart_axis_rejected")}}}},
  });
  function drawOverturns() {
    const rows = data.overturns.labels[select.value] || [];
    overturnChart.data.datasets = [
      {label: Vigie.t("chart_overturn_rate"), yAxisID: "y", borderColor: "#dc2626",
       backgroundColor: "#dc2626", data: rows.map((r) => r.overturn_rate === null ? null : Math.round(r.overturn_rate * 1000) / 10)},
      {label: Vigie.t("chart_rejected_below"), yAxisID: "y1", borderColor: "#2563eb", backgroundColor: "#2563eb",
       data: rows.map((r) => r.rejected_below)},
    ];
    overturnChart.update();
  }
  select.addEventListener("change", drawOverturns);
  drawOverturns();
})();
