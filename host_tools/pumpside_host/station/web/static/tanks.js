// The tanks page's charts: the chosen tank's level over the last 7 days (its readings)
// and the month's cumulative variance against the leak threshold (130 L + 1 % of the
// throughput), drawn by Chart.js (vendored beside this file: chart.umd.min.js, MIT).
(function () {
  "use strict";
  var meta = JSON.parse(document.getElementById("tank-chart-data").textContent);
  fetch("/tanks.json?tank=" + meta.tank + "&month=" + encodeURIComponent(meta.month),
        {credentials: "same-origin"})
    .then(function (r) { return r.json(); })
    .then(function (data) {
      var level = document.getElementById("tank-chart");
      level.chart = new window.Chart(level, {
        type: "line",
        data: {
          labels: data.readings.map(function (r) {
            return new Date(r.at * 1000).toLocaleString();
          }),
          datasets: [{label: meta.litres, data: data.readings.map(function (r) {
            return r.litres; }), pointRadius: 0}]
        },
        options: {animation: false, maintainAspectRatio: false,
                  scales: {y: {beginAtZero: true}}}
      });
      var trend = document.getElementById("variance-chart");
      if (!trend) { return; }
      trend.chart = new window.Chart(trend, {
        type: "bar",
        data: {
          labels: data.days.map(function (d) { return d.day; }),
          datasets: [
            {label: meta.variance, data: data.days.map(function (d) { return d.variance; })},
            {label: meta.cumulative, type: "line",
             data: data.days.map(function (d) { return d.month; })},
            {label: meta.limit, type: "line", borderDash: [4, 4], pointRadius: 0,
             data: data.days.map(function (d) { return -d.limit; })}
          ]
        },
        options: {animation: false, maintainAspectRatio: false}
      });
    });
}());
