/* The voucher sheet's Print button (a file, not onclick="": the CSP allows no inline script). */
document.getElementById("print").addEventListener("click", function () { window.print(); });
