// Patron panel behaviour. No inline scripts: everything hangs off data- attributes.
(function () {
  "use strict";

  // Destructive actions ask first: <form data-confirm="Really?">
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  });

  // Filters that apply as soon as they change: <select data-autosubmit>
  document.addEventListener("change", function (event) {
    var field = event.target;
    if (field instanceof HTMLSelectElement && field.dataset.autosubmit !== undefined && field.form) {
      field.form.requestSubmit();
    }
  });

  // "Tick all" boxes: <input type="checkbox" data-check-all="ids"> ticks every box named ids
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!(box instanceof HTMLInputElement) || box.dataset.checkAll === undefined) return;
    document.querySelectorAll('input[type="checkbox"][name="' + box.dataset.checkAll + '"]').forEach(function (other) {
      other.checked = box.checked;
    });
  });

  // Fields shown only for some choices of a select:
  // <select id="x" data-reveal> and <div data-reveal-when="x" data-reveal-values="a b">
  function reveal(select) {
    document.querySelectorAll('[data-reveal-when="' + select.id + '"]').forEach(function (part) {
      var shown = part.dataset.revealValues.split(" ").indexOf(select.value) !== -1;
      part.hidden = !shown;
      part.querySelectorAll("input, select, textarea").forEach(function (field) { field.disabled = !shown; });
    });
  }
  document.addEventListener("change", function (event) {
    if (event.target instanceof HTMLSelectElement && event.target.dataset.reveal !== undefined) reveal(event.target);
  });
  function revealAll() { document.querySelectorAll("select[data-reveal]").forEach(reveal); }

  // htmx swaps a form answered with 409 or 422 too: the answer is the form with its errors.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var status = event.detail.xhr.status;
    if (status === 409 || status === 422) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  // Copy buttons: <button data-copy="#selector">
  document.addEventListener("click", function (event) {
    var button = event.target instanceof Element ? event.target.closest("[data-copy]") : null;
    if (!button) return;
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (!source) return;
    var text = "value" in source ? source.value : source.innerText;
    var done = function () { button.textContent = "Copied"; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () {});
    } else if (source.select) {
      source.select();
      document.execCommand("copy");
      done();
    }
  });

  // Charts: <canvas data-chart="bar" data-chart-data='{"labels": [...], "datasets": [...]}'>
  function drawCharts() {
    if (typeof window.Chart === "undefined") return;
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var data = JSON.parse(canvas.dataset.chartData || "{}");
      new window.Chart(canvas, {
        type: canvas.dataset.chart,
        data: data,
        options: { responsive: true, maintainAspectRatio: false, animation: false,
                   scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }
      });
    });
  }
  function ready() { drawCharts(); revealAll(); }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", ready);
  } else {
    ready();
  }
})();
