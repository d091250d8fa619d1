/* The dialog's Change Log tab: bill what changed in the current cycle up to an as-of date.
   Self-contained: it adds a tab bar above the cycle form and its own section, and only shows them
   for contracts that offer change logs (Recurring, cycles of 3 months or more). */
"use strict";

(() => {
  const { api, el, showNotice } = W365;
  const page = document.getElementById("page");
  const contractId = page.dataset.contractId;
  const cycleForm = document.getElementById("form");
  const cycleActions = document.getElementById("actions");
  const cycleSelect = document.getElementById("cycle");
  const outcome = document.getElementById("outcome");
  if (!contractId || !cycleForm) return;

  const CATEGORIES = ["Full Cycle", "Mid-Cycle Change", "Usage", "Non-Recurring", "Service"];
  const todayUtc = () => new Date().toISOString().slice(0, 10);
  const state = { money: W365.moneyFormatter(null), preview: null, seq: 0, key: null, busy: false, created: false };

  // ---- the tab bar and the section ------------------------------------------------------------
  const tabCycle = el("button", { type: "button", role: "tab", id: "tab-cycle", "aria-selected": "true",
    "aria-controls": "form", text: "Full Cycle" });
  const tabLog = el("button", { type: "button", role: "tab", id: "tab-change-log", "aria-selected": "false",
    "aria-controls": "change-log", tabindex: "-1", text: "Change Log" });
  const tabs = el("div", { role: "tablist", class: "tabs", id: "tabs", "aria-label": "Invoice kind", hidden: true },
    tabCycle, tabLog);

  const asOf = el("input", { type: "date", id: "change-log-as-of", max: todayUtc(), value: todayUtc(),
    required: true });
  const note = el("p", { class: "muted", id: "change-log-note",
    text: "Bills the seats, services, usage and one-time items added in the current billing cycle up to the "
      + "as-of date. The cycle still gets its own invoice later, without what this invoice bills." });
  const problem = el("div", { class: "notice error", id: "change-log-error", role: "alert", hidden: true });
  const status = el("p", { class: "muted", id: "change-log-status", "aria-live": "polite" });
  const totals = el("tfoot", { id: "change-log-totals" });
  const table = el("table", { id: "change-log-table", hidden: true },
    el("caption", { class: "sr-only", text: "Change-log invoice preview by category" }),
    el("thead", {}, el("tr", {},
      el("th", { scope: "col", text: "Description" }), el("th", { scope: "col", text: "Period" }),
      el("th", { scope: "col", class: "num", text: "Qty" }), el("th", { scope: "col", class: "num", text: "Unit price" }),
      el("th", { scope: "col", class: "num", text: "Amount" }))),
    totals);
  const busy = el("span", { class: "status", id: "change-log-busy", "aria-live": "polite" });
  const create = el("button", { type: "button", class: "primary", id: "change-log-create", text: "Create" });
  const section = el("section", { id: "change-log", role: "tabpanel", "aria-labelledby": "tab-change-log", hidden: true },
    el("div", { class: "controls" }, el("div", { class: "field" },
      el("label", { for: "change-log-as-of", text: "As of" }), asOf)),
    note, problem,
    el("section", { "aria-label": "Change-log preview" },
      el("div", { class: "preview-head" }, el("h2", { text: "Preview" }), status),
      el("div", { class: "table-wrap" }, table)),
    el("div", { class: "actions-inner change-log-actions" }, busy, create));
  cycleForm.before(tabs);
  cycleForm.after(section);
  cycleForm.setAttribute("role", "tabpanel");

  // ---- the preview ----------------------------------------------------------------------------
  function render(preview) {
    state.preview = preview;
    state.money = W365.moneyFormatter(preview.currency);
    const money = state.money;
    table.querySelectorAll("tbody").forEach((b) => b.remove());
    const groups = CATEGORIES.map((label) => ({ label, lines: [], subtotal: "0" }));
    for (const line of preview.lines || []) if (groups[line.category_value - 1]) groups[line.category_value - 1].lines.push(line);
    for (const c of preview.categories || []) if (groups[c.category_value - 1]) groups[c.category_value - 1].subtotal = c.amount;
    for (const group of groups) {
      if (group.label === "Full Cycle" || group.label === "Service") continue;  // never on a change log
      const body = el("tbody", { class: group.lines.length ? "category" : "category empty" },
        el("tr", {}, el("th", { scope: "rowgroup", colspan: "4",
          text: group.lines.length ? group.label : `${group.label} — none` }),
        el("th", { class: "num", text: money(group.subtotal) })));
      for (const line of group.lines) {
        body.append(el("tr", {}, el("td", { text: line.description || line.name || "" }),
          el("td", { class: "period", text: W365.formatPeriod(line.period_start, line.period_end) }),
          el("td", { class: "num", text: String(line.quantity ?? "") }),
          el("td", { class: "num", text: money(line.unit_price) }), el("td", { class: "num", text: money(line.amount) })));
      }
      table.insertBefore(body, totals);
    }
    const t = preview.totals || {};
    const row = (label, value, cls) => el("tr", { class: cls },
      el("th", { scope: "row", colspan: "4", class: "num", text: label }), el("td", { class: "num", text: money(value) }));
    totals.replaceChildren(row("Subtotal", t.amount), row("Discount", t.discount), row("Tax", t.tax),
      row("Total", t.total, "grand"));
    table.hidden = false;
    status.textContent = preview.nothing_to_invoice
      ? `Nothing to invoice: no changes up to ${W365.formatDate(preview.as_of)}.`
      : `Invoice date ${W365.formatDate(preview.invoice_date)} · total ${money(t.total)}`;
    create.disabled = !!preview.nothing_to_invoice;
  }

  /** The reason a change log cannot be made, in plain words. */
  function reason(error) {
    if (error.code === "validation_error") {
      const fields = (error.details && error.details.fields) || {};
      const messages = Object.values(fields).flat().filter((m) => typeof m === "string");
      return messages.length ? `The as-of date is not valid: ${messages.join(" ")}` : error.message;
    }
    if (error.code === "earlier_cycles_not_invoiced") {
      const cycles = (error.details && error.details.cycles) || [];
      const which = cycles.length ? ` (${cycles.map(W365.formatDate).join(", ")})` : "";
      return `Earlier billing cycles${which} have not been invoiced: generate them first on the Full Cycle tab.`;
    }
    return error.message;
  }

  function dateProblem() {
    if (!asOf.value) return "Choose the as-of date.";
    if (asOf.value > todayUtc()) return "The as-of date cannot be after today.";
    return null;
  }

  async function refresh() {
    const seq = ++state.seq;  // a slower answer for an earlier date must not win
    state.preview = null;
    state.key = null;
    problem.hidden = true;
    table.hidden = true;
    create.disabled = true;
    const wrong = dateProblem();
    if (wrong) { status.textContent = ""; showNotice(problem, "error", wrong); return; }
    status.textContent = "Loading preview…";
    try {
      const { data } = await api("POST", "/invoices/preview",
        { billing_contract_id: contractId, kind: "change_log", as_of: asOf.value });
      if (seq === state.seq) render(data);
    } catch (error) {
      if (seq !== state.seq) return;
      status.textContent = "";
      showNotice(problem, "error", reason(error));
    }
  }

  // ---- Create ---------------------------------------------------------------------------------
  function showCreated(invoice) {
    const url = W365.invoiceUrl(invoice.id);
    const box = el("div", { class: "notice ok", id: "created" }, el("p", {}, "Change-log invoice ",
      el("strong", { id: "created-number", text: invoice.number }), " created · total ",
      el("strong", { id: "created-total", text: state.money(invoice.total) })));
    if (url) box.append(el("p", {}, el("a", { href: url, target: "_blank", rel: "noopener", id: "created-link",
      text: `Open invoice ${invoice.number}` })));
    outcome.replaceChildren(box);
  }

  async function createInvoice() {
    if (state.busy || !state.preview || state.preview.nothing_to_invoice) return;
    const body = { billing_contract_id: contractId, kind: "change_log", as_of: asOf.value,
      preview_hash: state.preview.preview_hash };
    state.key = state.key || W365.uuid();  // a repeated press after a lost answer is not a second invoice
    state.busy = true;
    create.setAttribute("aria-disabled", "true");
    busy.textContent = "Creating the change-log invoice…";
    outcome.replaceChildren();
    try {
      const { data } = await api("POST", "/invoices", body, { "Idempotency-Key": state.key });
      const result = data.result || {};
      if (result.status === "created" && result.invoice) { showCreated(result.invoice); state.created = true; }
      else showNotice(outcome, "info", `No invoice was created: ${result.message || "nothing to invoice"}.`);
      await refresh();
    } catch (error) {
      if (error.status >= 400 && error.status < 500) state.key = null;
      if (error.code === "stale_preview" && error.details && error.details.preview) {
        showNotice(outcome, "warn", "The changes were edited since the preview was made, so nothing was created.",
          ["The preview below is up to date: check it and press Create again."]);
        render(error.details.preview);
      } else {
        showNotice(outcome, "error", `The invoice was not created: ${reason(error)}`);
      }
    } finally {
      state.busy = false;
      busy.textContent = "";
      create.removeAttribute("aria-disabled");
    }
  }

  // ---- tabs -----------------------------------------------------------------------------------
  let actionsWereHidden = false;
  function select(changeLog) {
    tabCycle.setAttribute("aria-selected", String(!changeLog));
    tabLog.setAttribute("aria-selected", String(changeLog));
    tabCycle.tabIndex = changeLog ? -1 : 0;
    tabLog.tabIndex = changeLog ? 0 : -1;
    outcome.replaceChildren();
    if (changeLog) {
      actionsWereHidden = cycleActions ? cycleActions.hidden : true;
      cycleForm.hidden = true;
      if (cycleActions) cycleActions.hidden = true;
      section.hidden = false;
      refresh();
    } else {
      section.hidden = true;
      cycleForm.hidden = false;
      if (cycleActions) cycleActions.hidden = actionsWereHidden;
      // what a change log consumed is no longer in the cycle's preview: let the cycle tab reload it
      if (state.created && cycleSelect) { state.created = false; cycleSelect.dispatchEvent(new Event("change")); }
    }
  }

  tabCycle.addEventListener("click", () => select(false));
  tabLog.addEventListener("click", () => select(true));
  tabs.addEventListener("keydown", (event) => {
    if (event.key !== "ArrowLeft" && event.key !== "ArrowRight") return;
    const toLog = tabLog.getAttribute("aria-selected") !== "true";
    select(toLog);
    (toLog ? tabLog : tabCycle).focus();
  });
  asOf.addEventListener("change", () => { outcome.replaceChildren(); refresh(); });
  create.addEventListener("click", createInvoice);

  // generate.js reads the contract once and says on the page whether it offers change logs
  const offer = () => { tabs.hidden = page.dataset.changeLog !== "offered"; };
  new MutationObserver(offer).observe(page, { attributes: true, attributeFilter: ["data-change-log"] });
  offer();
})();
