/* The dashboard's own script (the Content-Security-Policy allows no inline script; htmx.min.js
   is the only other): the dark-mode toggle, remembered per browser, "ask once" on destructive
   buttons, the session's CSRF token on every htmx request, and colour pickers that fill in a
   text field (the field is what the form sends, so it works without this script too). */
(function () {
  var root = document.documentElement;
  try {
    var saved = localStorage.getItem("theme");
    if (saved) root.setAttribute("data-bs-theme", saved);
  } catch (e) { /* private mode: no memory, the default theme */ }
  // htmx requests carry the session's CSRF token in a header, as forms carry it in a field.
  document.addEventListener("htmx:configRequest", function (event) {
    var meta = document.querySelector('meta[name="csrf-token"]');
    if (meta && meta.content) event.detail.headers["X-CSRF-Token"] = meta.content;
  });
  document.addEventListener("DOMContentLoaded", function () {
    var toggle = document.getElementById("theme-toggle");
    if (toggle) toggle.addEventListener("click", function () {
      var next = root.getAttribute("data-bs-theme") === "dark" ? "light" : "dark";
      root.setAttribute("data-bs-theme", next);
      try { localStorage.setItem("theme", next); } catch (e) { /* private mode */ }
    });
    // A one-time link's token travels in the fragment (#token=...), which no server or
    // Referer ever sees; the page's form takes it from there. A page shown again after a
    // refused password has it in the form already (the link is still unused).
    document.querySelectorAll("form[data-fragment-token]").forEach(function (form) {
      var match = /(?:^#|&)token=([A-Za-z0-9_-]+)/.exec(window.location.hash);
      if (match) form.elements.token.value = match[1];
      else if (!form.elements.token.value) document.getElementById("no-token").classList.remove("d-none");
    });
    // Live figures (the home page): the server sends the part's HTML again whenever it
    // changes; EventSource reconnects by itself after the stream's lifetime.
    var live = document.querySelector("[data-live]");
    if (live && window.EventSource) {
      var source = new EventSource(live.getAttribute("data-live"));
      source.addEventListener("figures", function (event) { live.innerHTML = event.data; });
      source.addEventListener("error", function () {
        if (source.readyState === EventSource.CLOSED) live.setAttribute("data-live-stopped", "");
      });
    }
    document.querySelectorAll("input[type=color][data-for]").forEach(function (picker) {
      var field = document.getElementById(picker.getAttribute("data-for"));
      if (!field) return;
      // The picker's own input event reaches the form too (the branding preview follows it).
      picker.addEventListener("input", function () { field.value = picker.value; });
      field.addEventListener("input", function () {
        if (/^#[0-9a-fA-F]{6}$/.test(field.value)) picker.value = field.value.toLowerCase();
      });
    });
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) event.preventDefault();
      });
    });
  });
})();
