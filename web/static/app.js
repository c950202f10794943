// Progressive enhancement of the task pages: drag a task row onto another
// to reorder. A drop submits the row's own Up/Down form with the sibling
// the task now follows (`after`), so the server does the same move as the
// buttons, which stay for keyboards and browsers without scripts.
"use strict";

document.documentElement.classList.add("js");

document.addEventListener("DOMContentLoaded", () => {
  const list = document.querySelector("ul.tasks[data-reorder]");
  if (!list) {
    return;
  }
  let dragged = null;
  const rowOf = (target) => (target instanceof Element ? target.closest("li[data-task]") : null);

  list.addEventListener("dragstart", (event) => {
    dragged = rowOf(event.target);
    if (!dragged) {
      return;
    }
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", dragged.dataset.task);
    dragged.classList.add("dragging");
  });
  list.addEventListener("dragend", () => {
    if (dragged) {
      dragged.classList.remove("dragging");
    }
    dragged = null;
  });
  list.addEventListener("dragover", (event) => {
    if (dragged && rowOf(event.target)) {
      event.preventDefault(); // allows the drop here
      event.dataTransfer.dropEffect = "move";
    }
  });
  list.addEventListener("drop", (event) => {
    const target = rowOf(event.target);
    const form = dragged ? dragged.querySelector("form.order") : null;
    if (!target || target === dragged || !form) {
      return;
    }
    event.preventDefault();
    // The upper half of a row puts the task before it, the lower after it.
    const box = target.getBoundingClientRect();
    const before = event.clientY < box.top + box.height / 2;
    const others = [...list.querySelectorAll("li[data-task]")].filter((row) => row !== dragged);
    const at = others.indexOf(target) + (before ? 0 : 1);
    const after = document.createElement("input");
    after.type = "hidden";
    after.name = "after";
    after.value = at === 0 ? "first" : others[at - 1].dataset.task;
    form.append(after);
    form.submit();
  });
});
