/* The read-only invoice page: an invoice written by the service, its lines by category and totals. */
"use strict";

(() => {
  const { api, el, showNotice } = W365;
  const page = document.getElementById("page");
  const invoiceId = page.dataset.invoiceId;
  const $ = (id) => document.getElementById(id);

  function render(invoice) {
    const money = W365.moneyFormatter(invoice.currency);
    document.title = `Invoice ${invoice.number || ""}`;
    $("invoice-number").textContent = `Invoice ${invoice.number || ""}`;
    $("invoice-name").textContent = [invoice.account, invoice.billing_contract].filter(Boolean).join(" · ");
    $("fact-date").textContent = W365.formatDate(invoice.invoice_date);
    $("fact-due").textContent = W365.formatDate(invoice.due_date);
    $("fact-period").textContent = W365.formatPeriod(invoice.period_start, invoice.period_end);
    $("fact-category").textContent = invoice.category || "";
    $("facts").hidden = false;
    const table = $("lines");
    const totals = $("totals");
    for (const group of invoice.groups || []) {
      const body = el("tbody", { class: "category" }, el("tr", {},
        el("th", { scope: "rowgroup", colspan: "4", text: group.category }),
        el("th", { class: "num", text: money(group.subtotal) })));
      for (const line of group.lines) {
        body.append(el("tr", {}, el("td", { text: line.description }),
          el("td", { class: "period", text: W365.formatPeriod(line.period_start, line.period_end) }),
          el("td", { class: "num", text: line.quantity }), el("td", { class: "num", text: money(line.unit_price) }),
          el("td", { class: "num", text: money(line.amount) })));
      }
      table.insertBefore(body, totals);
    }
    const row = (label, value, cls) => el("tr", { class: cls },
      el("th", { scope: "row", colspan: "4", class: "num", text: label }), el("td", { class: "num", text: money(value) }));
    const t = invoice.totals || {};
    totals.replaceChildren(row("Subtotal", t.amount), row("Discount", t.discount), row("Tax", t.tax),
      row("Total", t.total, "grand"));
    table.hidden = false;
  }

  const onAuthError = W365.onSignInLapsed(() => load());

  async function load() {
    if (!invoiceId) return;
    try {
      const { data } = await api("GET", `/invoices/${encodeURIComponent(invoiceId)}`);
      render(data);
    } catch (error) {
      showNotice($("page-error"), "error", `The invoice could not be shown: ${error.message}`);
      onAuthError(error);
    }
  }

  $("close").addEventListener("click", W365.closeWindow);
  load();
})();
