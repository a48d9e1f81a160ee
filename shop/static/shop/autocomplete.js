// The search box's suggestions: one request per pause in typing (150 ms debounce), the latest answer only.
(function () {
  const form = document.querySelector("form[data-autocomplete]");
  if (!form) return;
  const input = form.querySelector("input[name=q]");
  const list = form.querySelector(".suggestions");
  const url = form.dataset.autocomplete;
  let timer = null, controller = null, active = -1;

  const close = () => { list.hidden = true; list.innerHTML = ""; active = -1; };
  const show = (items) => {
    list.innerHTML = "";
    items.forEach((item, i) => {
      const li = document.createElement("li");
      li.setAttribute("role", "option");
      li.id = `suggestion-${i}`;
      li.textContent = item.name;
      li.addEventListener("mousedown", () => { window.location = `/shop/products/${item.id}/`; });
      list.appendChild(li);
    });
    list.hidden = items.length === 0;
    active = -1;
  };
  const ask = async () => {
    const q = input.value;
    if (!q.trim() || q.length > 50) { close(); return; }
    if (controller) controller.abort();  // an older, slower answer must not overwrite a newer one
    controller = new AbortController();
    try {
      const response = await fetch(`${url}?q=${encodeURIComponent(q)}&limit=8`, { signal: controller.signal });
      if (response.ok) show(await response.json()); else close();
    } catch (err) {
      if (err.name !== "AbortError") close();
    }
  };
  input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(ask, 150); });
  input.addEventListener("keydown", (event) => {
    const items = list.querySelectorAll("li");
    if (!items.length) return;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      active = (active + (event.key === "ArrowDown" ? 1 : items.length - 1)) % items.length;
      items.forEach((li, i) => li.setAttribute("aria-selected", i === active ? "true" : "false"));
      input.setAttribute("aria-activedescendant", items[active].id);
    } else if (event.key === "Enter" && active >= 0) {
      event.preventDefault();
      items[active].dispatchEvent(new Event("mousedown"));
    } else if (event.key === "Escape") {
      close();
    }
  });
  input.addEventListener("blur", () => setTimeout(close, 150));
})();
