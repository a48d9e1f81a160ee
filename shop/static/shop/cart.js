/* The cart page's checkout button: POST /api/orders with one Idempotency-Key per cart state.
 *
 * - The key is made once per cart state (the server's fingerprint of the lines) and kept in
 *   sessionStorage: a second click, a retry after a network error, or a reload after a lost answer
 *   all send the same key, so the shop creates the order once (redis_patterns/idempotency.py).
 * - The button is disabled while the request is in flight (window.site.busy, static/site/site.js)
 *   and shows progress after 300 ms; errors are written into the page.
 * - On 202 the key is dropped (the next cart is a new state) and the browser goes to the order's page.
 */
(function () {
  "use strict";
  var button = document.getElementById("place-order");
  var dataEl = document.getElementById("checkout-data");
  if (!button || !dataEl) { return; }
  var body = JSON.parse(dataEl.textContent);
  var errorEl = document.getElementById("checkout-error");
  var storageKey = "checkout-key:" + button.dataset.fingerprint;
  var inFlight = false;

  function newKey() {
    if (window.crypto && window.crypto.randomUUID) { return window.crypto.randomUUID(); }
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }
  function stored() { try { return window.sessionStorage.getItem(storageKey); } catch (e) { return null; } }
  function store(value) {
    try {
      if (value) { window.sessionStorage.setItem(storageKey, value); } else { window.sessionStorage.removeItem(storageKey); }
    } catch (e) { /* private mode: this page's memory only */ }
  }
  var key = stored() || newKey();
  store(key);
  document.getElementById("idem-key").textContent = key;

  function productName(id) {
    var line = document.querySelector('.cart-line[data-product="' + id + '"] strong');
    return line ? line.textContent : "product " + id;
  }
  function explain(res, data) {
    if (res.status === 409 && data.error === "out_of_stock") {
      return "Only " + data.available + " left of " + productName(data.product_id) +
        ": lower the quantity and place the order again.";
    }
    if (res.status === 409 && data.error === "request_in_progress") {
      return "This order is still being placed: wait a second and press again (same key, still one order).";
    }
    if (res.status === 429) {
      return "Too many orders from here: try again in " + (res.headers.get("Retry-After") || "a few") + " s.";
    }
    if (res.status === 403) { return "Your session has expired: reload the page and try again."; }
    if (res.status >= 500) {
      return "The shop could not place the order (" + res.status + "). Try again: the same key is sent, " +
        "so it is placed once.";
    }
    return "Not placed: " + (data.detail || ("HTTP " + res.status));
  }

  async function place() {
    var res;
    try {
      res = await fetch("/api/orders", {
        method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-CSRFToken": window.site.csrfToken(), "Idempotency-Key": key},
        body: JSON.stringify(body)
      });
    } catch (e) {
      window.site.showError(errorEl, "Could not reach the shop. Try again: the same key is sent, so the order " +
        "is placed once.");
      return;
    }
    var data = {};
    try { data = await res.json(); } catch (e) { /* not JSON: an error page */ }
    if (res.status === 202) {
      store(null);
      button.textContent = "Order placed";
      window.location.assign("/orders/" + encodeURIComponent(data.order_id) + "/");
      return new Promise(function () {});  // stay busy until the order's page loads
    }
    window.site.showError(errorEl, explain(res, data));
  }

  button.addEventListener("click", function () {
    if (inFlight) { return; }
    inFlight = true;
    window.site.showError(errorEl, "");
    window.site.busy(button, place()).finally(function () { inFlight = false; });
  });
}());
