/* The author page: the undo button (the queue's undo: the moderator's last decision or bulk rejection). */
"use strict";
(function () {
  const undo = document.getElementById("undo-last");
  if (!undo) return;
  undo.addEventListener("click", async () => {
    undo.disabled = true;
    try {
      await Vigie.postJSON("/actions/undo", {});
      window.location.reload();
    } catch (e) {
      undo.disabled = false;
      Vigie.toast(e.message, "error");
    }
  });
})();
