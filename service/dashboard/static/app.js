/* Vigie dashboard: helpers shared by every page (no inline scripts anywhere: CSP forbids them). */
"use strict";
window.Vigie = (function () {
  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;
  let toastTimer = null;
  const catalogue = (() => {
    const el = document.getElementById("vigie-i18n");
    try { return el ? JSON.parse(el.textContent) : {}; } catch (e) { return {}; }
  })();
  const lang = document.documentElement.lang || "fr";

  // A string of the page's language from the catalogue the server rendered, {name} placeholders filled.
  function t(key, params) {
    const text = Object.prototype.hasOwnProperty.call(catalogue, key) ? catalogue[key] : key;
    return text.replace(/\{(\w+)\}/g, (m, name) => (params && name in params ? String(params[name]) : m));
  }

  // Plural forms: French counts 0 and 1 as singular, English only 1.
  function tn(key, n, params) {
    const one = lang === "fr" ? n <= 1 : n === 1;
    return t(key + (one ? "_one" : "_other"), Object.assign({n: formatNumber(n)}, params || {}));
  }

  function formatNumber(n) {
    try { return new Intl.NumberFormat(lang).format(n); } catch (e) { return String(n); }
  }

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
    let response;
    try {
      response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrf()},
      body: JSON.stringify(body || {}),
      });
    } catch (e) {
      throw new Error(t("network_error"));
    }
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    if (!response.ok) {
      const message = data && data.error ? data.error.message :
        (response.status === 400 || response.status === 401 ? t("session_expired") :
         t("server_refused", {status: response.status}));
      throw new Error(message);
    }
    return data;
  }

  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) event.preventDefault();
  });

  return {csrf, toast, postJSON, t, tn, formatNumber, lang};
})();
