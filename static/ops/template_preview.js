/* Notification template editor: a live preview while typing. The text goes (POST, with the
   form's CSRF token) to notifications.admin.live_preview_view, which renders it with the
   event's sample values through the real sandbox and answers the text or the problems; SMS
   answers carry their length and message count. Without JavaScript the editor works as before
   (the sample shown after saving, the preview page). */
(function () {
  "use strict";

  function start() {
    var panel = document.getElementById("live-preview");
    var form = panel && panel.closest("form");
    var body = document.getElementById("id_body");
    if (!panel || !form || !body) {
      return;
    }
    var fields = ["event", "channel", "subject", "body"].map(function (name) {
      return document.getElementById("id_" + name);
    });
    var token = form.querySelector("input[name=csrfmiddlewaretoken]");
    var byId = function (id) { return document.getElementById(id); };
    var errors = byId("live-preview-errors");
    var phone = byId("live-phone");
    var email = byId("live-email");
    var sms = byId("live-sms");
    var timer = null;
    var asked = 0;
    panel.hidden = false;

    function value(field) {
      return field ? field.value : "";
    }

    function show(answer) {
      var inner = panel.querySelector(".live-preview-inner");
      inner.classList.remove("live-stale");
      if (!answer.ok) {
        var list = document.createElement("ul");
        (answer.places && answer.places.length ? answer.places : []).concat(
          answer.errors.map(function (error) { return error.label + ": " + error.message; })
        ).forEach(function (text) {
          var item = document.createElement("li");
          item.textContent = text;
          list.appendChild(item);
        });
        errors.replaceChildren(list);
        errors.hidden = false;
        inner.classList.add("live-stale");
        return;
      }
      errors.hidden = true;
      var isEmail = answer.kind === "email";
      phone.hidden = isEmail;
      email.hidden = !isEmail;
      if (isEmail) {
        byId("live-email-subject").textContent = answer.subject;
        byId("live-email-body").textContent = answer.body;
      } else {
        var channel = fields[1];
        byId("live-phone-channel").textContent =
          channel && channel.selectedIndex >= 0 ? channel.options[channel.selectedIndex].text : answer.channel;
        byId("live-phone-subject").textContent = answer.channel === "sms" ? "" : answer.subject;
        byId("live-phone-body").textContent = (answer.sms ? answer.sms.signature : "") + answer.body;
      }
      sms.hidden = !answer.sms;
      if (answer.sms) {
        var count = byId("live-sms-count");
        count.textContent = answer.sms.text;
        count.dataset.characters = answer.sms.characters;
        count.dataset.segments = answer.sms.segments;
        count.classList.toggle("live-sms-long", answer.sms.segments > 1);
        byId("live-sms-rule").textContent = answer.sms.rule;
      }
    }

    function refresh() {
      var data = new FormData();
      ["event", "channel", "subject", "body"].forEach(function (name, i) { data.set(name, value(fields[i])); });
      var mine = ++asked;
      fetch(panel.dataset.url, {
        method: "POST",
        body: data,
        credentials: "same-origin",
        headers: { "X-CSRFToken": token ? token.value : "", Accept: "application/json" },
      })
        .then(function (response) {
          if (!response.ok) {
            throw new Error(String(response.status));
          }
          return response.json();
        })
        .then(function (answer) {
          if (mine === asked) {
            show(answer);
          }
        })
        .catch(function () {
          panel.querySelector(".live-preview-inner").classList.add("live-stale");
        });
    }

    function later() {
      window.clearTimeout(timer);
      timer = window.setTimeout(refresh, 300);
    }

    fields.forEach(function (field) {
      if (field) {
        field.addEventListener("input", later);
        field.addEventListener("change", later);
      }
    });
    refresh();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
