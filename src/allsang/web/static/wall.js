// The wall screen (see allsang/web/routes/display.py for the stream contract). Applies the
// server-rendered, escaped fragments from the SSE stream; keeps what it shows while the server
// is away; reconnects with backoff; never holds more than data-max posts.
(function () {
  "use strict";
  var root = document.querySelector("[data-wall-events]");
  if (!root) return;
  var posts = root.querySelector(".wall-posts");
  var pins = root.querySelector(".wall-pins");
  var max = parseInt(root.dataset.max, 10) || 30;
  var last = root.dataset.after || "0";
  var delay = 1000;
  var source = null;

  function fragment(html) {
    var holder = document.createElement("template");
    holder.innerHTML = html; // escaped by the server; a template runs no scripts
    return holder.content.firstElementChild;
  }
  function drop(id) {
    var old = document.getElementById("post-" + id);
    if (old) old.remove();
  }
  function trim() {
    while (pins.children.length > Math.ceil(max / 3)) pins.lastElementChild.remove();
    while (posts.children.length + pins.children.length > max && posts.lastElementChild) {
      posts.lastElementChild.remove();
    }
  }
  function place(into, event) {
    var card = fragment(event.data);
    if (!card) return;
    drop(card.dataset.id);
    into.prepend(card);
    trim();
  }
  function seen(event) {
    if (event.lastEventId) last = event.lastEventId;
    delay = 1000;
  }
  function retry() {
    source.close();
    setTimeout(connect, delay);
    delay = Math.min(delay * 2, 60000);
  }
  function connect() {
    var url = root.dataset.wallEvents;
    source = new EventSource(url + (url.indexOf("?") < 0 ? "?" : "&") + "after=" + last);
    source.addEventListener("add", function (e) { seen(e); place(posts, e); });
    source.addEventListener("pin", function (e) { seen(e); place(pins, e); });
    source.addEventListener("remove", function (e) { seen(e); drop(e.data.trim()); });
    // The token no longer opens the wall (revoked, replaced, or the wall deleted): stop for
    // good and say so, large, in the wall's language (the page carries the message).
    source.addEventListener("revoked", function () {
      source.close();
      var message = document.getElementById("wall-invalid");
      if (message) {
        document.body.replaceChildren(message.content.cloneNode(true));
      } else {
        posts.replaceChildren();
        pins.replaceChildren();
      }
    });
    // The browser retries by itself after a dropped connection; a refused one (an error
    // status, a restarting server behind a proxy) closes the source, so retry here.
    source.onerror = function () {
      if (source.readyState === EventSource.CLOSED) retry();
    };
  }
  // An image the server cannot give (refused type, too large, gone) leaves no broken icon:
  // those that failed before this script ran, and those that fail later.
  function unbroken(image) {
    (image.closest(".wall-media") || image).remove();
  }
  root.querySelectorAll("img").forEach(function (image) {
    if (image.complete && image.naturalWidth === 0) unbroken(image);
  });
  root.addEventListener("error", function (event) {
    if (event.target.tagName === "IMG") unbroken(event.target);
  }, true);
  if (root.classList.contains("wall-spotlight")) {
    setInterval(function () {
      if (posts.children.length > 1) posts.append(posts.firstElementChild);
    }, 10000);
  }
  connect();
})();
