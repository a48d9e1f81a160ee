/* The notifications page: show every socket message and let the visitor follow a board. */
(function () {
  "use strict";
  var log = document.getElementById("rt-demo-log");
  var last = document.getElementById("rt-demo-last");
  var status = document.getElementById("rt-demo-status");
  var form = document.getElementById("rt-subscribe");
  if (!log) { return; }
  document.addEventListener("rt:message", function (e) {
    var line = document.createElement("div");
    line.textContent = new Date().toLocaleTimeString() + "  " + JSON.stringify(e.detail);
    log.insertBefore(line, log.firstChild);
    while (log.children.length > 50) { log.removeChild(log.lastChild); }
    if (window.rtNotifications) { last.textContent = window.rtNotifications.lastEventId() || "none yet"; }
    if (e.detail.type === "ready") { status.textContent = "live"; }
  });
  if (form) {
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      window.rtNotifications.subscribe("leaderboard:" + form.elements.board.value);
    });
  }
}());
