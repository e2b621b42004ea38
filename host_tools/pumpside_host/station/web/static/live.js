// Rows that follow the station without a reload: each <tbody data-live="URL"> is filled
// again from URL (the same rows, rendered by the server) every two seconds, when they
// changed. Commands' states, the station's alarms.
(function () {
  "use strict";
  var PERIOD_MS = 2000;
  document.querySelectorAll("tbody[data-live]").forEach(function (body) {
    var last = null;
    function poll() {
      fetch(body.dataset.live, {credentials: "same-origin", cache: "no-store"})
        .then(function (answer) { return answer.ok ? answer.text() : null; })
        .then(function (html) {
          if (html !== null && html !== last) {
            last = html;
            body.innerHTML = html;
          }
        })
        .catch(function () {})  // the station restarting: the next poll tries again
        .then(function () { setTimeout(poll, PERIOD_MS); });
    }
    setTimeout(poll, PERIOD_MS);
  });
}());
