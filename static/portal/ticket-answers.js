// While the student describes her problem, show the help center's answers that match it.
// Without JavaScript the page still works: the answers appear after she sends the form.
(function () {
  "use strict";
  var box = document.getElementById("ticket-answers");
  if (!box || !window.fetch) { return; }
  var fields = ["id_subject", "id_description"].map(function (id) { return document.getElementById(id); })
    .filter(Boolean);
  var timer = null;
  var last = "";
  function look() {
    var text = fields.map(function (field) { return field.value; }).join(" ").trim().slice(0, 200);
    if (text === last) { return; }
    last = text;
    if (text.length < 2) { box.innerHTML = ""; return; }
    fetch(box.dataset.url + "?q=" + encodeURIComponent(text), { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : ""; })
      .then(function (html) { if (text === last) { box.innerHTML = html; } })
      .catch(function () { /* the form works without the answers */ });
  }
  fields.forEach(function (field) {
    field.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(look, 400);
    });
  });
}());
