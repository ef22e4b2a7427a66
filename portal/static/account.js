/* The self-care page: follows an M-Pesa prompt live (the portal's purchase stream) and, once
   paid, reloads the page so the new due date shows. */
(function () {
  "use strict";
  var el = document.getElementById("pay-status");
  if (!el || !window.EventSource) return;
  var T = JSON.parse((document.getElementById("portal-strings") || {}).textContent || "{}");
  var source = new EventSource("/api/v1/portal/purchases/" + el.dataset.purchase + "/events");
  source.addEventListener("status", function (ev) {
    var p = JSON.parse(ev.data);
    el.dataset.status = p.status;
    if (p.status === "failed") { el.textContent = p.reason || T.try_again; source.close(); }
    if (p.status === "paid") { source.close(); window.location.replace("/account"); }
  });
})();
