/* The single-contract Generate Invoice dialog: cycle choice, optional preview, Create. */
"use strict";

(() => {
  const { api, el, showNotice } = W365;
  const page = document.getElementById("page");
  const contractId = page.dataset.contractId;
  const $ = (id) => document.getElementById(id);
  const ui = {
    name: $("contract-name"), account: $("contract-account"), facts: $("facts"),
    type: $("fact-type"), policy: $("fact-policy"), otp: $("fact-otp"),
    pageError: $("page-error"), form: $("form"), cycle: $("cycle"), showPreview: $("show-preview"),
    cycleWarning: $("cycle-warning"), previewWarnings: $("preview-warnings"), preview: $("preview"),
    previewStatus: $("preview-status"), table: $("preview-table"), totals: $("preview-totals"),
    outcome: $("outcome"), actions: $("actions"), busy: $("busy"), create: $("create"), close: $("close"),
    confirm: $("confirm-reinvoice"), confirmBox: $("confirm-box"),
  };

  // the five groups of docs/interfaces.md, in order; index = w365_linecategory − 1
  const CATEGORIES = ["Full Cycle", "Mid-Cycle Change", "Usage", "Non-Recurring", "Service"];

  const state = { header: null, cycles: [], preview: null, money: W365.moneyFormatter(null),
                  idempotencyKey: null, previewSeq: 0 };
  const onAuthError = W365.onSignInLapsed(() => load());

  function fail(error) {
    showNotice(ui.pageError, "error", error.message || String(error));
    onAuthError(error);
  }

  /** The five groups of a preview, in order, each {label, lines, subtotal}. */
  function groups(preview) {
    const result = CATEGORIES.map((label) => ({ label, lines: [], subtotal: null }));
    const at = (value) => result[value - 1];
    for (const line of preview.lines || []) if (at(line.category_value)) at(line.category_value).lines.push(line);
    for (const category of preview.categories || []) {
      const group = at(category.category_value);
      if (!group) continue;
      group.label = category.category || group.label;
      group.subtotal = category.amount;  // the Amount column's subtotal (discount and tax are in the totals)
    }
    return result;
  }

  function totalsOf(preview) {
    const t = preview.totals || {};
    return { subtotal: t.amount, discount: t.discount, tax: t.tax, total: t.total };
  }

  function renderPreview(preview) {
    state.preview = preview;
    const money = state.money;
    ui.table.querySelectorAll("tbody").forEach((b) => b.remove());
    for (const group of groups(preview)) {
      const body = el("tbody", { class: group.lines.length ? "category" : "category empty" });
      body.append(el("tr", {},
        el("th", { scope: "rowgroup", colspan: "4", text: group.lines.length ? group.label : `${group.label} — none` }),
        el("th", { class: "num", text: money(group.subtotal ?? "0") })));
      for (const line of group.lines) {
        body.append(el("tr", {},
          el("td", { text: line.description || line.name || "" }),
          el("td", { class: "period", text: W365.formatPeriod(line.period_start, line.period_end) }),
          el("td", { class: "num", text: String(line.quantity ?? "") }),
          el("td", { class: "num", text: money(line.unit_price) }),
          el("td", { class: "num", text: money(line.amount) })));
      }
      ui.table.insertBefore(body, ui.totals);
    }
    const totals = totalsOf(preview);
    const row = (label, value, cls) => el("tr", { class: cls },
      el("th", { scope: "row", colspan: "4", class: "num", text: label }), el("td", { class: "num", text: money(value) }));
    ui.totals.replaceChildren(row("Subtotal", totals.subtotal), row("Discount", totals.discount),
      row("Tax", totals.tax), row("Total", totals.total, "grand"));
    const hasLines = !preview.nothing_to_invoice && (preview.lines || []).length > 0;
    ui.table.hidden = false;
    ui.previewStatus.textContent = hasLines ? `Total ${money(totals.total)}` : "Nothing to invoice for this cycle.";
    const own = W365.reinvoiceWarning(selectedCycle());
    const others = (preview.warnings || []).filter((w) => w && w !== own);
    if (others.length) showNotice(ui.previewWarnings, "warn", others[0], others.slice(1));
    else ui.previewWarnings.hidden = true;
  }

  function selectedCycle() {
    return state.cycles.find((c) => c.key === ui.cycle.value) || null;
  }

  /** The re-invoice warning, and the confirmation an already invoiced cycle needs before Create. */
  function renderCycleWarning() {
    const warning = W365.reinvoiceWarning(selectedCycle());
    if (warning) showNotice(ui.cycleWarning, "warn", warning);
    else ui.cycleWarning.hidden = true;
    ui.confirm.checked = false;
    ui.confirmBox.hidden = !warning;
    renderCreateState();
  }

  /** Create is enabled for a chosen cycle, and for an invoiced one only once the re-invoice is confirmed. */
  function renderCreateState() {
    const cycle = selectedCycle();
    ui.create.disabled = !cycle || (cycle.status === "invoiced" && !ui.confirm.checked);
  }

  async function refreshPreview() {
    const key = ui.cycle.value;
    state.preview = null;
    state.idempotencyKey = null;
    ui.previewWarnings.hidden = true;
    const seq = ++state.previewSeq;  // a slower answer for a previous choice must not win
    if (!ui.showPreview.checked || !key) {
      ui.preview.hidden = true;
      ui.preview.setAttribute("aria-busy", "false");
      return;
    }
    ui.preview.hidden = false;
    ui.preview.setAttribute("aria-busy", "true");
    ui.previewStatus.textContent = "Loading preview…";
    ui.table.hidden = true;
    try {
      const { data } = await api("POST", "/invoices/preview", { billing_contract_id: contractId, cycle: key });
      if (seq === state.previewSeq) renderPreview(data);
    } catch (error) {
      if (seq !== state.previewSeq) return;
      ui.previewStatus.textContent = "";
      showNotice(ui.previewWarnings, "error", `The preview could not be loaded: ${error.message}`);
      onAuthError(error);
    } finally {
      if (seq === state.previewSeq) ui.preview.setAttribute("aria-busy", "false");
    }
  }

  function renderHeader(header) {
    state.header = header;
    page.dataset.changeLog = header.change_log ? "offered" : "no";  // the Change Log tab (changelog.js) shows when offered
    state.money = W365.moneyFormatter(header.currency);
    ui.name.textContent = header.name || "Billing contract";
    document.title = `Generate Invoice · ${header.name || ""}`;
    const currency = header.currency && header.currency.code ? ` · ${header.currency.code}` : "";
    ui.account.textContent = header.account && header.account.name ? `Account: ${header.account.name}${currency}` : currency.slice(3);
    ui.type.textContent = (header.type && header.type.label) || "";
    ui.policy.textContent = (header.billing_policy && header.billing_policy.label) || "";
    ui.otp.textContent = header.invoice_otp_immediately ? "Yes" : "No";
    ui.facts.hidden = false;
  }

  /** Read the cycles again; select `keepSelection` if given, else the default (none: "Nothing to invoice"). */
  async function loadCycles(keepSelection) {
    const { data } = await api("GET", `/billing-contracts/${encodeURIComponent(contractId)}/cycles`);
    renderHeader(data.header);
    state.cycles = data.cycles || [];
    const selected = keepSelection && state.cycles.some((c) => c.key === keepSelection) ? keepSelection : data.default;
    W365.fillCycleSelect(ui.cycle, state.cycles, selected, !selected);
    ui.cycle.disabled = state.cycles.length === 0;
    if (!state.cycles.length) {
      showNotice(ui.cycleWarning, "info", "This billing contract has no billing cycle to invoice.");
      ui.confirmBox.hidden = true;
      renderCreateState();
    } else renderCycleWarning();
  }

  async function load() {
    if (!contractId) return;
    ui.pageError.hidden = true;
    try {
      await loadCycles(null);
      ui.form.hidden = false;
      ui.actions.hidden = false;
      await refreshPreview();
    } catch (error) {
      fail(error);
    }
  }

  function showCreated(result) {
    const invoice = result.invoice;
    const url = W365.invoiceUrl(invoice.id);
    const box = el("div", { class: "notice ok", id: "created" });
    const line = el("p", {}, "Invoice ", el("strong", { id: "created-number", text: invoice.number }),
      " created · total ", el("strong", { id: "created-total", text: state.money(invoice.total) }));
    box.append(line);
    if (url) box.append(el("p", {}, el("a", { href: url, target: "_blank", rel: "noopener", id: "created-link",
      text: `Open invoice ${invoice.number}` })));
    const existing = result.existing_invoices || [];
    if (existing.length) box.append(el("p", { text: `This is an additional invoice; ${W365.invoiceNumbers(existing)} already existed and was not changed.` }));
    ui.outcome.replaceChildren(box);
  }

  async function create() {
    // while busy (or while the preview the user is about to confirm is loading) the button keeps focus and does nothing
    if (state.creating || ui.preview.getAttribute("aria-busy") === "true") return;
    const cycle = selectedCycle();
    if (!cycle || (cycle.status === "invoiced" && !ui.confirm.checked)) return;
    const key = cycle.key;
    // an additional invoice only when the user confirmed one; a cycle invoiced meanwhile is skipped
    const body = { billing_contract_id: contractId, cycle: key,
                   on_existing: cycle.status === "invoiced" ? "create_additional" : "skip" };
    if (ui.showPreview.checked && state.preview && state.preview.preview_hash) body.preview_hash = state.preview.preview_hash;
    state.idempotencyKey = state.idempotencyKey || W365.uuid();  // a repeated press after a lost answer is not a second invoice
    state.creating = true;
    ui.create.setAttribute("aria-disabled", "true");
    ui.busy.textContent = "Creating the invoice…";
    ui.outcome.replaceChildren();
    try {
      const { data } = await api("POST", "/invoices", body, { "Idempotency-Key": state.idempotencyKey });
      state.idempotencyKey = null;
      const result = data.result || {};
      if (result.status === "created" && result.invoice) showCreated(result);
      else showNotice(ui.outcome, "info", `No invoice was created: ${result.message || "nothing to invoice"}.`);
      await loadCycles(null);  // on to the next cycle to invoice: the one just invoiced needs a new confirmation
      await refreshPreview();
    } catch (error) {
      // a definite refusal ends this attempt; after a lost answer (network, 5xx) the same key is reused
      if (error.status >= 400 && error.status < 500) state.idempotencyKey = null;
      if (error.code === "stale_preview") {
        const fresh = error.details && error.details.preview;
        showNotice(ui.outcome, "warn", "The invoice changed since the preview was made, so nothing was created.",
          ["The preview below is up to date: check it and press Create again."]);
        try { await loadCycles(key); } catch (exc) { /* the preview below still tells the user */ }
        renderCycleWarning();
        if (fresh) { ui.preview.hidden = false; renderPreview(fresh); } else await refreshPreview();
      } else {
        showNotice(ui.outcome, "error", `The invoice was not created: ${error.message}`);
        onAuthError(error);
      }
    } finally {
      state.creating = false;
      ui.busy.textContent = "";
      ui.create.removeAttribute("aria-disabled");
      renderCreateState();
    }
  }

  ui.cycle.addEventListener("change", () => { renderCycleWarning(); ui.outcome.replaceChildren(); refreshPreview(); });
  ui.showPreview.addEventListener("change", refreshPreview);
  ui.create.addEventListener("click", create);
  ui.confirm.addEventListener("change", renderCreateState);
  ui.close.addEventListener("click", W365.closeWindow);
  load();
})();
