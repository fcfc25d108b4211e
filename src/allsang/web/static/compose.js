// Composer: a text per chosen channel that follows the main text until edited by hand, a
// section per channel shown when the channel is ticked, and a live preview of each text
// (textContent only: nothing typed is ever parsed as HTML). limits.js keeps the counters.
(function () {
  "use strict";
  const body = document.getElementById("c-body");
  if (!body) return;
  const variants = Array.from(document.querySelectorAll("textarea.variant-text"));

  function preview(textarea) {
    const box = document.querySelector(`[data-preview-of="${textarea.id}"] .preview-text`);
    if (box) box.textContent = textarea.value;
  }
  function refresh(textarea) {
    textarea.dispatchEvent(new Event("input", { bubbles: true }));
  }
  const copy = document.getElementById("c-body-copy");
  body.addEventListener("input", () => {
    if (copy) copy.value = body.value;
    variants.forEach((textarea) => {
      if (textarea.dataset.followsBody === "true") {
        textarea.value = body.value;
        refresh(textarea);
      }
    });
  });
  variants.forEach((textarea) => {
    textarea.addEventListener("input", (event) => {
      if (event.isTrusted) textarea.dataset.followsBody = "false";
      preview(textarea);
    });
    preview(textarea);
  });
  document.querySelectorAll("input[data-variant]").forEach((box) => {
    const section = document.getElementById(box.dataset.variant);
    const sync = () => {
      if (section) section.hidden = !box.checked;
    };
    box.addEventListener("change", sync);
    sync();
  });
})();
