// The team inbox in the browser: keyboard shortcuts and live updates over SSE (the reply
// box's counter is limits.js, typing and saved replies inbox_compose.js). Pages work
// without it (plain links and forms).
(function () {
  "use strict";

  function typing(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }

  // --- the list: j/k, Enter, a, ? -----------------------------------------------------------
  function setupList(tbody) {
    var current = null;
    function rows() { return Array.prototype.slice.call(tbody.querySelectorAll("tr[data-conversation]")); }
    function select(row) {
      if (current) { current.classList.remove("current"); current.removeAttribute("aria-selected"); }
      current = row;
      if (row) {
        row.classList.add("current");
        row.setAttribute("aria-selected", "true");
        var link = row.querySelector("a");
        if (link) { link.focus({ preventScroll: true }); }
        row.scrollIntoView({ block: "nearest" });
      }
    }
    document.addEventListener("keydown", function (event) {
      if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) { return; }
      var list = rows();
      var index = current ? list.indexOf(current) : -1;
      if (event.key === "j") { select(list[Math.min(index + 1, list.length - 1)] || null); }
      else if (event.key === "k") { select(list[Math.max(index - 1, 0)] || null); }
      else if (event.key === "Enter" && current) { window.location.href = current.dataset.href; }
      else if (event.key === "a" && current) { assignToMe(current); }
      else if (event.key === "?") {
        var help = document.getElementById("shortcuts");
        if (help) { help.open = !help.open; }
      } else { return; }
      event.preventDefault();
    });

    function assignToMe(row) {
      var body = new URLSearchParams({ person: "me" });
      fetch(row.dataset.href + "/assign", {
        method: "POST", body: body, credentials: "same-origin", headers: { "HX-Request": "true" }
      }).then(function () { refresh([row.dataset.conversation]); });
    }

    function refresh(ids) {
      var url = tbody.dataset.rows + (tbody.dataset.rows.indexOf("?") < 0 ? "?" : "&") + "ids=" + ids.join(",");
      fetch(url, { credentials: "same-origin" }).then(function (response) {
        return response.ok ? response.text() : null;
      }).then(function (html) {
        if (html === null) { return; }
        var template = document.createElement("template");
        template.innerHTML = html;
        ids.forEach(function (id) {
          var fresh = template.content.querySelector('tr[data-conversation="' + id + '"]');
          var old = tbody.querySelector('tr[data-conversation="' + id + '"]');
          if (old && fresh) {
            if (old === current) { fresh.classList.add("current"); current = fresh; }
            old.replaceWith(fresh);
          } else if (old) {
            if (old === current) { current = null; }
            old.remove();
          } else if (fresh && tbody.hasAttribute("data-prepend")) {
            tbody.prepend(fresh);
            tbody.closest("table").hidden = false;
          }
        });
      });
    }

    live(tbody.dataset.events, function (data) { refresh([String(data.conversation)]); });
  }

  // --- one conversation: live thread and details, presence, characters left ---------------------
  function setupConversation(box) {
    var presence = document.getElementById("presence");
    var pending = false;
    function reload() {
      if (pending) { return; }
      pending = true;
      fetch(box.dataset.live, { credentials: "same-origin" }).then(function (response) {
        return response.ok ? response.text() : null;
      }).then(function (html) {
        pending = false;
        if (html !== null) { box.innerHTML = html; }
      }, function () { pending = false; });
    }
    live(box.dataset.events, reload, function (data) {
      var names = data.names || [];
      presence.textContent = names.length ? box.dataset.viewingLabel.replace("{names}", names.join(", ")) : "";
      // The reply box (inbox_compose.js) shows who is writing.
      document.dispatchEvent(new CustomEvent("inbox:presence", { detail: data }));
    });
  }

  // --- SSE: an EventSource reconnects by itself and sends Last-Event-ID ------------------------
  function live(url, onConversation, onPresence) {
    if (!url || !window.EventSource) { return; }
    var status = document.getElementById("live-status");
    var source = new EventSource(url);
    source.addEventListener("conversation", function (event) { onConversation(JSON.parse(event.data)); });
    if (onPresence) {
      source.addEventListener("presence", function (event) { onPresence(JSON.parse(event.data)); });
    }
    source.addEventListener("open", function () { document.body.dataset.live = "open"; if (status) { status.textContent = ""; } });
    source.addEventListener("error", function () { document.body.dataset.live = "reconnecting"; });
    window.addEventListener("pagehide", function () { source.close(); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var tbody = document.getElementById("inbox-rows");
    if (tbody) { setupList(tbody); }
    var box = document.getElementById("conversation-live");
    if (box) { setupConversation(box); }
  });
})();
