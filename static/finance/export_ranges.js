// The export page's quick ranges (本月, 上月, ...): a click fills the first and last day from the
// link's data attributes (computed by the server on Shanghai's calendar) instead of reloading the
// page; without JavaScript the link reloads the form with the same days (?range=...).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var first = document.getElementById("id_date_from");
  var last = document.getElementById("id_date_to");
  if (!first || !last) {
    return;
  }
  var links = document.querySelectorAll("a[data-range-from]");
  links.forEach(function (link) {
    link.addEventListener("click", function (event) {
      event.preventDefault();
      first.value = link.dataset.rangeFrom;
      last.value = link.dataset.rangeTo;
      links.forEach(function (other) {
        other.classList.toggle("selected", other === link);
        if (other === link) {
          other.setAttribute("aria-current", "true");
        } else {
          other.removeAttribute("aria-current");
        }
      });
    });
  });
});
