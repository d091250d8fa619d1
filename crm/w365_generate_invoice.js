/*
 * Work 365 ▸ Generate Invoice: the command-button script (web resource `w365_generate_invoice.js`).
 *
 * Form button:  Run JavaScript  W365.GenerateInvoice.fromForm     parameters: PrimaryControl
 * Grid button:  Run JavaScript  W365.GenerateInvoice.fromGrid     parameters: SelectedControlSelectedItemIds, SelectedControl
 *
 * Both open the plugin's pages (the single-contract dialog, the bulk window) in a Dataverse dialog that
 * frames them (HTML web resource `w365_generate_invoice_host.html`), or in a browser window.
 * Configuration lives in Dataverse environment variables (see crm/SETUP.md):
 *   w365_PluginUrl       the plugin's base URL, e.g. https://invoicing.contoso.com   (required)
 *   w365_PluginOpenMode  "dialog" (default) or "window"                               (optional)
 */
var W365 = window.W365 || {};

W365.GenerateInvoice = (function () {
  "use strict";

  var HOST_WEB_RESOURCE = "w365_generate_invoice_host.html";
  var VARIABLES = { url: "w365_PluginUrl", mode: "w365_PluginOpenMode" };
  var SIZES = {  // dialog sizes: the single dialog is small, the bulk window nearly full screen
    generate: { width: { value: 640, unit: "px" }, height: { value: 560, unit: "px" }, popup: { width: 640, height: 560 } },
    bulk: { width: { value: 90, unit: "%" }, height: { value: 85, unit: "%" }, popup: { width: 1100, height: 760 } },
  };
  var TITLES = { generate: "Generate Invoice", bulk: "Generate Invoices" };
  var POST_IDS_FROM = 100;  // longer selections than this would make a URL too long for some proxies
  var GUID = /^\{?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\}?$/i;

  function xrm() {
    if (typeof Xrm !== "undefined") return Xrm;
    if (window.parent && window.parent.Xrm) return window.parent.Xrm;
    throw new Error("Xrm is not available: this script runs inside a model-driven app");
  }

  /** "{AB12…}" -> "ab12…"; null for anything that is not a GUID. */
  function cleanId(id) {
    var match = GUID.exec(String(id || "").trim());
    return match ? match[1].toLowerCase() : null;
  }

  /** The plugin page URL: `<plugin>/pages/generate?id=…` or `/pages/bulk?ids=…` (none past
      POST_IDS_FROM ids: those go in a form POST). */
  function pageUrl(settings, page, ids) {
    var base = String(settings.url || "").replace(/\/+$/, "");
    if (!/^https?:\/\//i.test(base)) throw new Error("The plugin URL (environment variable " + VARIABLES.url + ") is not set to an http(s) URL");
    var query = page === "generate" ? "id=" + encodeURIComponent(ids[0])
      : ids.length > POST_IDS_FROM ? "" : "ids=" + ids.map(encodeURIComponent).join(",");
    // no key ever rides along: the pages sign the user in (Entra ID) and act as that user
    return base + "/pages/" + page + (query ? "?" + query : "");
  }

  /** Open the bulk window for a long selection in `target` (a frame or window name) with a form POST. */
  function postBulk(url, ids, target, doc) {
    doc = doc || document;
    var form = doc.createElement("form");
    form.method = "POST";
    form.action = url;
    form.target = target;
    var field = doc.createElement("input");
    field.type = "hidden";
    field.name = "ids";
    field.value = ids.join(",");
    form.appendChild(field);
    doc.body.appendChild(form);
    form.submit();
    form.remove();
  }

  /** Read one environment variable: its current value, else its default; null when it does not exist. */
  function readVariable(schemaName) {
    var options = "?$select=schemaname,defaultvalue&$filter=schemaname eq '" + schemaName + "'" +
      "&$expand=environmentvariabledefinition_environmentvariablevalue($select=value)";
    return xrm().WebApi.retrieveMultipleRecords("environmentvariabledefinition", options).then(function (result) {
      var definition = result.entities[0];
      if (!definition) return null;
      var values = definition.environmentvariabledefinition_environmentvariablevalue || [];
      return values.length && values[0].value ? values[0].value : definition.defaultvalue || null;
    });
  }

  /** The settings {url, mode} from the environment variables. */
  function loadSettings() {
    return Promise.all([readVariable(VARIABLES.url), readVariable(VARIABLES.mode)])
      .then(function (values) {
        return { url: values[0], mode: (values[1] || "dialog").toLowerCase() };
      });
  }

  function alertUser(text) {
    return xrm().Navigation.openAlertDialog({ title: "Generate Invoice", text: text });
  }

  /** Open `page` for `ids`: in a Dataverse dialog framing the page, or in a browser window. */
  function open(page, ids) {
    return loadSettings().then(function (settings) {
      var size = SIZES[page];
      if (settings.mode === "window") {
        if (page === "bulk" && ids.length > POST_IDS_FROM) {
          var name = "w365-bulk-" + Date.now();
          window.open("about:blank", name, "width=" + size.popup.width + ",height=" + size.popup.height);
          postBulk(pageUrl(settings, page, ids), ids, name);
        } else {
          xrm().Navigation.openUrl(pageUrl(settings, page, ids), size.popup);
        }
        return;
      }
      var data = JSON.stringify({ page: page, ids: ids });
      return xrm().Navigation.navigateTo(
        { pageType: "webresource", webresourceName: HOST_WEB_RESOURCE, data: data },
        { target: 2, position: 1, width: size.width, height: size.height, title: TITLES[page] });
    });
  }

  function failed(error) {
    return alertUser("Generate Invoice could not start: " + (error && error.message ? error.message : error));
  }

  /** Form button (parameter PrimaryControl): the dialog for the current billing contract. */
  function fromForm(primaryControl) {
    var id = cleanId(primaryControl && primaryControl.data && primaryControl.data.entity.getId());
    if (!id) return alertUser("Save the billing contract first.");
    return open("generate", [id]).then(function () {
      // the dialog may have created an invoice: show it in the contract's related records
      primaryControl.data.refresh(false);
    }, failed);
  }

  /** Grid button (parameters SelectedControlSelectedItemIds, SelectedControl): the bulk window. */
  function fromGrid(selectedIds, selectedControl) {
    var ids = [];
    (selectedIds || []).forEach(function (raw) {
      var id = cleanId(raw);
      if (id && ids.indexOf(id) < 0) ids.push(id);
    });
    if (!ids.length) return alertUser("Select at least one billing contract.");
    return open("bulk", ids).then(function () {
      if (selectedControl && selectedControl.refresh) selectedControl.refresh();
    }, failed);
  }

  /** Close the Dataverse dialog when the framed page's Close button asks (a message from the plugin's origin). */
  function listenForClose(frame, url) {
    var origin = new URL(url).origin;
    window.addEventListener("message", function (event) {
      if (event.origin !== origin || event.source !== frame.contentWindow) return;
      if (!event.data || event.data.w365 !== "close") return;
      var parentDoc = null;
      try { parentDoc = window.parent.document; } catch (e) { parentDoc = null; }
      var closeButton = parentDoc && parentDoc.querySelector("button[data-id='dialogCloseIconButton']");
      if (closeButton) closeButton.click();
      else window.close();
    });
  }

  /** The host web resource: frame the page named in its `data` parameter ({page, ids}). */
  function host(frame, search) {
    var data = new URLSearchParams(search).get("data");
    var request;
    try { request = JSON.parse(data || ""); } catch (e) { request = null; }
    var ids = request && Array.isArray(request.ids) ? request.ids.map(cleanId).filter(Boolean) : [];
    if (!request || !SIZES[request.page] || !ids.length) {
      return Promise.reject(new Error("The dialog was opened without billing contracts."));
    }
    // the URL is rebuilt from the configuration, never taken from the caller, so the frame shows only the plugin
    return loadSettings().then(function (settings) {
      frame.title = TITLES[request.page];
      var shown = request.page === "generate" ? ids.slice(0, 1) : ids;
      var url = pageUrl(settings, request.page, shown);
      listenForClose(frame, url);
      if (request.page === "bulk" && shown.length > POST_IDS_FROM) {
        frame.name = frame.name || "w365-page";
        postBulk(url, shown, frame.name, frame.ownerDocument);
      } else {
        frame.src = url;
      }
    });
  }

  return { fromForm: fromForm, fromGrid: fromGrid, host: host, pageUrl: pageUrl, cleanId: cleanId };
})();
