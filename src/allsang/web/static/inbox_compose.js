// The reply box: who else is writing, the typing beat we send, saved replies inserted at the
// cursor, and the counter following the chosen mode (reply or direct message). The box works
// without it: the saved-reply picker is then a plain GET form that pre-fills the box.
(function () {
  "use strict";

  var BEAT_MS = 4000;   // re-announce while typing (the server's entry lapses after 8 s)
  var IDLE_MS = 6000;   // no key for this long: we stopped writing

  function post(url, fields) {
    return fetch(url, {
      method: "POST", body: new URLSearchParams(fields), credentials: "same-origin",
      headers: { "HX-Request": "true" }
    });
  }

  function setupTyping(form, textarea) {
    var url = form.dataset.typing;
    var lastBeat = 0;
    var idle = null;
    function stop() {
      if (!lastBeat) { return; }
      lastBeat = 0;
      post(url, { on: "0" });
    }
    textarea.addEventListener("input", function () {
      var now = Date.now();
      if (now - lastBeat > BEAT_MS) { lastBeat = now; post(url, { on: "1" }); }
      clearTimeout(idle);
      idle = setTimeout(stop, IDLE_MS);
    });
    textarea.addEventListener("blur", function () { clearTimeout(idle); stop(); });
    window.addEventListener("pagehide", stop);
  }

  function setupWriters() {
    var typing = document.getElementById("typing");
    if (!typing) { return; }
    document.addEventListener("inbox:presence", function (event) {
      var names = (event.detail && event.detail.typing) || [];
      typing.textContent = names.length ? typing.dataset.label.replace("{names}", names.join(", ")) : "";
    });
  }

  function setupModes(form, textarea) {
    form.querySelectorAll('input[name="mode"][type="radio"]').forEach(function (radio) {
      radio.addEventListener("change", function () {
        if (!radio.checked) { return; }
        if (radio.dataset.limit) {
          textarea.dataset.limit = radio.dataset.limit;
          textarea.dataset.counting = radio.dataset.counting;
        } else {
          delete textarea.dataset.limit;
        }
        textarea.dispatchEvent(new Event("limits:changed"));
      });
    });
  }

  function insertAtCursor(textarea, text) {
    var start = textarea.selectionStart, end = textarea.selectionEnd;
    textarea.setRangeText(text, start, end, "end");
    textarea.dispatchEvent(new Event("input", { bubbles: true }));
    textarea.focus();
  }

  function setupSavedReplies(picker, textarea) {
    picker.addEventListener("submit", function (event) {
      event.preventDefault();
      var id = picker.querySelector("select").value;
      fetch(picker.dataset.textUrl + encodeURIComponent(id), { credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.text() : null; })
        .then(function (text) { if (text !== null) { insertAtCursor(textarea, text); } });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    setupWriters();
    var form = document.getElementById("reply-form");
    var textarea = document.getElementById("reply-text");
    if (!form || !textarea) { return; }
    setupTyping(form, textarea);
    setupModes(form, textarea);
    var picker = document.getElementById("saved-reply-picker");
    if (picker) { setupSavedReplies(picker, textarea); }
  });
})();
