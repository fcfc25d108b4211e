// Editorial calendar: drag an entry onto another day to move it (same time of day). The
// server decides; on refusal the reason is announced and the entry stays where it was.
// Keyboard users use the "Move" form beside each entry, which posts to the same endpoint.
(function () {
  "use strict";
  const status = document.getElementById("move-status");
  let dragged = null;

  document.addEventListener("dragstart", (event) => {
    const entry = event.target.closest && event.target.closest("li.entry[draggable=true]");
    if (!entry) return;
    dragged = entry;
    entry.classList.add("dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", entry.dataset.ref);
  });
  document.addEventListener("dragend", () => {
    if (dragged) dragged.classList.remove("dragging");
    document.querySelectorAll("td.drop-target").forEach((td) => td.classList.remove("drop-target"));
    dragged = null;
  });
  document.addEventListener("dragover", (event) => {
    const cell = event.target.closest && event.target.closest("td[data-day]");
    if (!cell || !dragged) return;
    event.preventDefault();
    cell.classList.add("drop-target");
  });
  document.addEventListener("dragleave", (event) => {
    const cell = event.target.closest && event.target.closest("td[data-day]");
    if (cell) cell.classList.remove("drop-target");
  });
  document.addEventListener("drop", async (event) => {
    const cell = event.target.closest && event.target.closest("td[data-day]");
    if (!cell || !dragged) return;
    event.preventDefault();
    const entry = dragged;
    const body = new URLSearchParams({ ref: entry.dataset.ref, day: cell.dataset.day });
    const response = await fetch("/calendar/move", {
      method: "POST",
      body,
      headers: { "X-Requested-With": "fetch" },
      credentials: "same-origin",
    });
    if (response.status === 204) {
      window.location.reload();
    } else if (status) {
      status.textContent = await response.text();
    }
  });
})();
