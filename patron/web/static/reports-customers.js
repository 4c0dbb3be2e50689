// Charts of the customer reports. No inline scripts: each <canvas data-report-chart="id">
// reads its data from <script type="application/json" id="id">; data-stacked stacks the bars,
// data-money shows two decimals on the axis.
(function () {
  "use strict";

  function draw(canvas) {
    var source = document.getElementById(canvas.dataset.reportChart);
    if (!source) return;
    var data = JSON.parse(source.textContent || "{}");
    var stacked = canvas.dataset.stacked !== undefined;
    var money = canvas.dataset.money !== undefined;
    new window.Chart(canvas, {
      type: "bar",
      data: data,
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        plugins: { legend: { display: data.datasets && data.datasets.length > 1 } },
        scales: {
          x: { stacked: stacked },
          y: { stacked: stacked, beginAtZero: true, ticks: money ? {} : { precision: 0 } }
        }
      }
    });
  }

  function ready() {
    if (typeof window.Chart === "undefined") return;
    document.querySelectorAll("canvas[data-report-chart]").forEach(draw);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
})();
