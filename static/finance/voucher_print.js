// The voucher page's print button: the browser's print dialog, laid out by admin_finance.css's
// print rules as a paper voucher (记账凭证). A static file, as the Content-Security-Policy requires.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("[data-voucher-print]").forEach(function (button) {
    button.addEventListener("click", function (event) {
      event.preventDefault();
      window.print();
    });
  });
});
