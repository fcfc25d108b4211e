// Characters left as you type, counted the way the network counts (the browser half of
// allsang/connectors/limits.py; the server checks again and has the last word).
//
// Markup: <textarea data-limit="500" data-counting="mastodon|graphemes|x" data-url-length="23"
//   data-counter="ID of the element that shows the count"
//   data-left-label="{count} characters left" data-over-label="{count} characters too many">
// The counter gets the class "over" when the text is too long.
(function () {
  "use strict";

  var segmenter = window.Intl && Intl.Segmenter ? new Intl.Segmenter(undefined, { granularity: "grapheme" }) : null;
  var URL = /https?:\/\/[^\s<>"]+[^\s<>".,:;!?)\]'}]/g;
  var REMOTE_MENTION = /(^|[^\w@])(@[\w.-]+)@[\w.-]+\.\w+/g;
  var EMOJI = /\p{Extended_Pictographic}/u;
  // twitter-text v3: code points in these ranges weigh 1, all others 2.
  var LIGHT = [[0, 4351], [8192, 8205], [8208, 8223], [8242, 8247]];

  function clusters(text) {
    if (segmenter) { return Array.from(segmenter.segment(text), function (s) { return s.segment; }); }
    return Array.from(text);
  }

  function weight(cluster) {
    if (EMOJI.test(cluster)) { return 2; }
    var total = 0;
    Array.from(cluster).forEach(function (ch) {
      var cp = ch.codePointAt(0);
      total += LIGHT.some(function (r) { return cp >= r[0] && cp <= r[1]; }) ? 1 : 2;
    });
    return total;
  }

  function count(text, counting, urlLength) {
    if (counting === "mastodon") {
      text = text.replace(REMOTE_MENTION, "$1$2").replace(URL, "x".repeat(urlLength));
      return clusters(text).length;
    }
    if (counting === "x") {
      text = text.normalize("NFC");  // as twitter-text does before weighing
      var urls = 0;
      text = text.replace(URL, function () { urls += 1; return ""; });
      return clusters(text).reduce(function (sum, c) { return sum + weight(c); }, urls * urlLength);
    }
    return clusters(text).length;
  }

  function attach(textarea) {
    var counter = document.getElementById(textarea.dataset.counter);
    if (!counter) { return; }
    function update() {
      var limit = parseInt(textarea.dataset.limit, 10);
      if (!limit) { counter.textContent = ""; counter.classList.remove("over"); return; }
      var left = limit - count(textarea.value, textarea.dataset.counting, parseInt(textarea.dataset.urlLength || "23", 10));
      counter.textContent = left >= 0
        ? textarea.dataset.leftLabel.replace("{count}", left)
        : textarea.dataset.overLabel.replace("{count}", -left);
      counter.classList.toggle("over", left < 0);
    }
    textarea.addEventListener("input", update);
    textarea.addEventListener("limits:changed", update);
    update();
  }

  window.AllsangLimits = { count: count, attach: attach };
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("textarea[data-counter]").forEach(attach);
  });
})();
