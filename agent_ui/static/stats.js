/* The managers' dashboard: charts drawn over the tables (which stay, for screen readers and when
   the chart library is missing), and the "now" panel refreshed every 30 s besides live events
   (the longest wait grows even when nothing happens). */
(function () {
  "use strict";
  var holder = document.getElementById("stats-data");
  if (!holder) { return; }
  var data;
  try { data = JSON.parse(holder.getAttribute("data-json") || "{}"); } catch (e) { return; }

  var COLOURS = { whatsapp: "#1a7f37", email: "#0b5cad", phone: "#8a4b00" };
  var FALLBACK = ["#5a2d82", "#a3165a", "#00606b"];

  function colour(name, i) { return COLOURS[name] || FALLBACK[i % FALLBACK.length]; }

  function draw() {
    if (!window.Chart) { return; }  // no chart library: the tables are the report
    window.Chart.defaults.font.size = 18;
    window.Chart.defaults.color = "#111";
    var daily = document.getElementById("chart-daily");
    if (daily && data.daily) {
      daily.parentNode.hidden = false;
      new window.Chart(daily, {
        type: "bar",
        data: {
          labels: data.daily.map(function (p) { return p.period; }),
          datasets: data.channels.map(function (ch, i) {
            return { label: (data.labels && data.labels[ch]) || ch, backgroundColor: colour(ch, i),
                     data: data.daily.map(function (p) { return p.by_channel[ch] || 0; }) };
          })
        },
        options: { responsive: true, maintainAspectRatio: false, animation: false,
                   scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } }
      });
    }
    drawTrends();
    var ratings = document.getElementById("chart-ratings");
    if (ratings && data.distribution) {
      ratings.parentNode.hidden = false;
      new window.Chart(ratings, {
        type: "bar",
        data: { labels: ["1", "2", "3", "4", "5"],
                datasets: [{ label: holder.getAttribute("data-label-answers") || "", backgroundColor: "#0b5cad",
                             data: data.distribution }] },
        options: { responsive: true, maintainAspectRatio: false, animation: false,
                   scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }
      });
    }
  }

  // Trend lines: shades of one dark colour, each series also with its own dash pattern and
  // marker, so the lines stay apart in greyscale and in print. The table and the summary above
  // each chart carry the same figures in text.
  var LINE_STYLES = [
    { color: "#0b3d73", dash: [], point: "circle" },
    { color: "#8a4b00", dash: [8, 5], point: "triangle" },
    { color: "#1a7f37", dash: [2, 3], point: "rect" }
  ];

  function drawTrends() {
    (data.trends || []).forEach(function (chart) {
      var canvas = document.getElementById(chart.id);
      if (!canvas) { return; }
      canvas.parentNode.hidden = false;
      new window.Chart(canvas, {
        type: "line",
        data: {
          labels: chart.periods,
          datasets: chart.labels.map(function (label, i) {
            var style = LINE_STYLES[i % LINE_STYLES.length];
            return { label: label, data: chart.values[i], borderColor: style.color, backgroundColor: style.color,
                     borderDash: style.dash, pointStyle: style.point, pointRadius: 5, borderWidth: 3,
                     spanGaps: false };
          })
        },
        options: { responsive: true, maintainAspectRatio: false, animation: false,
                   plugins: { legend: { labels: { usePointStyle: true } } },
                   scales: { y: { beginAtZero: true } } }
      });
    });
  }

  function refreshNow() {
    var panel = document.getElementById("now-panel");
    if (!panel || document.hidden) { return; }
    fetch(panel.getAttribute("data-live-src"), { headers: { "X-Hub-Fragment": "1" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html !== null) { panel.innerHTML = html; } })
      .catch(function () { /* the next tick retries */ });
  }

  // Printing (the monthly report): every section and table open on paper, as it was after.
  var closedBeforePrint = [];
  window.addEventListener("beforeprint", function () {
    closedBeforePrint = Array.prototype.filter.call(document.querySelectorAll(".stats details"), function (d) {
      return !d.open;
    });
    closedBeforePrint.forEach(function (d) { d.open = true; });
  });
  window.addEventListener("afterprint", function () {
    closedBeforePrint.forEach(function (d) { d.open = false; });
    closedBeforePrint = [];
  });

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", draw); } else { draw(); }
  window.setInterval(refreshNow, 30000);
})();
