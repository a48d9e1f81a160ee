// The reaction game and a live board. Vanilla JS, no dependencies.
// The board follows "leaderboard:<board>" over the site's notifications socket
// (realtime/static/realtime/notifications.js) and refetches the top 10 when a
// leaderboard.changed event arrives; a slow poll covers the time the socket is down.
(function () {
  "use strict";
  const ROUNDS = 5;
  const table = document.getElementById("board");
  const board = table.dataset.board;
  const api = "/api/leaderboards/" + encodeURIComponent(board);
  const playerInput = document.getElementById("player");
  const target = document.getElementById("target");
  const roundsEl = document.getElementById("rounds");
  const resultEl = document.getElementById("result");
  const updated = document.getElementById("updated");
  let view = "best", offset = 0, timer = null, greenAt = 0, scores = [];

  playerInput.value = localStorage.getItem("lb-player") || "";
  playerInput.addEventListener("change", () => { localStorage.setItem("lb-player", playerInput.value); refresh(); });

  function csrf() {
    const m = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : "";
  }
  async function post(url, body) {
    const res = await fetch(url, {method: "POST", headers: {"Content-Type": "application/json", "X-CSRFToken": csrf()},
      body: JSON.stringify(body), credentials: "same-origin"});
    let data = {};
    try { data = await res.json(); } catch (e) { /* a non-JSON error page */ }
    return {res, data};
  }
  function row(e, me) {
    const tr = document.createElement("tr");
    if (e.player === me) tr.className = "me";
    for (const [v, cls] of [[e.rank, "num"], [e.player, ""], [e.score, "num"]]) {
      const td = document.createElement("td"); td.textContent = v; if (cls) td.className = cls; tr.appendChild(td);
    }
    return tr;
  }
  function fill(tbody, entries, me, empty) {
    tbody.replaceChildren(...(entries.length ? entries.map((e) => row(e, me)) : [(() => {
      const tr = document.createElement("tr"); const td = document.createElement("td");
      td.colSpan = 3; td.className = "muted"; td.textContent = empty; tr.appendChild(td); return tr; })()]));
  }
  function query() {
    const q = new URLSearchParams({view, limit: "10", offset: String(offset)});
    if (view === "friends") q.set("player", playerInput.value);
    return q;
  }
  async function refresh() {
    const me = playerInput.value;
    if (view === "friends" && !me) { fill(table.tBodies[0], [], me, "Type your name to see your friends' board."); return; }
    try {
      const res = await fetch(api + "/top?" + query());
      const data = await res.json();
      if (!res.ok) { fill(table.tBodies[0], [], me, data.detail || "error"); return; }
      fill(table.tBodies[0], data, me, offset ? "No more entries." : "No scores yet: play a round.");
      updated.textContent = "updated " + new Date().toLocaleTimeString();
      if (me) {
        const q = new URLSearchParams({view, around: "3"});
        const r2 = await fetch(api + "/players/" + encodeURIComponent(me) + "?" + q);
        const around = document.getElementById("around").tBodies[0];
        if (r2.ok) { fill(around, (await r2.json()).around, me, ""); }
        else { fill(around, [], me, me + " is not on this board yet."); }
      }
    } catch (e) { updated.textContent = "offline: " + e; }
  }
  function poll() {
    // Fallback only: events drive the refresh while the socket is live.
    clearInterval(timer);
    timer = setInterval(() => { if (!document.hidden) refresh(); }, 30000);
  }
  document.addEventListener("rt:message", (e) => {
    const event = e.detail || {};
    if (event.type === "leaderboard.changed" && event.board === board) refresh();
  });
  document.querySelectorAll(".lb-tabs button").forEach((b) => b.addEventListener("click", () => {
    document.querySelectorAll(".lb-tabs button").forEach((x) => x.removeAttribute("aria-selected"));
    b.setAttribute("aria-selected", "true"); view = b.dataset.view; offset = 0; refresh();
  }));
  document.getElementById("prev").addEventListener("click", () => { offset = Math.max(0, offset - 10); refresh(); });
  document.getElementById("next").addEventListener("click", () => { offset += 10; refresh(); });

  // --- the game ---------------------------------------------------------------------------
  let waitTimer = null;
  function arm() {
    target.dataset.state = "wait"; target.textContent = "Wait for green…";
    waitTimer = setTimeout(() => { target.dataset.state = "go"; target.textContent = "Click!"; greenAt = performance.now(); },
      1000 + Math.random() * 2000);
  }
  async function finish() {
    const total = scores.reduce((a, b) => a + b, 0);
    target.dataset.state = "done"; target.textContent = "Play again";
    const player = playerInput.value;
    if (!/^[A-Za-z0-9_.\-]{1,32}$/.test(player)) { resultEl.textContent = "Score " + total + ": type a valid player name to submit it."; return; }
    const {res, data} = await post(api + "/scores", {player, score: total});
    if (res.status === 201) {
      resultEl.textContent = "Score " + total + " recorded: best " + data.best + " (rank " + data.rank + "), total " + data.total + ".";
    } else if (res.status === 429) {
      resultEl.textContent = "Too many submissions: try again in " + (res.headers.get("Retry-After") || "a few") + " s.";
    } else {
      resultEl.textContent = "Not recorded: " + (data.detail || res.status);
    }
    refresh();
  }
  target.addEventListener("click", () => {
    const state = target.dataset.state;
    if (state === "idle" || state === "done") { scores = []; roundsEl.textContent = ""; resultEl.textContent = ""; arm(); return; }
    if (state === "wait") { clearTimeout(waitTimer); scores.push(0); }
    else if (state === "go") { scores.push(Math.max(0, Math.round(1000 - (performance.now() - greenAt)))); }
    roundsEl.textContent = "Rounds: " + scores.join(" · ");
    if (scores.length >= ROUNDS) finish(); else arm();
  });
  document.getElementById("friend-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const friend = document.getElementById("friend").value;
    const {res, data} = await post(api + "/friends", {player: playerInput.value, friend});
    resultEl.textContent = res.status === 201 ? friend + " added to your friends." : "Not added: " + (data.detail || res.status);
    if (view === "friends") refresh();
  });
  refresh(); poll();
})();
