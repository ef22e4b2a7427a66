/* The captive portal's behaviour: pay by M-Pesa with a live status (Server-Sent Events), log
   the phone in through the router (CHAP computed here when the router asks for it), voucher
   and M-Pesa-code entry, the countdown while online, dark mode and the service worker. */
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  // The page's strings come as a JSON data block: the CSP allows no inline script.
  var T = JSON.parse(($("portal-strings") || {}).textContent || "{}");
  var base = document.body.dataset.base;

  // ---------------------------------------------------------------- dark mode
  var toggle = $("theme-toggle");
  if (toggle) toggle.addEventListener("click", function () {
    var root = document.documentElement;
    var next = root.getAttribute("data-bs-theme") === "dark" ? "light" : "dark";
    root.setAttribute("data-bs-theme", next);
    try { localStorage.setItem("theme", next); } catch (e) { /* private mode */ }
  });

  // ---------------------------------------------------------------- MD5 (RFC 1321), bytes in
  function md5(bytes) {
    var K = [], S = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21], i;
    for (i = 0; i < 64; i++) K[i] = Math.floor(Math.abs(Math.sin(i + 1)) * 4294967296) | 0;
    var n = bytes.length, words = ((n + 8) >> 6) + 1, M = new Array(words * 16).fill(0);
    for (i = 0; i < n; i++) M[i >> 2] |= bytes[i] << ((i % 4) * 8);
    M[n >> 2] |= 0x80 << ((n % 4) * 8);
    M[words * 16 - 2] = n * 8;
    var a0 = 0x67452301, b0 = 0xefcdab89 | 0, c0 = 0x98badcfe | 0, d0 = 0x10325476;
    for (var blk = 0; blk < M.length; blk += 16) {
      var A = a0, B = b0, C = c0, D = d0;
      for (i = 0; i < 64; i++) {
        var F, g, r = (i >> 4) * 4 + (i % 4);
        if (i < 16) { F = (B & C) | (~B & D); g = i; }
        else if (i < 32) { F = (D & B) | (~D & C); g = (5 * i + 1) % 16; }
        else if (i < 48) { F = B ^ C ^ D; g = (3 * i + 5) % 16; }
        else { F = C ^ (B | ~D); g = (7 * i) % 16; }
        var x = (A + F + K[i] + M[blk + g]) | 0;
        A = D; D = C; C = B;
        B = (B + ((x << S[r]) | (x >>> (32 - S[r])))) | 0;
      }
      a0 = (a0 + A) | 0; b0 = (b0 + B) | 0; c0 = (c0 + C) | 0; d0 = (d0 + D) | 0;
    }
    return [a0, b0, c0, d0].map(function (w) {
      var h = "";
      for (var j = 0; j < 4; j++) h += ("0" + ((w >>> (j * 8)) & 255).toString(16)).slice(-2);
      return h;
    }).join("");
  }
  function hexBytes(hex) { var out = []; for (var i = 0; i < hex.length; i += 2) out.push(parseInt(hex.substr(i, 2), 16)); return out; }
  function textBytes(s) { return Array.from(new TextEncoder().encode(s)); }
  window.mnetifiMd5 = function (s) { return md5(textBytes(s)); };  // for tests

  // ---------------------------------------------------------------- the router's context
  function routerContext() {
    var el = $("router"), ctx = null;
    if (el && el.dataset.login) {
      ctx = { login: el.dataset.login, orig: el.dataset.orig, chapId: el.dataset.chapId,
              chapChallenge: el.dataset.chapChallenge, mac: el.dataset.mac };
      try { sessionStorage.setItem("router", JSON.stringify(ctx)); } catch (e) { /* ignore */ }
      return ctx;
    }
    try { ctx = JSON.parse(sessionStorage.getItem("router") || "null"); } catch (e) { ctx = null; }
    return ctx;
  }
  var router = routerContext();

  function loginThroughRouter(code, onProblem) {
    if (!router || !router.login) { onProblem(T.no_router); return; }
    try { localStorage.setItem("voucher", code); } catch (e) { /* ignore */ }
    var password = code;
    if (router.chapId) {
      password = md5(hexBytes(router.chapId).concat(textBytes(code), hexBytes(router.chapChallenge)));
    }
    var form = document.createElement("form");
    form.method = "post"; form.action = router.login; form.hidden = true;
    [["username", code], ["password", password], ["dst", router.orig || ""], ["popup", "true"]].forEach(function (f) {
      var input = document.createElement("input"); input.type = "hidden"; input.name = f[0]; input.value = f[1];
      form.appendChild(input);
    });
    document.body.appendChild(form);
    form.submit();
  }

  function api(method, path, body) {
    var headers = body ? { "Content-Type": "application/json" } : {};
    if (router && router.mac) headers["X-Client-MAC"] = router.mac;  // limits count per phone
    return fetch("/api/v1/portal" + path, {
      method: method, headers: headers,
      body: body ? JSON.stringify(body) : undefined, cache: "no-store"
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (!r.ok) throw new Error(data.detail && typeof data.detail === "string" ? data.detail : T.try_again);
        return data;
      });
    });
  }
  function show(el, text) { if (!el) return; el.textContent = text; el.hidden = !text; }

  // ---------------------------------------------------------------- buying
  var selected = null, quote = null;
  document.querySelectorAll(".package").forEach(function (btn) {
    btn.addEventListener("click", function () {
      document.querySelectorAll(".package").forEach(function (b) { b.classList.remove("active"); });
      btn.classList.add("active");
      selected = { id: +btn.dataset.planId, price: +btn.dataset.price, name: btn.dataset.name };
      quote = null;
      $("pay-package").textContent = selected.name;
      $("amount").textContent = "KES " + selected.price;
      show($("promo-note"), "");
      $("pay-form").hidden = false;
      $("phone").focus();
      // A promo code typed earlier applies to this package too: show what it will cost.
      if ($("promo").value.trim()) $("apply-promo").click();
    });
  });

  var applyPromo = $("apply-promo");
  if (applyPromo) applyPromo.addEventListener("click", function () {
    if (!selected) return;
    var code = $("promo").value.trim();
    api("POST", "/quote", { plan_id: selected.id, promo_code: code || null }).then(function (q) {
      quote = q;
      $("amount").textContent = "KES " + q.amount;
      show($("promo-note"), q.discount ? "(-" + q.discount + ")" : "");
    }).catch(function (e) { quote = null; $("amount").textContent = "KES " + selected.price; show($("promo-note"), e.message); });
  });

  function watch(purchase, onPaid, statusEl) {
    var box = $("status"), text = $("status-text");
    function render(p) {
      if (box) { box.hidden = false; box.dataset.status = p.status; }
      if (statusEl) statusEl.dataset.status = p.status;
      if (p.status === "pending") show(statusEl || text, T.waiting);
      if (p.status === "failed") {
        show(statusEl || text, p.reason);
        if ($("retry")) $("retry").hidden = false;
      }
      if (p.status === "paid" && p.voucher) { onPaid(p.voucher.code, p); }
    }
    render(purchase);
    if (purchase.status !== "pending") return;
    var source = new EventSource("/api/v1/portal/purchases/" + purchase.id + "/events");
    source.addEventListener("status", function (ev) {
      var p = JSON.parse(ev.data); render(p);
      if (p.status !== "pending") source.close();
    });
    source.onerror = function () {
      if (source.readyState !== 2) return;  // the browser reconnects by itself (retry: 5 s)
      // Refused (429: too many pages open) or gone for good: ask every 5 s instead.
      source.close();
      setTimeout(function poll() {
        api("GET", "/purchases/" + purchase.id).then(function (p) {
          render(p);
          if (p.status === "pending") setTimeout(poll, 5000);
        }).catch(function () { setTimeout(poll, 5000); });
      }, 5000);
    };
  }

  function paid(code) {
    $("pay-form").hidden = true;  // paid: a second tap must not start a second charge
    show($("status-text"), T.paid);
    $("voucher-box").hidden = false;
    $("voucher-code").textContent = code;
    $("voucher-qr").src = base + "/qr/" + code + ".svg";
    if (router && router.login) {
      show($("status-text"), T.logging_in + " " + T.paid);
      setTimeout(function () { loginThroughRouter(code, function () {}); }, 1500);
    }
  }

  var payForm = $("pay-form");
  if (payForm) payForm.addEventListener("submit", function (ev) {
    ev.preventDefault();
    if (!selected) return;
    $("pay-button").disabled = true;
    $("retry").hidden = true;
    $("voucher-box").hidden = true;
    var body = { plan_id: selected.id, phone: $("phone").value };
    var promo = $("promo").value.trim();
    if (promo) body.promo_code = promo;
    if (router && router.mac) body.client_mac = router.mac;
    if ($("offers").checked) body.offers = true;  // never pre-ticked: the customer's choice
    body.language = document.documentElement.lang === "sw" ? "sw" : "en";
    api("POST", "/purchases", body).then(function (p) { watch(p, paid); })
      .catch(function (e) { $("status").hidden = false; $("status").dataset.status = "error"; show($("status-text"), e.message); $("retry").hidden = false; })
      .finally(function () { $("pay-button").disabled = false; });
  });
  var retry = $("retry");
  if (retry) retry.addEventListener("click", function () { $("status").hidden = true; $("phone").focus(); });

  // ---------------------------------------------------------------- vouchers and claims
  function useVoucher(code, errorEl) {
    code = code.trim().toUpperCase();
    api("GET", "/vouchers/" + encodeURIComponent(code)).then(function (v) {
      if (v.state !== "unused" && v.state !== "active") { show(errorEl, v.reason || T.expired); return; }
      loginThroughRouter(code, function (msg) { show(errorEl, msg); });
    }).catch(function (e) { show(errorEl, e.message); });
  }
  var voucherForm = $("voucher-form");
  if (voucherForm) voucherForm.addEventListener("submit", function (ev) {
    ev.preventDefault(); useVoucher($("code").value, $("voucher-error"));
  });
  var qr = $("qr-connect");
  if (qr) {
    qr.addEventListener("click", function () { useVoucher(qr.dataset.code, $("voucher-error")); });
    if (router && router.login) useVoucher(qr.dataset.code, $("voucher-error"));
  }
  var claimForm = $("claim-form");
  if (claimForm) claimForm.addEventListener("submit", function (ev) {
    ev.preventDefault();
    show($("claim-error"), "");
    api("POST", "/claims", { receipt: $("receipt").value.trim(), plan_id: +$("claim-plan").value })
      .then(function (c) { $("status").hidden = false; $("status").dataset.status = "paid"; paid(c.voucher.code); })
      .catch(function (e) { show($("claim-error"), e.message); });
  });

  // ---------------------------------------------------------------- while online
  var online = $("online");
  function clock(s) {
    var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60), x = s % 60;
    var hms = [h, m, x].map(function (v) { return ("0" + v).slice(-2); }).join(":");
    return (d ? d + " " + T.days + " " : "") + hms;
  }
  function bytes(b) { return b === null || b === undefined ? T.unlimited : (b / 1e9).toFixed(2) + " GB"; }
  if (online) {
    var code = online.dataset.code;
    try { if (!code) code = localStorage.getItem("voucher") || ""; else localStorage.setItem("voucher", code); } catch (e) { /* ignore */ }
    $("online-code").textContent = code;
    var left = null, until = 0;
    // The voucher's own usage warning and its network's outages, as each refresh finds them.
    var notify = function (notices) {
      var box = $("live-notices");
      if (!box) return;
      box.textContent = "";
      notices.forEach(function (n) {
        var div = document.createElement("div");
        div.className = "alert notice " + (n.kind === "usage" ? "alert-info" : "alert-warning");
        div.dataset.kind = n.kind;
        div.setAttribute("role", "status");
        div.textContent = n.kind === "usage"
          ? (n.resource === "time" ? T.used_time : T.used_data).replace("{percent}", n.percent)
          : n.text;
        box.appendChild(div);
      });
    };
    var refresh = function () {
      if (!code) { show($("online-error"), T.no_router); return; }
      api("GET", "/vouchers/" + encodeURIComponent(code)).then(function (v) {
        left = v.seconds_left; until = Date.now() + left * 1000;
        $("package").textContent = v.package;
        $("data-left").textContent = bytes(v.bytes_left);
        $("devices").textContent = v.devices_online + " / " + v.device_limit;
        online.dataset.state = v.state;
        if (v.state !== "active" && v.state !== "unused") show($("online-error"), v.reason || T.expired);
        notify(v.notices || []);
      }).catch(function (e) { show($("online-error"), e.message); });
    };
    refresh();
    setInterval(refresh, 30000);
    // Back to the page (the phone unlocked, the tab chosen again): what is left now, at once.
    document.addEventListener("visibilitychange", function () { if (!document.hidden) refresh(); });
    setInterval(function () {
      if (left === null) return;
      var s = Math.max(0, Math.round((until - Date.now()) / 1000));
      $("countdown").textContent = clock(s);
      $("countdown").dataset.seconds = s;
    }, 1000);
    $("buy-more-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var status = $("more-status");
      api("POST", "/purchases", { plan_id: +$("more-plan").value, phone: $("more-phone").value, voucher_code: code })
        .then(function (p) { watch(p, function () { show(status, T.paid + " " + code); refresh(); }, status); })
        .catch(function (e) { show(status, e.message); });
    });
  }

  // ---------------------------------------------------------------- installable (PWA)
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register(base + "/sw.js", { scope: base + "/" }).catch(function () { /* optional */ });
  }
})();
