/* The live queue: every few seconds (while the page is visible) ask /queue/live what changed since the page's
   cursors. Comments new to this tab wait behind a "N nouveaux commentaires — afficher" button (clicking inserts
   them); cards another moderator decided leave the tab (or show the new status in "Tous"); tab counts follow.
   A short poll, not server-sent events: the web workers are gunicorn sync workers (see service/dashboard/live.py).
   Also: on a phone, the detail panel opens from a button. */
"use strict";
(function () {
  const root = document.getElementById("queue");
  const bar = document.getElementById("live");
  if (!root || !bar) return;
  const list = document.getElementById("cards");
  const panel = document.getElementById("panel");
  const newButton = document.getElementById("live-new");
  const status = document.getElementById("live-status");
  const panelToggle = document.getElementById("panel-toggle");
  const catalogue = JSON.parse(document.getElementById("live-i18n").textContent || "{}");
  const me = root.dataset.user || "";
  const tab = root.dataset.tab;
  const single = !!root.dataset.single;
  const query = root.dataset.query || "";
  const interval = Number(bar.dataset.interval) || 5000;
  let sinceEvent = bar.dataset.sinceEvent || "0";
  let sinceComment = bar.dataset.sinceComment || "0";
  const waiting = new Set();  // ids of new comments not shown yet
  let polling = false;
  let again = null;  // a poll asked for while one was in flight

  function t(key, params) {
    const text = Object.prototype.hasOwnProperty.call(catalogue, key) ? catalogue[key] : key;
    return text.replace(/\{(\w+)\}/g, (m, name) => (params && name in params ? String(params[name]) : m));
  }
  function tn(key, n) {
    const one = Vigie.lang === "fr" ? n <= 1 : n === 1;
    return t(key + (one ? "_one" : "_other"), {n: Vigie.formatNumber(n)});
  }
  const card = (id) => list.querySelector('article.card[data-id="' + id + '"]');

  function showWaiting() {
    const n = waiting.size;
    newButton.hidden = n === 0;
    if (n) newButton.textContent = tn("new", n);
  }

  function updateCounts(counts) {
    if (!counts || list.querySelector("article.card[hidden]")) return;  // an action of this page is in flight
    document.querySelectorAll("[data-count]").forEach((el) => {
      if (el.dataset.count in counts) el.textContent = Vigie.formatNumber(counts[el.dataset.count]);
    });
  }

  function whoLine(target, change) {
    const who = target.querySelector('[data-role="moderation"]');
    if (!who) return;
    who.textContent = "";
    if (change.by && (change.status === "approved" || change.status === "rejected")) {
      const line = document.createElement("span");
      line.className = "decided-by";
      line.textContent = t("by_" + change.status, {name: change.by});  // text only: names are never HTML
      const at = document.createElement("span");
      at.className = "muted";
      at.textContent = "· " + change.when;
      who.append(line, " ", at);
    }
  }

  function applyChange(change, quiet) {
    const target = card(change.id);
    if (waiting.has(change.id) && tab !== "all" && tab !== "reported" && change.status !== tab) waiting.delete(change.id);
    if (!target || target.dataset.version === change.version) return;
    if (target.hidden) return;  // this page's own action on it is in flight
    if (change.by === me && change.status === target.dataset.status) {  // this page's own decision, answered
      target.dataset.version = change.version;
      return;
    }
    target.dataset.version = change.version;
    target.dataset.status = change.status;
    const badge = target.querySelector('[data-role="status"]');
    if (badge) { badge.textContent = change.status_name; badge.className = "status status-" + change.status; }
    whoLine(target, change);
    if (change.by && change.by !== me) {
      const key = change.status === "rejected" || change.status === "approved" ? "elsewhere_" + change.status : "elsewhere_other";
      const message = t(key, {id: change.id, name: change.by, status: change.status_name});
      status.textContent = message;
      if (!quiet) Vigie.toast(message, "ok");
    }
    // Signalés: a moderator's approval or rejection settles a report; other tabs: the status is the tab.
    const leaves = tab === "reported" ? !!change.by && (change.status === "approved" || change.status === "rejected")
                                      : tab !== "all" && change.status !== tab;
    if (!single && leaves) {
      const wasFocused = target.classList.contains("focused");
      const next = target.nextElementSibling || target.previousElementSibling;
      target.remove();
      document.dispatchEvent(new CustomEvent("vigie:card-removed", {detail: {id: change.id, focused: wasFocused, next}}));
    }
  }

  async function poll(quiet) {
    if (polling) { again = again || (quiet === true ? "quiet" : "loud"); return; }
    polling = true;
    try {
      const focusedCard = list.querySelector("article.card.focused") || (single ? list.querySelector("article.card") : null);
      const url = "/queue/live?" + query + (query ? "&" : "") + "since_event=" + encodeURIComponent(sinceEvent) +
                  "&since_comment=" + encodeURIComponent(sinceComment) +
                  (focusedCard ? "&viewing=" + encodeURIComponent(focusedCard.dataset.id) : "");
      const response = await fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}});
      if (!response.ok) return;
      const data = await response.json();
      sinceEvent = String(data.since_event);
      sinceComment = String(data.since_comment);
      data.changes.forEach((change) => applyChange(change, quiet === true));
      showViewers(data.viewing, data.viewers || []);
      if (!single) {
        const before = waiting.size;
        data.new.forEach((id) => { if (!card(id)) waiting.add(id); });
        showWaiting();
        if (waiting.size > before) status.textContent = tn("announce", waiting.size);
        updateCounts(data.counts);
      }
    } catch (e) {
      /* offline for a moment: the next poll tries again */
    } finally {
      polling = false;
      if (again) { const how = again; again = null; poll(how === "quiet"); }
    }
  }

  // Who else has the focused comment open (the server keeps it a few seconds): said on the card, as text.
  function showViewers(id, names) {
    list.querySelectorAll(".viewers").forEach((el) => { if (!names.length || el.closest("article.card").dataset.id !== String(id)) el.remove(); });
    const target = id ? card(id) : null;
    if (!target || !names.length) return;
    let line = target.querySelector(".viewers");
    if (!line) {
      line = document.createElement("p");
      line.className = "viewers";
      target.querySelector(".card-main").appendChild(line);
    }
    line.textContent = t("viewers", {names: names.join(", ")});
  }

  async function showNew() {
    if (!waiting.size) return;
    const ids = Array.from(waiting).slice(0, 100);
    const url = "/queue/live/cards?" + query + (query ? "&" : "") + "ids=" + ids.join(",");
    const response = await fetch(url, {credentials: "same-origin"});
    if (!response.ok) return;
    const box = document.createElement("div");
    box.innerHTML = await response.text();  // server-rendered, escaped fragment
    const fresh = Array.from(box.querySelectorAll("article.card")).filter((c) => !card(c.dataset.id));
    ids.forEach((id) => waiting.delete(id));
    showWaiting();
    if (!fresh.length) return;
    fresh.forEach((c) => c.classList.add("card-new"));
    list.prepend(...fresh);
    document.dispatchEvent(new CustomEvent("vigie:cards-added", {detail: {first: fresh[0]}}));
  }

  newButton.addEventListener("click", showNew);
  document.addEventListener("keydown", (event) => {
    if (event.key !== "n" || event.ctrlKey || event.metaKey || event.altKey) return;
    const tag = (event.target.tagName || "").toLowerCase();
    if (["input", "textarea", "select"].includes(tag) || document.querySelector("dialog[open]")) return;
    event.preventDefault();
    showNew();
  });
  // After a decision refused because of a newer one: catch up at once, leaving the refusal's message on screen.
  document.addEventListener("vigie:refresh", () => poll(true));

  // On a phone the panel is a sheet over the page: each card's details button opens it (for that
  // card: queue.js focuses the card on the click and loads its panel), the button on the sheet closes it.
  function setPanel(open) {
    if (!panel || !panelToggle) return;
    panel.classList.toggle("panel-open", open);
    document.body.classList.toggle("panel-sheet-open", open);
    panelToggle.setAttribute("aria-expanded", open ? "true" : "false");
    list.querySelectorAll("[data-details]").forEach((b) => b.setAttribute("aria-expanded", open ? "true" : "false"));
    if (open) panelToggle.focus({preventScroll: true});
  }
  panelToggle.textContent = t("panel_close");
  panelToggle.addEventListener("click", () => setPanel(false));
  list.addEventListener("click", (event) => { if (event.target.closest("[data-details]")) setPanel(true); });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && panel && panel.classList.contains("panel-open")) setPanel(false);
  });

  setInterval(() => { if (!document.hidden) poll(); }, interval);
  document.addEventListener("visibilitychange", () => { if (!document.hidden) poll(); });
})();
