/* The checkout demo page (/checkout/): post the quantities to /api/orders and follow the order.
 *
 * One Idempotency-Key per cart state: the key changes when the quantities change or after an order
 * was created, and stays the same for a retry. "Place order" is disabled while its request is in
 * flight, so a double click sends one request; "Send the same request again" resends the last body
 * with the last key on purpose, to show the replay (same order, created once).
 */
(function () {
  "use strict";
  var form = document.getElementById("checkout-form");
  if (!form) { return; }
  var out = document.getElementById("result");
  var keyEl = document.getElementById("idem-key");
  var placeButton = document.getElementById("place");
  var againButton = document.getElementById("again");
  var idemKey = newKey(), keyState = null, lastKey = null, lastBody = null;
  keyEl.textContent = idemKey;

  function newKey() {
    var raw = window.crypto && window.crypto.randomUUID ? window.crypto.randomUUID()
      : String(Date.now()) + Math.random();
    return raw.replace(/[^A-Za-z0-9-]/g, "");
  }
  function line(text, cls) {
    var p = document.createElement("p");
    p.textContent = text;
    if (cls) { p.className = cls; }
    out.appendChild(p);
  }
  function items() {
    return Array.prototype.slice.call(form.querySelectorAll("input[name=qty]"))
      .map(function (i) { return {product_id: Number(i.dataset.product), quantity: Number(i.value)}; })
      .filter(function (i) { return i.quantity > 0; });
  }
  async function send(body, key) {
    var res, data = {};
    try {
      res = await fetch("/api/orders", {method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-CSRFToken": window.site.csrfToken(), "Idempotency-Key": key},
        body: JSON.stringify(body)});
    } catch (e) {
      line("network error: " + e + " (press again: the same key is sent)", "error");
      return false;
    }
    try { data = await res.json(); } catch (e) { /* an error page */ }
    var timing = res.headers.get("Server-Timing") || "";
    if (res.status === 202) {
      line(res.status + ": order #" + data.order_id + " " +
        (data.created ? "created" : "replayed (same key: no new order)") + " · " + timing);
      follow(data.order_id);
      return true;
    }
    line(res.status + " " + (data.error || "error") + ": " + (data.detail || ""), "error");
    return false;
  }
  async function follow(id) {
    var last = "";
    for (var i = 0; i < 60; i++) {
      var res = await fetch("/api/orders/" + id, {credentials: "same-origin"});
      var data = await res.json();
      if (data.status !== last) {
        last = data.status;
        line("order #" + id + ": " + data.status + (data.failure_reason ? " (" + data.failure_reason + ")" : ""));
      }
      if (data.status === "completed" || data.status === "failed") { return; }
      await new Promise(function (r) { setTimeout(r, 500); });
    }
    line("order #" + id + " is still " + last + ": is a stream worker running? (make run starts one)", "muted");
  }
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    if (placeButton.disabled) { return; }
    var body = {items: items()};
    if (!body.items.length) { line("Choose a quantity first.", "error"); return; }
    var state = JSON.stringify(body.items);
    if (state !== keyState) { idemKey = newKey(); keyState = state; keyEl.textContent = idemKey; }
    lastBody = body; lastKey = idemKey;
    window.site.busy(placeButton, send(body, idemKey).then(function (created) {
      // An order was made for this cart state: the next press is a new order, with a new key.
      if (created) { keyState = null; }
    }));
  });
  againButton.addEventListener("click", function () {
    if (!lastBody) { line("Place an order first.", "muted"); return; }
    window.site.busy(againButton, send(lastBody, lastKey));
  });
}());
