/* The moderation queue: keyboard shortcuts, actions without page reloads, infinite scrolling, detail panel. */
"use strict";
(function () {
  const root = document.getElementById("queue");
  if (!root) return;
  const list = document.getElementById("cards");
  const panel = document.getElementById("panel");
  const empty = document.getElementById("empty");
  const help = document.getElementById("help");
  const reasonDialog = document.getElementById("reason-dialog");
  const reasonList = document.getElementById("reason-list");
  const explanation = document.getElementById("reject-explanation");
  const reasons = JSON.parse(document.getElementById("reject-reasons").textContent || "{}");
  const tab = root.dataset.tab;
  const query = root.dataset.query;
  let nextCursor = root.dataset.nextCursor;
  let loadingMore = false;
  let busy = false;  // during an undo
  let focused = null;
  let pendingReject = null;  // ids waiting for a reason
  let panelTimer = null;

  const cards = () => Array.from(list.querySelectorAll("article.card:not([hidden])"));
  const selected = () => cards().filter((c) => c.querySelector(".select-box").checked);

  function focusCard(card, scroll) {
    if (!card) return;
    if (focused) focused.classList.remove("focused");
    focused = card;
    card.classList.add("focused");
    card.focus({preventScroll: true});
    if (scroll !== false) card.scrollIntoView({block: "nearest"});
    clearTimeout(panelTimer);
    panelTimer = setTimeout(() => loadPanel(card.dataset.id), 120);
  }

  async function loadPanel(id) {
    if (!panel || !focused || focused.dataset.id !== id) return;
    try {
      const response = await fetch("/comments/" + encodeURIComponent(id) + "/panel", {credentials: "same-origin"});
      if (response.ok && focused && focused.dataset.id === id) panel.innerHTML = await response.text();  // server-escaped HTML
    } catch (e) { /* the panel is a convenience; the queue keeps working */ }
  }

  function move(delta) {
    const all = cards();
    if (!all.length) return;
    const i = focused ? all.indexOf(focused) : -1;
    const next = all[Math.max(0, Math.min(all.length - 1, i + delta))];
    focusCard(next);
    if (all.indexOf(next) >= all.length - 3) loadMore();
  }

  function updateSelection() {
    const n = selected().length;
    document.getElementById("selection-count").textContent = n ? Vigie.tn("selected", n) : Vigie.t("none_selected");
    document.getElementById("bulk-approve").disabled = !n;
    document.getElementById("bulk-reject").disabled = !n;
    const all = document.getElementById("select-all");
    if (all) all.checked = n > 0 && n === cards().length;
    cards().forEach((c) => c.classList.toggle("selected", c.querySelector(".select-box").checked));
  }

  function updateCounts(counts) {
    if (!counts) return;
    document.querySelectorAll("[data-count]").forEach((el) => {
      if (el.dataset.count in counts) el.textContent = Vigie.formatNumber(counts[el.dataset.count]);
    });
  }

  function targets() {
    const sel = selected();
    if (sel.length) return sel;
    return focused ? [focused] : [];
  }

  // Actions are optimistic: the cards leave (or change) at once and the next comment is focused, so a moderator
  // can keep typing; the server's answer then sets the counts, and a refusal puts the cards back.
  let sequence = 0;
  let appliedSequence = 0;

  function decide(targetCards, status, reason, explanation) {
    if (!targetCards.length) return;
    const ids = targetCards.map((c) => Number(c.dataset.id));
    const all = cards();
    const index = focused ? all.indexOf(focused) : 0;
    const leaving = tab !== "all" && tab !== status;
    const previous = targetCards.map((c) => c.dataset.status);
    targetCards.forEach((card) => {
      card.querySelector(".select-box").checked = false;
      if (leaving) card.hidden = true; else setStatus(card, status);
    });
    const rest = cards();
    updateSelection();
    if (rest.length) {
      const stay = !leaving && targetCards.includes(focused) ? 1 : 0;
      focusCard(rest[Math.max(0, Math.min(index + stay, rest.length - 1))]);
    } else {
      focused = null;
    }
    showEmpty();
    if (rest.length < 5) loadMore();
    const mine = ++sequence;
    // The status version each card was drawn with: a comment another moderator decided since is refused.
    const seen = {};
    targetCards.forEach((card) => { if (card.dataset.version) seen[card.dataset.id] = card.dataset.version; });
    send("/actions/decide", {ids, status, reason: reason || null, explanation: explanation || null, query, seen}).then((data) => {
      if (mine > appliedSequence) { appliedSequence = mine; updateCounts(data.counts); }
      targetCards.forEach((card) => { if (data.versions && data.versions[card.dataset.id]) card.dataset.version = data.versions[card.dataset.id]; });
      if (leaving) targetCards.forEach((card) => card.remove());
      Vigie.toast(Vigie.tn(status === "approved" ? "approved" : "rejected", ids.length) +
                  (reason ? " " + Vigie.t("with_reason", {reason}) : "") + " " + Vigie.t("undo_hint"), "ok");
    }).catch((e) => {
      if (mine > appliedSequence) appliedSequence = mine;
      targetCards.forEach((card, i) => { card.hidden = false; setStatus(card, previous[i], true); });
      showEmpty();
      Vigie.toast(e.message, "error");
      document.dispatchEvent(new Event("vigie:refresh"));  // live.js: show what changed meanwhile
    });
  }

  // Requests go one after the other (the undo history lives in the session, and answers then come in order).
  let chain = Promise.resolve();
  function send(url, body) {
    const result = chain.then(() => Vigie.postJSON(url, body));
    chain = result.catch(() => null);
    return result;
  }

  function setStatus(card, status, restoring) {
    card.dataset.status = status;
    const badge = card.querySelector('[data-role="status"]');
    badge.textContent = Vigie.t("status_" + status);
    badge.className = "status status-" + status;
    const who = card.querySelector('[data-role="moderation"]');
    if (who) {  // who decided: this moderator now (the server's page says it after a reload)
      who.textContent = "";
      if (!restoring && (status === "approved" || status === "rejected")) {
        const line = document.createElement("span");
        line.className = "decided-by";
        line.textContent = Vigie.t("decided_by_you_" + status);
        who.appendChild(line);
      }
    }
  }

  function showEmpty() {
    if (empty) empty.hidden = cards().length > 0;
  }

  async function loadMore() {
    if (loadingMore || !nextCursor) return;
    loadingMore = true;
    try {
      const url = "/queue/cards?" + query + (query ? "&" : "") + "cursor=" + encodeURIComponent(nextCursor);
      const response = await fetch(url, {credentials: "same-origin"});
      if (!response.ok) return;
      const html = await response.text();
      nextCursor = response.headers.get("X-Next-Cursor") || "";
      const known = new Set(Array.from(list.querySelectorAll("article.card")).map((c) => c.dataset.id));
      const box = document.createElement("div");
      box.innerHTML = html;  // server-rendered, escaped fragment
      box.querySelectorAll("article.card").forEach((c) => { if (!known.has(c.dataset.id)) list.appendChild(c); });
      if (!focused && cards().length) focusCard(cards()[0]);
    } finally {
      loadingMore = false;
      showEmpty();
    }
  }

  async function reloadFirstPage(focusIds) {
    const response = await fetch("/queue/cards?" + query, {credentials: "same-origin"});
    if (!response.ok) return;
    list.innerHTML = await response.text();  // server-rendered, escaped fragment
    nextCursor = response.headers.get("X-Next-Cursor") || "";
    const all = cards();
    const target = all.find((c) => focusIds.includes(Number(c.dataset.id))) || all[0];
    focused = null;
    if (target) focusCard(target);
    updateSelection();
    showEmpty();
  }

  async function undo() {
    if (busy) return;
    busy = true;
    const mine = ++sequence;
    try {
      const data = await send("/actions/undo", {query});
      if (mine > appliedSequence) { appliedSequence = mine; updateCounts(data.counts); }
      if (root.dataset.single) { window.location.reload(); return; }
      await reloadFirstPage(data.undone);
      Vigie.toast(data.undone.length ? Vigie.t("undone", {n: Vigie.formatNumber(data.undone.length)}) :
                  Vigie.t("nothing_undone"), "ok");
    } catch (e) {
      if (mine > appliedSequence) appliedSequence = mine;
      Vigie.toast(e.message, "error");
    } finally {
      busy = false;
    }
  }

  function askReason(targetCards) {
    if (!targetCards.length) return;
    const siteReasons = reasons[targetCards[0].dataset.site] || [];
    pendingReject = targetCards;
    reasonList.textContent = "";
    siteReasons.slice(0, 9).forEach((text, i) => {
      const li = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "btn btn-ghost reason-choice";
      button.dataset.reason = text;
      const key = document.createElement("kbd");
      key.textContent = String(i + 1);
      button.append(key, " " + text);  // text nodes: reasons are never parsed as HTML
      li.appendChild(button);
      reasonList.appendChild(li);
    });
    document.getElementById("reason-target").textContent =
      targetCards.length > 1 ? Vigie.t("reject_many", {n: Vigie.formatNumber(targetCards.length)}) :
                               Vigie.t("reject_one", {id: targetCards[0].dataset.id});
    explanation.value = "";
    reasonDialog.showModal();
    document.getElementById("reject-no-reason").focus();
  }

  function confirmReject(reason) {
    const t = pendingReject;
    pendingReject = null;
    const words = explanation.value.trim();
    reasonDialog.close();
    if (t) decide(t, "rejected", reason, words);
  }

  reasonDialog.addEventListener("keydown", (event) => {
    if (event.target === explanation) {  // typing the explanation: Ctrl+Enter rejects, other keys are text
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); confirmReject(null); }
      return;
    }
    if (/^[1-9]$/.test(event.key)) {
      const choice = reasonList.querySelectorAll(".reason-choice")[Number(event.key) - 1];
      if (choice) { event.preventDefault(); confirmReject(choice.dataset.reason); }
    } else if (event.key === "Enter" && !(event.target.classList && event.target.classList.contains("reason-choice"))) {
      event.preventDefault();
      confirmReject(null);
    }
  });
  reasonDialog.addEventListener("close", () => { pendingReject = null; if (focused) focused.focus({preventScroll: true}); });
  reasonList.addEventListener("click", (event) => {
    const button = event.target.closest(".reason-choice");
    if (button) confirmReject(button.dataset.reason);
  });
  document.getElementById("reject-no-reason").addEventListener("click", () => confirmReject(null));
  document.getElementById("reject-cancel").addEventListener("click", () => reasonDialog.close());

  list.addEventListener("click", (event) => {
    const card = event.target.closest("article.card");
    if (!card) return;
    const button = event.target.closest("button[data-action]");
    if (button) {
      focusCard(card, false);
      if (button.dataset.action === "rejected") askReason([card]);
      else decide([card], "approved");
      return;
    }
    if (event.target.classList.contains("select-box")) { updateSelection(); return; }
    if (!event.target.closest("a")) focusCard(card, false);
  });

  const selectAll = document.getElementById("select-all");
  if (selectAll) {
    selectAll.addEventListener("change", () => {
      cards().forEach((c) => { c.querySelector(".select-box").checked = selectAll.checked; });
      updateSelection();
    });
  }
  document.getElementById("bulk-approve").addEventListener("click", () => decide(selected(), "approved"));
  document.getElementById("bulk-reject").addEventListener("click", () => askReason(selected()));
  document.getElementById("undo").addEventListener("click", undo);
  document.getElementById("show-help").addEventListener("click", () => help.showModal());

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (help.open || reasonDialog.open) return;
    const tag = (event.target.tagName || "").toLowerCase();
    if (["input", "textarea", "select"].includes(tag) && !event.target.classList.contains("select-box")) return;
    switch (event.key) {
      case "j": move(1); break;
      case "k": move(-1); break;
      case "a": decide(targets(), "approved"); break;
      case "r": askReason(targets()); break;
      case "x":
        if (focused) { const box = focused.querySelector(".select-box"); box.checked = !box.checked; updateSelection(); }
        break;
      case "u": undo(); break;
      case "o": {
        const link = focused && focused.querySelector("a.thread");
        if (link) window.open(link.href, "_blank", "noopener");
        break;
      }
      case "?": help.showModal(); break;
      case "Escape": cards().forEach((c) => { c.querySelector(".select-box").checked = false; }); updateSelection(); break;
      default: return;
    }
    event.preventDefault();
  });

  // New comments keep arriving: refresh the tab counts while the page is visible and no action is in flight.
  setInterval(async () => {
    if (document.hidden || root.dataset.single || appliedSequence !== sequence) return;
    const before = sequence;
    try {
      const response = await fetch("/queue/counts?" + query, {credentials: "same-origin", headers: {"Accept": "application/json"}});
      if (response.ok && before === sequence) updateCounts((await response.json()).counts);
    } catch (e) { /* offline for a moment: the next tick tries again */ }
  }, 30000);

  // live.js removes cards decided elsewhere and inserts new ones: keep the focus and the selection right.
  document.addEventListener("vigie:card-removed", (event) => {
    if (event.detail.focused) {
      focused = null;
      const next = event.detail.next;
      if (next && next.isConnected && !next.hidden) focusCard(next, false); else if (cards().length) focusCard(cards()[0], false);
    }
    updateSelection();
    showEmpty();
  });
  document.addEventListener("vigie:cards-added", (event) => {
    focusCard(event.detail.first);
    updateSelection();
    showEmpty();
  });

  const first = cards()[0];
  if (first) focusCard(first, false);
  updateSelection();
  showEmpty();
})();
