/* The portal's service worker: the static assets (CSS, JS, icons) come from the cache so the
   portal opens fast on a slow hotspot link. Pages and everything under /api/ (payment status
   above all) always go to the network and are never cached. */
var CACHE = "mnetifi-portal-v2";
var ASSETS = ["static/bootstrap.min.css", "static/portal.css", "static/portal.js", "static/theme.js",
              "static/icon-192.png", "static/icon-512.png"];

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(CACHE).then(function (cache) {
    return cache.addAll(ASSETS.map(function (a) { return new URL(a, self.registration.scope).href; }));
  }));
  self.skipWaiting();
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (keys) {
    return Promise.all(keys.filter(function (k) { return k !== CACHE; }).map(function (k) { return caches.delete(k); }));
  }));
  self.clients.claim();
});

self.addEventListener("fetch", function (event) {
  var url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.pathname.indexOf("/hotspotportal/static/") !== 0) {
    return;  // network only: pages, the API, payment status streams
  }
  event.respondWith(caches.match(event.request).then(function (hit) {
    return hit || fetch(event.request);
  }));
});
