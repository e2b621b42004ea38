// The forecourt follows the pumps live: the station sends their state (server-sent
// events, /forecourt/events) whenever it changes; each row is filled in from it.
(function () {
  "use strict";
  var words = JSON.parse(document.getElementById("words").textContent);
  var body = document.querySelector("#pumps tbody");

  function cell(row, name, text) {
    var td = row.querySelector("td." + name);
    if (td.textContent !== text) { td.textContent = text; }
  }

  function rowOf(pump) {
    var row = body.querySelector('tr[data-pump="' + CSS.escape(pump.terminal) + '"]');
    if (row) { return row; }
    row = document.createElement("tr");
    row.dataset.pump = pump.terminal;
    ["name", "state", "nozzle", "grade", "litres", "money", "online", "alarm", "seen"].forEach(function (c) {
      var td = document.createElement("td");
      td.className = c;
      row.appendChild(td);
    });
    row.firstChild.textContent = pump.terminal;
    body.appendChild(row);
    return row;
  }

  function show(state) {
    state.pumps.forEach(function (pump) {
      var row = rowOf(pump);
      cell(row, "state", pump.state ? (words.states[pump.state] || pump.state) : "-");
      cell(row, "nozzle", String(pump.nozzle));
      cell(row, "grade", pump.grade);
      cell(row, "litres", pump.litres);
      cell(row, "money", pump.money);
      cell(row, "online", pump.online ? words.online : words.offline);
      cell(row, "alarm", ((pump.alarm || "") + " " + (pump.station_alarm || "")).trim());
      cell(row, "seen", pump.seen_at);
      row.classList.toggle("offline", !pump.online);
    });
  }

  var source = new EventSource("/forecourt/events");
  source.onmessage = function (event) { show(JSON.parse(event.data)); };
}());
