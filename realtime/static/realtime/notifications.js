/* The notifications area on every page: one WebSocket to /ws/notifications/.
 *
 * - Remembers the largest event id it has seen (sessionStorage, per tab) and
 *   reconnects with ?last_event_id=<id>: the server replays what was missed
 *   from its streams, then live events follow.
 * - Reconnects by itself with exponential backoff and jitter (0.5 s .. 15 s),
 *   showing "reconnecting" meanwhile, e.g. while Redis or the server restarts.
 * - Heartbeats every 15 s: presence ("N online") and a catch-up read.
 * - Follows boards named in the page: <element data-rt-topic="leaderboard:global">,
 *   or window.rtNotifications.subscribe("leaderboard:global").
 * - Every message is re-dispatched as a DOM event: document.addEventListener("rt:message", e => e.detail).
 * - Broadcasts show in the banner at the top of the page (sticky, so it stays in view) until they expire
 *   (their duration_s, default 1 h) or the visitor dismisses them. The server renders a current one into
 *   every page; the newest one received is also kept in localStorage, so a reload or a new tab shows it
 *   even before the socket is up.
 * Vanilla JS, no dependencies, no CDN.
 */
(function () {
  "use strict";
  var STORAGE_KEY = "rt:last_event_id";
  var BROADCAST_KEY = "rt:broadcast";
  var DISMISSED_KEY = "rt:broadcast_dismissed";
  var BROADCAST_DEFAULT_MS = 3600 * 1000;
  var HEARTBEAT_MS = 15000;
  var area = document.getElementById("rt-notifications");
  if (!area) { return; }
  var statusEl = area.querySelector("[data-rt-status]");
  var list = area.querySelector("[data-rt-list]");
  var bar = document.getElementById("rt-broadcast-bar");
  var banner = document.getElementById("rt-broadcast");
  var bannerTimer = null;
  var topics = new Set();
  var ws = null;
  var attempt = 0;
  var heartbeatTimer = null;
  var reconnectTimer = null;
  var memoryLastId = "";

  function parseId(id) {
    var parts = String(id).split("-");
    return [Number(parts[0]), Number(parts[1] || 0)];
  }
  function newer(a, b) {  // a > b as stream ids
    var x = parseId(a), y = parseId(b);
    return x[0] > y[0] || (x[0] === y[0] && x[1] > y[1]);
  }
  function lastId() {
    try { return window.sessionStorage.getItem(STORAGE_KEY) || ""; } catch (e) { return memoryLastId; }
  }
  function remember(id) {
    var current = lastId();
    if (current && !newer(id, current)) { return; }
    memoryLastId = id;
    try { window.sessionStorage.setItem(STORAGE_KEY, id); } catch (e) { /* private mode: memory only */ }
  }
  function setStatus(state, text) {
    area.dataset.state = state;
    statusEl.textContent = text;
  }
  function send(payload) {
    if (ws && ws.readyState === WebSocket.OPEN) { ws.send(JSON.stringify(payload)); }
  }
  function heartbeat() { send({action: "heartbeat", page: window.location.pathname}); }
  function startHeartbeat() {
    stopHeartbeat();
    heartbeat();
    heartbeatTimer = window.setInterval(heartbeat, HEARTBEAT_MS);
  }
  function stopHeartbeat() {
    if (heartbeatTimer) { window.clearInterval(heartbeatTimer); heartbeatTimer = null; }
  }

  function describe(event) {
    if (event.type === "order.status") {
      return "Order #" + event.order_id + ": " + event.status;
    }
    if (event.type === "leaderboard.changed") {
      var views = (event.views || []).map(function (v) { return v.view; }).join(", ");
      return "Leaderboard " + (event.board || "") + (views ? " (" + views + ")" : "") +
        ": the top 10 changed";
    }
    if (event.type === "broadcast") { return event.message || "Announcement"; }
    return event.type;
  }
  function render(event) {
    var item = document.createElement("li");
    item.dataset.eventId = event.id;
    item.dataset.eventType = event.type;
    if (event.status) { item.dataset.status = event.status; }
    item.textContent = describe(event);  // textContent: event data is never parsed as HTML
    list.insertBefore(item, list.firstChild);
    while (list.children.length > 5) { list.removeChild(list.lastChild); }
    if (event.type === "broadcast") {
      var shown = {id: event.id, message: event.message || "", level: event.level || "info",
                   expires_ms: parseId(event.id)[0] + (Number(event.duration_s) * 1000 || BROADCAST_DEFAULT_MS)};
      try { window.localStorage.setItem(BROADCAST_KEY, JSON.stringify(shown)); } catch (e) { /* memory only */ }
      showBanner(shown);
    }
  }

  // --- the broadcast banner ---------------------------------------------------------------
  function stored(key) {
    try { return window.localStorage.getItem(key); } catch (e) { return null; }
  }
  function hideBanner() {
    if (bar) { bar.hidden = true; }
    if (bannerTimer) { window.clearTimeout(bannerTimer); bannerTimer = null; }
  }
  function showBanner(b) {
    if (!bar || !banner || !b || !b.message) { return; }
    var left = b.expires_ms - Date.now();
    if (left <= 0 || stored(DISMISSED_KEY) === b.id) { return; }
    if (bar.dataset.eventId && !bar.hidden && newer(bar.dataset.eventId, b.id)) { return; }  // keep the newer one
    banner.textContent = b.message;  // textContent: never parsed as HTML
    bar.dataset.level = b.level;
    bar.dataset.eventId = b.id;
    bar.dataset.expiresMs = String(b.expires_ms);
    bar.hidden = false;
    if (bannerTimer) { window.clearTimeout(bannerTimer); }
    bannerTimer = window.setTimeout(hideBanner, Math.min(left, 2147483647));
  }
  function initBanner() {
    if (!bar) { return; }
    var dismiss = bar.querySelector("[data-rt-dismiss]");
    if (dismiss) {
      dismiss.addEventListener("click", function () {
        try { window.localStorage.setItem(DISMISSED_KEY, bar.dataset.eventId || ""); } catch (e) { /* ignore */ }
        hideBanner();
      });
    }
    if (!bar.hidden) {  // rendered by the server: current when the page was made
      var rendered = {id: bar.dataset.eventId, message: banner.textContent, level: bar.dataset.level,
                      expires_ms: Number(bar.dataset.expiresMs)};
      bar.hidden = true;
      showBanner(rendered);
    }
    var kept = null;
    try { kept = JSON.parse(stored(BROADCAST_KEY) || "null"); } catch (e) { kept = null; }
    if (kept && kept.id) { showBanner(kept); }
  }
  function presence(message) {
    document.querySelectorAll("[data-presence-online]").forEach(function (el) {
      el.textContent = String(message.online);
    });
    if (message.here !== undefined) {
      document.querySelectorAll("[data-presence-here]").forEach(function (el) {
        el.textContent = String(message.here);
      });
    }
  }
  function handle(message) {
    if (message.id) {
      remember(message.id);
      render(message);
    } else if (message.type === "ready") {
      // Where this socket stands even if no event has come yet: a reconnect
      // after an outage then replays what was published in between.
      if (message.last_event_id) { remember(message.last_event_id); }
      attempt = 0;
      setStatus("live", "live");
      topics.forEach(function (topic) { send({action: "subscribe", topic: topic}); });
      startHeartbeat();
    } else if (message.type === "presence") {
      presence(message);
    }
    document.dispatchEvent(new CustomEvent("rt:message", {detail: message}));
  }

  function connect() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var url = scheme + window.location.host + "/ws/notifications/";
    var last = lastId();
    if (last) { url += "?last_event_id=" + encodeURIComponent(last); }
    ws = new WebSocket(url);
    ws.onmessage = function (e) {
      var message;
      try { message = JSON.parse(e.data); } catch (err) { return; }
      handle(message);
    };
    ws.onclose = function () {
      stopHeartbeat();
      ws = null;
      // Exponential backoff with full jitter: a restarted server is not hit
      // by every tab at the same instant.
      var delay = Math.min(15000, 500 * Math.pow(2, attempt));
      delay = delay / 2 + Math.random() * delay / 2;
      attempt += 1;
      setStatus("reconnecting", "reconnecting… (retry in " + Math.ceil(delay / 1000) + " s)");
      reconnectTimer = window.setTimeout(connect, delay);
    };
  }

  initBanner();
  document.querySelectorAll("[data-rt-topic]").forEach(function (el) { topics.add(el.dataset.rtTopic); });
  window.rtNotifications = {
    subscribe: function (topic) { topics.add(topic); send({action: "subscribe", topic: topic}); },
    unsubscribe: function (topic) { topics.delete(topic); send({action: "unsubscribe", topic: topic}); },
    lastEventId: lastId,
    reconnectNow: function () {
      if (reconnectTimer) { window.clearTimeout(reconnectTimer); reconnectTimer = null; }
      attempt = 0;
      if (ws) { ws.close(); } else { connect(); }
    }
  };
  if (!("WebSocket" in window)) { setStatus("offline", "notifications need WebSockets"); return; }
  connect();
}());
