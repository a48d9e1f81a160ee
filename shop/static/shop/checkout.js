// The checkout page: post the order with a fresh Idempotency-Key, then follow it until it completes.
// A file, not an inline <script>: the site's Content-Security-Policy allows scripts from 'self' only.
(function () {
  const form = document.getElementById("checkout-form");
  if (!form) return;
  const out = document.getElementById("result");
  const keyEl = document.getElementById("idem-key");
  const csrf = (document.cookie.match(/(?:^|; )csrftoken=([^;]+)/) || [])[1] || "";
  let idemKey = newKey(), lastBody = null;
  keyEl.textContent = idemKey;
  function newKey() { return (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random()).replace(/[^A-Za-z0-9-]/g, ""); }
  function line(text, cls) { const p = document.createElement("p"); p.textContent = text; if (cls) p.className = cls; out.appendChild(p); }
  async function send(body) {
    const res = await fetch("/api/orders", {method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrf, "Idempotency-Key": idemKey},
      body: JSON.stringify(body)});
    const data = await res.json();
    const timing = res.headers.get("Server-Timing") || "";
    if (res.status === 202) {
      line(`${res.status}: order #${data.order_id} ${data.created ? "created" : "replayed (same key: no new order)"} · ${timing}`);
      follow(data.order_id);
    } else {
      line(`${res.status} ${data.error}: ${data.detail}`, "error");
    }
  }
  async function follow(id) {
    let last = "";
    for (let i = 0; i < 60; i++) {
      const res = await fetch(`/api/orders/${id}`, {credentials: "same-origin"});
      const data = await res.json();
      if (data.status !== last) { last = data.status; line(`order #${id}: ${data.status}${data.failure_reason ? " (" + data.failure_reason + ")" : ""}`); }
      if (data.status === "completed" || data.status === "failed") return;
      await new Promise(r => setTimeout(r, 500));
    }
    line(`order #${id} is still ${last}: is a stream worker running? (make run starts one)`, "muted");
  }
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const items = [...form.querySelectorAll("input[name=qty]")]
      .map(i => ({product_id: Number(i.dataset.product), quantity: Number(i.value)}))
      .filter(i => i.quantity > 0);
    if (!items.length) { line("Choose a quantity first.", "error"); return; }
    idemKey = newKey(); keyEl.textContent = idemKey; lastBody = {items};
    send(lastBody);
  });
  document.getElementById("again").addEventListener("click", () => { if (lastBody) send(lastBody); else line("Place an order first.", "muted"); });
})();
