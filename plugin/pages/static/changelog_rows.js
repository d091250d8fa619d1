/* Change logs in the bulk window: the "Change log as of …" choice of a row's select, and how a
   chosen change log is sent in POST /invoice-runs (kind "change_log" with as_of, no cycle). */
"use strict";

const W365ChangeLogRows = (() => {
  const PREFIX = "change-log:";
  const todayUtc = () => new Date().toISOString().slice(0, 10);

  /** Add "Change log as of <today>" to a row's select when its contract offers change logs. */
  function addOption(select, data) {
    if (!select || !data || !data.change_log) return;
    const asOf = todayUtc();
    const option = document.createElement("option");
    option.value = PREFIX + asOf;
    option.textContent = label(option.value);
    select.append(option);
    select.disabled = false;
  }

  /** The run-row fields of a select's value: {kind, as_of} for a change log, else {cycle}. */
  function requestFields(value) {
    if (value && value.startsWith(PREFIX)) return { kind: "change_log", as_of: value.slice(PREFIX.length) };
    return { cycle: value || null };
  }

  /** "Change log as of Dec 7, 2026" for a change-log row's cycle key, else null. */
  function label(key) {
    return key && key.startsWith(PREFIX) ? `Change log as of ${W365.formatDate(key.slice(PREFIX.length))}` : null;
  }

  return { addOption, requestFields, label };
})();
