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
  // One tab per chosen channel (an ARIA tablist: arrow keys move between tabs); without
  // script every chosen channel's section is simply shown one after the other.
  const tablist = document.getElementById("variant-tabs");
  const boxes = Array.from(document.querySelectorAll("input[data-variant]"));
  let current = null;

  function select(sectionId, focus) {
    current = sectionId;
    tablist.querySelectorAll("[role=tab]").forEach((tab) => {
      const on = tab.getAttribute("aria-controls") === sectionId;
      tab.setAttribute("aria-selected", on ? "true" : "false");
      tab.tabIndex = on ? 0 : -1;
      if (on && focus) tab.focus();
    });
    boxes.forEach((box) => {
      const section = document.getElementById(box.dataset.variant);
      if (section) section.hidden = !(box.checked && box.dataset.variant === sectionId);
    });
  }

  function build(preferred) {
    if (!tablist) return;
    tablist.replaceChildren();
    const chosen = boxes.filter((box) => box.checked);
    chosen.forEach((box) => {
      const section = document.getElementById(box.dataset.variant);
      if (!section) return;
      const tab = document.createElement("button");
      tab.type = "button";
      tab.id = `tab-${section.id}`;
      tab.setAttribute("role", "tab");
      tab.setAttribute("aria-controls", section.id);
      tab.textContent = section.dataset.tabLabel || section.id;
      tab.addEventListener("click", () => select(section.id, false));
      section.setAttribute("role", "tabpanel");
      section.setAttribute("aria-labelledby", tab.id);
      tablist.appendChild(tab);
    });
    tablist.hidden = chosen.length === 0;
    const ids = chosen.map((box) => box.dataset.variant);
    select(ids.includes(preferred) ? preferred : ids.includes(current) ? current : ids[0], false);
  }

  if (tablist) {
    tablist.addEventListener("keydown", (event) => {
      const tabs = Array.from(tablist.querySelectorAll("[role=tab]"));
      const at = tabs.findIndex((tab) => tab.getAttribute("aria-controls") === current);
      let next = null;
      if (event.key === "ArrowRight") next = tabs[(at + 1) % tabs.length];
      if (event.key === "ArrowLeft") next = tabs[(at - 1 + tabs.length) % tabs.length];
      if (event.key === "Home") next = tabs[0];
      if (event.key === "End") next = tabs[tabs.length - 1];
      if (next) {
        event.preventDefault();
        select(next.getAttribute("aria-controls"), true);
      }
    });
  }
  boxes.forEach((box) => {
    box.addEventListener("change", () => {
      if (tablist) build(box.checked ? box.dataset.variant : null);
      else {
        const section = document.getElementById(box.dataset.variant);
        if (section) section.hidden = !box.checked;
      }
    });
  });
  build(null);
})();
