/* The site shell's behaviour, on every page (templates/base.html). Vanilla JS, no dependencies, no CDN,
 * no inline handlers (the pages are meant to run under a Content-Security-Policy without 'unsafe-inline').
 *
 * 1. Navigation menus: <button aria-expanded aria-controls> disclosure menus (the WAI-ARIA "disclosure
 *    navigation" pattern). One open at a time; Escape closes the open one and puts focus back on its
 *    button; a click or focus outside closes it; ArrowDown/ArrowUp move through its links.
 * 2. Busy buttons: a form that is submitted marks its button busy at once (a second click does nothing)
 *    and shows a spinner and "working…" if the answer takes more than 300 ms. Pages that send their own
 *    requests use window.site.busy(button, promise) for the same look.
 * 3. Inline errors: window.site.showError(container, message) writes a message into the page (role=alert).
 */
(function () {
  "use strict";
  var SPINNER_AFTER_MS = 300;

  // --- 1. menus ---------------------------------------------------------------------------
  var toggles = Array.prototype.slice.call(document.querySelectorAll(".nav-toggle[aria-controls]"));

  function menuOf(button) { return document.getElementById(button.getAttribute("aria-controls")); }
  function isOpen(button) { return button.getAttribute("aria-expanded") === "true"; }
  function setOpen(button, open) {
    var menu = menuOf(button);
    if (!menu) { return; }
    button.setAttribute("aria-expanded", open ? "true" : "false");
    menu.hidden = !open;
  }
  function closeAll(except) {
    toggles.forEach(function (b) { if (b !== except && isOpen(b)) { setOpen(b, false); } });
  }
  function links(button) {
    var menu = menuOf(button);
    return menu ? Array.prototype.slice.call(menu.querySelectorAll("a")) : [];
  }

  toggles.forEach(function (button) {
    button.addEventListener("click", function () {
      var open = !isOpen(button);
      closeAll(button);
      setOpen(button, open);
    });
    button.addEventListener("keydown", function (e) {
      if (e.key === "ArrowDown") {
        e.preventDefault();
        closeAll(button);
        setOpen(button, true);
        var items = links(button);
        if (items.length) { items[0].focus(); }
      }
    });
    var menu = menuOf(button);
    if (!menu) { return; }
    menu.addEventListener("keydown", function (e) {
      if (e.key !== "ArrowDown" && e.key !== "ArrowUp") { return; }
      var items = links(button);
      var i = items.indexOf(document.activeElement);
      if (i < 0) { return; }
      e.preventDefault();
      var next = e.key === "ArrowDown" ? Math.min(items.length - 1, i + 1) : i - 1;
      if (next < 0) { button.focus(); } else { items[next].focus(); }
    });
  });

  document.addEventListener("keydown", function (e) {
    if (e.key !== "Escape") { return; }
    var open = toggles.filter(isOpen);
    if (!open.length) { return; }
    open.forEach(function (b) { setOpen(b, false); });
    // Focus goes back to the button of the menu it was in (or the last one opened).
    var owner = open.filter(function (b) { var m = menuOf(b); return m && m.contains(document.activeElement); })[0];
    (owner || open[open.length - 1]).focus();
  });
  document.addEventListener("click", function (e) {
    toggles.forEach(function (b) {
      var wrapper = b.parentElement;
      if (isOpen(b) && wrapper && !wrapper.contains(e.target)) { setOpen(b, false); }
    });
  });
  document.addEventListener("focusin", function (e) {
    toggles.forEach(function (b) {
      var wrapper = b.parentElement;
      if (isOpen(b) && wrapper && !wrapper.contains(e.target)) { setOpen(b, false); }
    });
  });

  // --- 2. busy buttons ----------------------------------------------------------------------
  function markBusy(button) {
    if (!button || button.dataset.busy) { return function () {}; }
    button.dataset.busy = "1";
    button.setAttribute("aria-busy", "true");
    var timer = window.setTimeout(function () {
      button.classList.add("is-working");
      var note = document.createElement("span");
      note.className = "working-note";
      note.setAttribute("role", "status");
      note.textContent = "working…";
      button.insertAdjacentElement("afterend", note);
    }, SPINNER_AFTER_MS);
    return function done() {
      window.clearTimeout(timer);
      delete button.dataset.busy;
      button.removeAttribute("aria-busy");
      button.classList.remove("is-working");
      var next = button.nextElementSibling;
      if (next && next.classList.contains("working-note")) { next.remove(); }
    };
  }

  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (!(form instanceof HTMLFormElement) || form.hasAttribute("data-no-busy")) { return; }
    if (form.dataset.submitting) {  // a second click while the first submission is on its way
      e.preventDefault();
      return;
    }
    if (e.defaultPrevented) { return; }  // the page's own script handles it (and its progress)
    form.dataset.submitting = "1";
    // Not `disabled`: a disabled submitter would drop its name=value from the submitted data.
    markBusy(e.submitter || form.querySelector("button:not([type=button]), input[type=submit]"));
  });
  // Back/forward cache: a page restored after a submission must be usable again.
  window.addEventListener("pageshow", function (e) {
    if (!e.persisted) { return; }
    document.querySelectorAll("form[data-submitting]").forEach(function (f) { delete f.dataset.submitting; });
    document.querySelectorAll("[aria-busy=true]").forEach(function (b) {
      delete b.dataset.busy; b.removeAttribute("aria-busy"); b.classList.remove("is-working");
    });
    document.querySelectorAll(".working-note").forEach(function (n) { n.remove(); });
  });

  // --- 3. helpers for pages with their own requests ------------------------------------------
  window.site = {
    /** Disable `button` until `promise` settles; spinner after 300 ms. Returns the promise. */
    busy: function (button, promise) {
      var done = markBusy(button);
      if (button) { button.disabled = true; }
      return Promise.resolve(promise).finally(function () {
        done();
        if (button) { button.disabled = false; }
      });
    },
    /** Show `message` in `container` as an inline error (or clear it with an empty message). */
    showError: function (container, message) {
      if (!container) { return; }
      container.textContent = message || "";
      container.hidden = !message;
      if (message) { container.setAttribute("role", "alert"); }
    },
    /** The CSRF token Django set in the csrftoken cookie (for X-CSRFToken). */
    csrfToken: function () {
      var m = document.cookie.match(/(?:^|; )csrftoken=([^;]+)/);
      return m ? decodeURIComponent(m[1]) : "";
    }
  };
}());
