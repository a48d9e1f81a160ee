/* An order's page: its status moves live (pending -> processing -> completed) without a reload.
 *
 * The site's notifications socket (realtime/static/realtime/notifications.js) follows this visitor's
 * audience and re-dispatches every event as an "rt:message" DOM event; order.status events for this
 * order update the page. When the socket says "ready" the page asks GET /api/orders/<id> once, so a
 * change made between rendering the page and the socket connecting is not missed. If the socket is
 * not up within 5 s (a proxy without WebSockets), the page polls every 5 s until the order is done.
 */
(function () {
  "use strict";
  var root = document.getElementById("order");
  if (!root) { return; }
  var id = String(root.dataset.orderId);
  var badge = document.getElementById("order-status");
  var failure = document.getElementById("order-failure");
  var steps = document.querySelectorAll("#order-steps li");
  var ORDER = ["pending", "processing", "completed"];
  var FINAL = {completed: true, failed: true};
  var socketReady = false;
  var pollTimer = null;

  function show(status, reason) {
    if (!status) { return; }
    root.dataset.status = status;
    badge.dataset.status = status;
    badge.textContent = status;
    var at = ORDER.indexOf(status);
    steps.forEach(function (li, i) {
      li.classList.toggle("done", at >= 0 && i < at);
      li.classList.toggle("current", i === at);
      li.classList.toggle("failed", status === "failed" && i === steps.length - 1);
    });
    if (status === "failed") {
      failure.textContent = "Failed" + (reason ? ": " + reason : "");
      failure.hidden = false;
    }
    if (FINAL[status] && pollTimer) { window.clearInterval(pollTimer); pollTimer = null; }
  }
  async function refresh() {
    try {
      var res = await fetch("/api/orders/" + encodeURIComponent(id), {credentials: "same-origin"});
      if (!res.ok) { return; }
      var data = await res.json();
      show(data.status, data.failure_reason);
    } catch (e) { /* offline: the socket or the next poll catches up */ }
  }
  document.addEventListener("rt:message", function (e) {
    var event = e.detail || {};
    if (event.type === "ready") {
      socketReady = true;
      if (!FINAL[root.dataset.status]) { refresh(); }
    } else if (event.type === "order.status" && String(event.order_id) === id) {
      show(event.status, event.failure_reason);
    }
  });
  show(root.dataset.status);
  window.setTimeout(function () {
    if (socketReady || FINAL[root.dataset.status]) { return; }
    pollTimer = window.setInterval(function () {
      if (socketReady || FINAL[root.dataset.status]) { window.clearInterval(pollTimer); pollTimer = null; return; }
      refresh();
    }, 5000);
  }, 5000);
}());
