// events: hide the time fields while "All day" is ticked, and let the suggested weekly
// day follow a changed start date (the form works without this: the server does the same)
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const box = document.getElementById("allday");
  const form = box && box.closest(".event-form");
  if (!form) { return; }
  const sync = () => form.classList.toggle("all-day", box.checked);
  box.addEventListener("change", sync);
  sync();

  const start = document.getElementById("start_date");
  const shownFor = form.querySelector('input[name="days_for"]');
  if (!start || !shownFor) { return; }
  const keys = ["SU", "MO", "TU", "WE", "TH", "FR", "SA"];
  start.addEventListener("change", () => {
    const day = new Date(start.value + "T12:00:00Z");
    if (Number.isNaN(day.getTime())) { return; }
    const key = keys[day.getUTCDay()];
    const ticked = [...form.querySelectorAll('input[name="days"]:checked')].map((b) => b.value);
    if (ticked.length === 1 && ticked[0] === shownFor.value) {
      form.querySelectorAll('input[name="days"]').forEach((b) => { b.checked = b.value === key; });
    }
    shownFor.value = key;
  });
});
