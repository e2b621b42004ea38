// The sales page's chart: litres and amount per day of the filtered sales, drawn by
// Chart.js (vendored beside this file: chart.umd.min.js, v4.6.1 from npm, MIT).
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("days").textContent);
  var canvas = document.getElementById("per-day");
  canvas.chart = new window.Chart(canvas, {
    type: "bar",
    data: {
      labels: data.days.map(function (d) { return d.day; }),
      datasets: [
        {label: data.litres, data: data.days.map(function (d) { return d.litres; }),
         yAxisID: "litres"},
        {label: data.amount, data: data.days.map(function (d) { return d.amount; }),
         yAxisID: "amount", type: "line"}
      ]
    },
    options: {
      animation: false,
      maintainAspectRatio: false,
      scales: {litres: {position: "left", beginAtZero: true},
               amount: {position: "right", beginAtZero: true, grid: {drawOnChartArea: false}}}
    }
  });
}());
