/* Shared helpers of the Generate Invoice pages: API calls with auth, plain-words errors, money and dates. */
"use strict";

const W365 = (() => {
  const root = document.querySelector("[data-api-base]");
  const apiBase = root ? root.dataset.apiBase : "/api/v1";
  const csrfToken = root ? root.dataset.csrfToken : "";

  class ApiError extends Error {
    constructor(status, code, message, details) {
      super(message);
      this.status = status;
      this.code = code;
      this.details = details || {};
    }
  }

  const STATUS_WORDS = {
    0: "The invoicing service could not be reached. Check the connection and try again.",
    400: "The request was not accepted.",
    401: "Your sign-in has expired. Sign in again to go on.",
    403: "You do not have permission to do this.",
    404: "The record was not found. It may have been deleted.",
    409: "The data changed while you were working. Review it and try again.",
    413: "Too much was selected at once. Select fewer records and try again.",
    429: "Dataverse is busy right now. Wait a moment and try again.",
    500: "The invoicing service had a problem. Try again; if it keeps happening, tell your administrator.",
    502: "Dataverse could not be reached. Try again in a moment.",
    503: "Dataverse is not available right now. Try again in a moment.",
    504: "Dataverse took too long to answer. Try again in a moment.",
  };

  /** The sentence to show for a failed call: the service's own message, else words for the status. */
  function plainMessage(status, error) {
    if (status === 401) return STATUS_WORDS[401];
    if (error && typeof error.message === "string" && error.message.trim()) return error.message.trim();
    return STATUS_WORDS[status] || STATUS_WORDS[Math.floor(status / 100) * 100] || STATUS_WORDS[500];
  }

  /** Call the plugin API; resolves to {status, data}, rejects with an ApiError in plain words. */
  async function api(method, path, body, extraHeaders) {
    const headers = Object.assign({ Accept: "application/json" }, extraHeaders || {});
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (csrfToken && method !== "GET") headers["X-CSRF-Token"] = csrfToken;
    let response;
    try {
      response = await fetch(apiBase + path, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: "same-origin",
      });
    } catch (exc) {
      throw new ApiError(0, "network", STATUS_WORDS[0]);
    }
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (exc) { data = null; }
    if (!response.ok) {
      const error = (data && data.error) || {};
      throw new ApiError(response.status, error.code || "http_" + response.status,
        plainMessage(response.status, error), error.details);
    }
    return { status: response.status, data };
  }

  /** Fetch a file from the API (with auth) and hand it to the browser as a download. */
  async function download(path, filename) {
    const response = await fetch(apiBase + path, { credentials: "same-origin" });
    if (!response.ok) throw new ApiError(response.status, "http_" + response.status, plainMessage(response.status));
    const url = URL.createObjectURL(await response.blob());
    const link = document.createElement("a");
    link.href = url;
    link.download = filename;
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  /** A random UUID, also outside secure contexts (used as Idempotency-Key). */
  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  /** A formatter for money strings in a currency ({code, precision}); the API's decimal strings stay exact. */
  function moneyFormatter(currency) {
    const precision = currency && Number.isInteger(currency.precision) ? currency.precision : 2;
    const code = currency && currency.code;
    let intl = null;
    try {
      if (code) {
        intl = new Intl.NumberFormat(navigator.language || "en-US", {
          style: "currency", currency: code, currencyDisplay: "symbol",
          minimumFractionDigits: precision, maximumFractionDigits: precision,
        });
      }
    } catch (exc) { intl = null; }  // an unusual ISO code: fall back to "<amount> <code>"
    return (value) => {
      if (value === null || value === undefined || value === "") return "";
      const text = String(value);
      if (intl && /^-?\d+(\.\d+)?$/.test(text)) return intl.format(text);  // string input: exact decimal formatting
      return code ? `${text} ${code}` : text;
    };
  }

  const dateFormat = new Intl.DateTimeFormat(navigator.language || "en-US",
    { year: "numeric", month: "short", day: "numeric", timeZone: "UTC" });

  /** "2026-01-01" -> "Jan 1, 2026" (DateOnly values, read as UTC dates). */
  function formatDate(iso) {
    if (!iso || !/^\d{4}-\d{2}-\d{2}$/.test(iso)) return iso || "";
    return dateFormat.format(new Date(iso + "T00:00:00Z"));
  }

  /** A period in the reader's date format: one date, or "start – end". */
  function formatPeriod(start, end) {
    if (!start) return "";
    return start === end || !end ? formatDate(start) : `${formatDate(start)} – ${formatDate(end)}`;
  }

  function invoiceNumbers(invoices) {
    return (invoices || []).map((inv) => inv.number || inv.id).join(", ");
  }

  /** The select label of a cycle: its period and, when invoiced, the invoice numbers. */
  function cycleLabel(cycle) {
    const period = cycle.key === "one-time"
      ? `One-time purchases (${formatDate(cycle.start)})`
      : `${formatDate(cycle.start)} – ${formatDate(cycle.end)}`;
    if (cycle.status === "invoiced") return `${period} · Invoiced ${invoiceNumbers(cycle.invoices)}`.trim();
    if (cycle.status === "error") return `${period} · Last attempt failed`;
    return period;
  }

  /** The re-invoice warning for a cycle, or null when it is not invoiced. */
  function reinvoiceWarning(cycle) {
    if (!cycle || cycle.status !== "invoiced") return null;
    return `Already invoiced (${invoiceNumbers(cycle.invoices)}): an additional invoice will be created`;
  }

  const NOTHING_TO_INVOICE = "Nothing to invoice";

  /** Fill a <select> with the cycles, selecting `selectedKey`; `placeholder`: first a "Nothing to invoice"
      option (value ""), selected, for a contract whose every listed cycle is invoiced. */
  function fillCycleSelect(select, cycles, selectedKey, placeholder) {
    const options = cycles.map((cycle) => {
      const option = new Option(cycleLabel(cycle), cycle.key, false, cycle.key === selectedKey);
      option.dataset.status = cycle.status;
      option.title = option.text;  // the whole label, also where the select is too narrow to show it
      return option;
    });
    if (placeholder) options.unshift(new Option(NOTHING_TO_INVOICE, "", false, true));
    select.replaceChildren(...options);
    select.title = select.selectedOptions[0] ? select.selectedOptions[0].text : "";
  }

  /** Link to an invoice: the org's invoice form, or the read-only invoice page against a local Dataverse. */
  function invoiceUrl(invoiceId) {
    const template = root && root.dataset.invoiceUrl;
    return template ? template.replace("{id}", encodeURIComponent(invoiceId)) : null;
  }

  /** Close the window: the Dynamics dialog framing the page (its host closes it), or a window a script opened. */
  function closeWindow() {
    if (window.parent !== window) window.parent.postMessage({ w365: "close" }, "*");
    else window.close();
  }

  /** Show `message` (plain words) in the element, as an error or another notice kind. */
  function showNotice(element, kind, message, extraParagraphs) {
    element.className = `notice ${kind}`;
    element.replaceChildren(...[message, ...(extraParagraphs || [])].filter(Boolean).map((text) => {
      const p = document.createElement("p");
      p.textContent = text;
      return p;
    }));
    element.hidden = false;
  }

  /** What to do after a failed call: a lapsed sign-in (401) goes back through the sign-in page. */
  function onSignInLapsed() {
    return (error) => {
      if (error && error.status === 401 && csrfToken) {
        location.assign(`${apiBase.replace(/\/api\/v1$/, "")}/pages/signin?next=${encodeURIComponent(location.pathname + location.search)}`);
      }
    };
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else node.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children) if (child !== null && child !== undefined) node.append(child);
    return node;
  }

  return {
    api, ApiError, download, uuid, moneyFormatter, formatDate, formatPeriod, cycleLabel, reinvoiceWarning, fillCycleSelect,
    invoiceNumbers, invoiceUrl, showNotice, onSignInLapsed, el, closeWindow, NOTHING_TO_INVOICE,
  };
})();
