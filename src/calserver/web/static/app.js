// calserver web app: small niceties only; every form works without this file.
"use strict";
document.addEventListener("click", (event) => {
  // copy buttons: <button data-copy="ID"> copies the value of the input #ID
  const button = event.target.closest("[data-copy]");
  if (button) {
    const input = document.getElementById(button.dataset.copy);
    if (input) {
      input.select();
      const done = () => { button.textContent = "Copied"; setTimeout(() => { button.textContent = "Copy"; }, 1500); };
      if (navigator.clipboard) { navigator.clipboard.writeText(input.value).then(done, () => document.execCommand("copy")); }
      else { document.execCommand("copy"); done(); }
    }
    event.preventDefault();
  }
});
document.addEventListener("submit", (event) => {
  // <form data-confirm="text"> asks before it is sent
  const form = event.target;
  if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
    event.preventDefault();
  }
});
