/* The bulk Generate Invoice window: one row per contract, Proceed, live Result, Retry failed, CSV. */
"use strict";

(() => {
  const { api, el, showNotice } = W365;
  const page = document.getElementById("page");
  const ids = (page.dataset.contractIds || "").split(",").filter(Boolean);
  const $ = (id) => document.getElementById(id);
  const ui = {
    pageError: $("page-error"), loading: $("loading"), table: $("rows"), body: document.querySelector("#rows tbody"),
    actions: $("actions"), progressText: $("progress-text"), progress: $("progress"),
    download: $("download"), retry: $("retry"), proceed: $("proceed"), close: $("close"),
    filter: $("result-filter"), checkAll: $("check-all"), dataverseNotice: $("dataverse-notice"),
  };
  const STALL_MS = 10000;  // no progress for this long: ask whether Dataverse still answers
  const DATAVERSE_DOWN = "Dataverse is not answering; the run continues when it is back.";
  const POLL_MS = 700;
  const POST_TASK_WAIT_MS = 90000;  // post tasks finish within 60 s of the run's end (docs/interfaces.md)
  const TASK_NAMES = { send: "Send", sync: "Sync", charge: "Charge", 1: "Send", 2: "Sync", 3: "Charge" };
  const AUTOMATION_NAMES = { send: "auto-send", sync: "auto-sync", charge: "auto-charge" };

  /** One entry per requested id: {id, data (its /bulk/rows row or null), tr, select, check, warning,
      result (cell), money, status, skip (not found: not sent)}. */
  const rows = [];
  let runId = null;
  let polling = false;
  const onAuthError = W365.onSignInLapsed(() => (runId ? poll() : load()));

  function enabledAutomations(data) {
    const automations = (data && data.automations) || {};
    return Object.keys(AUTOMATION_NAMES).filter((k) => automations[k]);
  }

  function rowWarning(row) {
    const cycle = (row.data.cycles || []).find((c) => c.key === row.select.value);
    const warning = row.select.value ? W365.reinvoiceWarning(cycle) : null;
    row.warning.textContent = warning || "";
    row.warning.hidden = !warning;
    row.select.title = row.select.selectedOptions[0] ? row.select.selectedOptions[0].text : "";
  }

  /** Rows Proceed sends: found, and with a cycle chosen ("Nothing to invoice" rows stay unless one is picked). */
  function sendable(row) {
    return !row.skip && Boolean(row.select.value);
  }

  function buildRow(index, id, data) {
    const n = index + 1;
    const tr = el("tr", { "data-contract-id": id });
    const row = { id, data, tr, money: W365.moneyFormatter(data && data.currency) };
    const problem = !data ? "This billing contract was not found."
      : data.error ? `This billing contract cannot be invoiced: ${data.error}` : null;
    const nameCell = el("th", { scope: "row", id: `name-${n}`, text: (data && data.name) || id });
    if (problem) {
      tr.append(nameCell, el("td", { colspan: "2", class: "muted", text: "—" }),
        el("td", { class: "result failed" }, el("span", { class: "state", text: problem })));
      row.skip = true;
      return row;
    }
    row.select = el("select", { id: `cycle-${n}`, "aria-labelledby": `name-${n} cycle-head`,
      "aria-describedby": `warn-${n}` });
    // no default: every listed cycle is invoiced, so nothing is sent unless the user picks one
    W365.fillCycleSelect(row.select, data.cycles || [], data.default_cycle, !data.default_cycle);
    row.select.disabled = !(data.cycles || []).length;
    W365ChangeLogRows.addOption(row.select, data);
    row.warning = el("span", { class: "row-warn", id: `warn-${n}`, hidden: true });
    const automations = enabledAutomations(data);
    row.check = el("input", { type: "checkbox", id: `post-${n}`, "aria-describedby": `post-note-${n}` });
    row.check.checked = automations.length > 0;
    row.check.disabled = automations.length === 0;
    const note = automations.length ? `Runs ${automations.map((k) => AUTOMATION_NAMES[k]).join(", ")}`
      : "No automations are enabled on this contract";
    const label = el("label", { class: "sr-only", for: `post-${n}`, text: `Trigger post invoicing tasks for ${data.name}` });
    row.result = el("td", { class: "result", id: `result-${n}` }, el("span", { class: "muted", text: "—" }));
    tr.append(nameCell, el("td", {}, row.select, row.warning),
      el("td", {}, label, el("span", { class: "check" }, row.check,
        el("span", { class: "compact-only", "aria-hidden": "true", text: "Post invoicing tasks" })),
      el("span", { class: "row-note", id: `post-note-${n}`, text: note })), row.result);
    row.select.addEventListener("change", () => { rowWarning(row); renderProceed(); });
    rowWarning(row);
    return row;
  }

  /** A row of a run opened by its address: what was requested, read-only, its Result as it comes. */
  function buildRunRow(index, runRow) {
    const n = index + 1;
    const tr = el("tr", { "data-contract-id": runRow.billing_contract_id });
    const row = { id: runRow.billing_contract_id, data: null, tr, sent: true, money: W365.moneyFormatter(null) };
    const cycle = W365ChangeLogRows.label(runRow.cycle) || (runRow.cycle === "one-time" ? "One-time purchases"
      : runRow.cycle ? W365.formatDate(runRow.cycle) : "Default cycle");
    row.check = el("input", { type: "checkbox", id: `post-${n}`, disabled: true });
    row.check.checked = Boolean(runRow.trigger_post_invoicing_tasks);
    row.result = el("td", { class: "result", id: `result-${n}` });
    tr.append(el("th", { scope: "row", id: `name-${n}`, text: runRow.name || runRow.billing_contract_id }),
      el("td", { class: "cycle-text", text: cycle }),
      el("td", {}, el("label", { class: "sr-only", for: `post-${n}`, text: "Trigger post invoicing tasks" }), row.check),
      row.result);
    return row;
  }

  /** Open the run of `?run=`: its rows, progress and Result; Retry failed and the CSV as after Proceed. */
  async function openRun(id) {
    try {
      const { data: run } = await api("GET", `/invoice-runs/${encodeURIComponent(id)}`);
      runId = run.run_id;
      rows.length = 0;
      (run.rows || []).forEach((runRow, i) => rows.push(buildRunRow(i, runRow)));
      ui.body.replaceChildren(...rows.map((r) => r.tr));
      ui.table.hidden = false;
      ui.actions.hidden = false;
      ui.loading.textContent = "";
      ui.checkAll.disabled = true;
      ui.proceed.disabled = true;
      $("subtitle").textContent = `Invoice run of ${rows.length} billing contract${rows.length === 1 ? "" : "s"}`;
      ui.download.href = `${page.dataset.apiBase}/invoice-runs/${encodeURIComponent(runId)}/results.csv`;
      ui.download.setAttribute("download", `invoice-run-${runId}.csv`);
      ui.download.hidden = false;
      await poll();
    } catch (error) {
      ui.loading.textContent = "";
      showNotice(ui.pageError, "error", `The run could not be shown: ${error.message}`);
      onAuthError(error);
    }
  }

  async function load() {
    ui.pageError.hidden = true;
    try {
      const { data } = await api("POST", "/bulk/rows", { ids });
      const byId = new Map((data.rows || []).map((r) => [String(r.billing_contract_id).toLowerCase(), r]));
      // contracts that exist but cannot be read come back in `errors` with the reason
      for (const problem of data.errors || []) {
        byId.set(String(problem.billing_contract_id).toLowerCase(), { name: null, error: problem.message });
      }
      rows.length = 0;
      ids.forEach((id, i) => rows.push(buildRow(i, id, byId.get(id.toLowerCase()) || null)));
      ui.body.replaceChildren(...rows.map((r) => r.tr));
      ui.table.hidden = false;
      ui.actions.hidden = false;
      ui.loading.textContent = "";
      renderProceed();
      renderCheckAll();
    } catch (error) {
      ui.loading.textContent = "";
      showNotice(ui.pageError, "error", `The billing contracts could not be loaded: ${error.message}`);
      onAuthError(error);
    }
  }

  function taskList(tasks) {
    if (!tasks || !tasks.length) return null;
    return el("ul", { "aria-label": "Post invoicing tasks" }, ...tasks.map((t) => {
      const status = String(t.status || "").replace(/^./, (c) => c.toUpperCase());
      return el("li", { text: `${TASK_NAMES[t.task] || t.task}: ${status}${t.message ? ` — ${t.message}` : ""}` });
    }));
  }

  function renderResult(row, result) {
    const status = (result && result.status) || "pending";
    row.status = status;
    row.result.className = `result ${status}`;
    const parts = [];
    if (status === "created" && result.invoice) {
      const inv = result.invoice;
      const url = W365.invoiceUrl(inv.id);
      const number = url ? el("a", { href: url, target: "_blank", rel: "noopener", text: inv.number }) : inv.number;
      parts.push(el("span", { class: "state" }, "Created ", number, ` · ${row.money(inv.total)}`));
      const existing = result.existing_invoices || [];
      if (existing.length) parts.push(el("span", { class: "detail", text: `Additional invoice; ${W365.invoiceNumbers(existing)} already existed` }));
      parts.push(taskList(result.post_tasks));
    } else if (status === "skipped") {
      parts.push(el("span", { class: "state", text: "Skipped" }), el("span", { class: "detail", text: result.message || "" }));
    } else if (status === "failed") {
      parts.push(el("span", { class: "state", text: "Failed" }), el("span", { class: "detail", text: result.message || "unknown reason" }));
    } else {
      parts.push(el("span", { class: "state", text: "Pending…" }));
    }
    row.result.replaceChildren(...parts.filter(Boolean));
  }

  function tasksOutstanding(runRows) {
    return runRows.some((r) => ((r.result && r.result.post_tasks) || []).some((t) => t.status === "queued" || t.status === "running"));
  }

  function renderProceed() {
    ui.proceed.disabled = runId !== null || !rows.some(sendable);
  }

  /** The header box that checks or unchecks every row's post tasks (rows with automations only). */
  function renderCheckAll() {
    const boxes = rows.filter((r) => r.check && !r.check.disabled).map((r) => r.check);
    ui.checkAll.disabled = boxes.length === 0;
    ui.checkAll.checked = boxes.length > 0 && boxes.every((b) => b.checked);
    ui.checkAll.indeterminate = boxes.some((b) => b.checked) && !ui.checkAll.checked;
  }

  function applyFilter() {
    const wanted = ui.filter.value;
    for (const row of rows) row.tr.hidden = wanted !== "all" && row.status !== wanted;
  }

  function renderRun(run) {
    const active = rows.filter((r) => r.sent);
    (run.rows || []).forEach((runRow, i) => {
      const row = active[Number.isInteger(runRow.row_index) ? runRow.row_index : i];
      if (row) renderResult(row, runRow.result);
    });
    const progress = run.progress || { done: 0, total: active.length };
    ui.progress.hidden = false;
    ui.progress.max = progress.total || 1;
    ui.progress.value = progress.done;
    const count = (s) => active.filter((r) => r.status === s).length;
    const tally = `${count("created")} created, ${count("skipped")} skipped, ${count("failed")} failed`;
    ui.progressText.textContent = run.status === "running" ? `${progress.done} of ${progress.total} done · ${tally}`
      : `Finished: ${tally}.`;
    ui.progressText.className = "status" + (run.status === "running" ? "" : count("failed") ? " warn" : " ok");
    ui.filter.disabled = false;
    applyFilter();
    if (run.status !== "running") {
      ui.retry.hidden = count("failed") === 0;
      ui.retry.disabled = false;
    }
  }

  function sleep(ms) { return new Promise((resolve) => setTimeout(resolve, ms)); }

  /** Whether Dataverse answers the service (its health check), asked while a run makes no progress. */
  async function dataverseAnswers() {
    try {
      const { data } = await api("GET", "/health");
      return data.status === "ok";
    } catch (error) {
      return error.status !== 503 && error.status !== 0;
    }
  }

  function showDataverseDown(down) {
    if (down) showNotice(ui.dataverseNotice, "warn", DATAVERSE_DOWN);
    else ui.dataverseNotice.hidden = true;
  }

  async function poll() {
    if (polling) return;
    polling = true;
    let finishedAt = null;
    let failures = 0;
    let lastDone = -1;
    let lastChange = Date.now();
    try {
      for (;;) {
        let run;
        try {
          ({ data: run } = await api("GET", `/invoice-runs/${encodeURIComponent(runId)}`));
          failures = 0;
        } catch (error) {
          // an outage must not lose the run: keep asking, and say what is going on
          if (error.status === 401 || error.status === 404) {
            showNotice(ui.pageError, "error", `The run's progress could not be read: ${error.message}`);
            onAuthError(error);
            return;
          }
          failures += 1;
          if (Date.now() - lastChange >= STALL_MS) showDataverseDown(!(await dataverseAnswers()));
          await sleep(Math.min(POLL_MS * failures, 5000));
          continue;
        }
        const done = (run.progress || {}).done;
        if (done !== lastDone) {
          lastDone = done;
          lastChange = Date.now();
          showDataverseDown(false);
        } else if (run.status === "running" && Date.now() - lastChange >= STALL_MS) {
          showDataverseDown(!(await dataverseAnswers()));
        }
        renderRun(run);
        if (run.status === "running") finishedAt = null;  // e.g. Retry failed pressed meanwhile
        else {
          finishedAt = finishedAt || Date.now();
          if (!tasksOutstanding(run.rows || []) || Date.now() - finishedAt > POST_TASK_WAIT_MS) return;
        }
        await sleep(POLL_MS);
      }
    } finally {
      polling = false;
    }
  }

  async function start(request) {
    ui.pageError.hidden = true;
    try {
      const { data } = await request();
      runId = data.run_id;
      // the window's address now names the run: a reload shows it again, never a fresh form
      history.replaceState(null, "", `${location.pathname}?run=${encodeURIComponent(runId)}`);
      ui.download.href = `${page.dataset.apiBase}/invoice-runs/${encodeURIComponent(runId)}/results.csv`;
      ui.download.setAttribute("download", `invoice-run-${runId}.csv`);
      ui.download.hidden = false;
      await poll();
    } catch (error) {
      showNotice(ui.pageError, "error", `The invoices could not be generated: ${error.message}`);
      onAuthError(error);
      return false;
    }
    return true;
  }

  async function proceed() {
    const active = rows.filter(sendable);
    if (!active.length) return;
    active.forEach((r) => { r.sent = true; });
    rows.filter((r) => !r.skip && !r.sent).forEach((r) => {  // "Nothing to invoice" rows: shown, not sent
      r.select.disabled = true;
      r.check.disabled = true;
      r.status = "skipped";
      r.result.className = "result skipped";
      r.result.replaceChildren(el("span", { class: "state", text: "Skipped" }),
        el("span", { class: "detail", text: "Nothing to invoice: every listed cycle is already invoiced" }));
    });
    const body = {
      source: "page",
      rows: active.map((r) => ({
        billing_contract_id: r.id, ...W365ChangeLogRows.requestFields(r.select.value),
        trigger_post_invoicing_tasks: r.check.checked,
      })),
    };
    ui.proceed.disabled = true;
    active.forEach((r) => { r.select.disabled = true; r.check.disabled = true; renderResult(r, null); });
    ui.progressText.textContent = `0 of ${active.length} done`;
    ui.progressText.focus();  // Proceed is now disabled: keep keyboard focus on what changes next
    const ok = await start(() => api("POST", "/invoice-runs", body, { "Idempotency-Key": W365.uuid() }));
    if (!ok && !runId) {  // nothing started: let the user change the rows and press Proceed again
      rows.forEach((r) => { r.sent = false; r.status = undefined; });
      rows.filter((r) => !r.skip).forEach((r) => {
        r.select.disabled = false;
        r.check.disabled = !enabledAutomations(r.data).length;
        r.result.className = "result";
        r.result.replaceChildren(el("span", { class: "muted", text: "—" }));
      });
      ui.proceed.disabled = false;
      ui.progressText.textContent = "";
    }
  }

  async function retry() {
    ui.retry.disabled = true;
    ui.retry.hidden = true;
    rows.filter((r) => r.status === "failed").forEach((r) => renderResult(r, null));
    await start(() => api("POST", `/invoice-runs/${encodeURIComponent(runId)}/retry`, {}, { "Idempotency-Key": W365.uuid() }));
  }

  ui.proceed.addEventListener("click", proceed);
  ui.close.addEventListener("click", W365.closeWindow);
  ui.filter.addEventListener("change", applyFilter);
  ui.checkAll.addEventListener("change", () => {
    rows.filter((r) => r.check && !r.check.disabled).forEach((r) => { r.check.checked = ui.checkAll.checked; });
    renderCheckAll();
  });
  ui.body.addEventListener("change", (event) => { if (event.target.type === "checkbox") renderCheckAll(); });
  ui.retry.addEventListener("click", retry);
  if (page.dataset.runId) openRun(page.dataset.runId);
  else if (ids.length) load();
})();
