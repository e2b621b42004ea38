// The reports page's charts: litres and amount per day, per grade and per hour of day,
// drawn by Chart.js (vendored beside this file: chart.umd.min.js).
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("report-data").textContent);
  function chart(id, rows, type) {
    var canvas = document.getElementById(id);
    canvas.chart = new window.Chart(canvas, {
      type: type,
      data: {
        labels: rows.map(function (r) { return String(r.key); }),
        datasets: [
          {label: data.litres, data: rows.map(function (r) { return r.ml / 1000; }),
           yAxisID: "litres"},
          {label: data.amount, data: rows.map(function (r) { return r.amount / 100; }),
           yAxisID: "amount", type: "line"}
        ]
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        scales: {litres: {position: "left", beginAtZero: true},
                 amount: {position: "right", beginAtZero: true,
                          grid: {drawOnChartArea: false}}}
      }
    });
  }
  chart("chart-day", data.day, "bar");
  chart("chart-grade", data.grade, "bar");
  chart("chart-hour", data.hour, "bar");
}());
