/* The user's recent invoice runs, newest first, each linking to its window. */
"use strict";

(() => {
  const { api, el, showNotice } = W365;
  const $ = (id) => document.getElementById(id);
  const STATUS = { running: "Running", completed: "Completed", completed_with_errors: "Completed with errors" };
  const time = new Intl.DateTimeFormat(navigator.language || "en-US", { dateStyle: "medium", timeStyle: "short" });
  const onAuthError = W365.onSignInLapsed(() => load());

  async function load() {
    try {
      const { data } = await api("GET", "/invoice-runs?top=50");
      const runs = data.runs || [];
      $("loading").textContent = runs.length ? "" : "You have not started an invoice run yet.";
      $("runs").querySelector("tbody").replaceChildren(...runs.map((run) => {
        const started = run.created_on ? time.format(new Date(run.created_on)) : "";
        const link = el("a", { href: `bulk?run=${encodeURIComponent(run.run_id)}`, text: started || run.run_id });
        const c = run.counts || {};
        return el("tr", {}, el("td", {}, link), el("td", { text: run.mode === "single" ? "One contract" : "Bulk" }),
          el("td", { text: STATUS[run.status] || run.status }),
          el("td", { class: "num", text: `${run.progress.done} of ${run.progress.total}` }),
          el("td", { text: `${c.created || 0} created, ${c.skipped || 0} skipped, ${c.failed || 0} failed` }));
      }));
      $("runs").hidden = runs.length === 0;
    } catch (error) {
      $("loading").textContent = "";
      showNotice($("page-error"), "error", `Your runs could not be loaded: ${error.message}`);
      onAuthError(error);
    }
  }

  load();
})();
