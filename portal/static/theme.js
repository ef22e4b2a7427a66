/* Runs in <head>, before the page paints, so a phone in dark mode never flashes white. A file
   of its own: the Content-Security-Policy allows no inline script. */
try { var m = localStorage.getItem("theme"); if (m) document.documentElement.setAttribute("data-bs-theme", m); } catch (e) { /* private mode */ }
