// calserver calendar views: niceties only, every link and form works without this file.
// - keys: t today, n next, p previous, d / w / m the day, week and month views
//   (not while typing in a field, not with a modifier);
// - the time grid opens scrolled to 08:00.
"use strict";
document.addEventListener("keydown", (event) => {
  if (event.altKey || event.ctrlKey || event.metaKey || event.defaultPrevented) return;
  const target = event.target;
  if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) return;
  const link = document.querySelector('.cal-toolbar a[data-key="' + event.key + '"]');
  if (link) {
    event.preventDefault();
    window.location.assign(link.href);
  }
});
document.addEventListener("DOMContentLoaded", () => {
  const body = document.getElementById("tg-body");
  const eight = body && body.querySelector(".slot.eight");
  if (body && eight) {
    body.scrollTop += eight.getBoundingClientRect().top - body.getBoundingClientRect().top - 6;
  }
});
