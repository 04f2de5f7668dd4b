/* Vigie dashboard: helpers shared by every page (no inline scripts anywhere: CSP forbids them). */
"use strict";
window.Vigie = (function () {
  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;
  let toastTimer = null;

  function toast(message, kind) {
    const el = document.getElementById("toast");
    if (!el) return;
    el.textContent = message;  // text only: never HTML
    el.className = "toast" + (kind ? " toast-" + kind : "");
    el.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { el.hidden = true; }, 4000);
  }

  async function postJSON(url, body) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrf()},
      body: JSON.stringify(body || {}),
    });
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    if (!response.ok) {
      const message = data && data.error ? data.error.message :
        (response.status === 400 || response.status === 401 ? "Your session has expired: reload the page." :
         "The server refused the action (" + response.status + ").");
      throw new Error(message);
    }
    return data;
  }

  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) event.preventDefault();
  });

  return {csrf, toast, postJSON};
})();
