// Sesame console: a single-page app over hash routes. Every page calls the SES actions through
// POST /console/api/<Action> (the API's own dispatch, for the session's account) with the CSRF
// token in X-CSRF-Token. DOM is built with h(), never from HTML strings, so no data is markup.
"use strict";

let session = null;

// ---------------------------------------------------------------- DOM and helpers

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "value") el.value = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

const $ = (sel, root) => (root || document).querySelector(sel);

function flash(message, kind) {
  const box = $("#flash");
  box.replaceChildren(h("div", { class: kind || "info", "data-testid": "flash-" + (kind || "info") }, message));
  if (kind !== "error") setTimeout(() => { if (box.firstChild && box.firstChild.textContent === message) box.replaceChildren(); }, 6000);
}

function clearFlash() { $("#flash").replaceChildren(); }

function b64encode(text) {
  const bytes = new TextEncoder().encode(text);
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

// Base64 of raw bytes (a file's), in chunks so large files do not overflow the call stack.
function bytesToB64(bytes) {
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

function sizeText(n) {
  return n < 1024 ? `${n} B` : n < 1048576 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1048576).toFixed(2)} MiB`;
}

function b64decode(b64) {
  if (!b64) return "";
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new TextDecoder().decode(bytes);
}

function addDays(date, days) {
  const [y, m, d] = date.split("-").map(Number);
  const t = new Date(Date.UTC(y, m - 1, d + days));
  return t.toISOString().slice(0, 10);
}

function unixText(seconds) {
  if (!seconds) return "";
  return new Date(seconds * 1000).toLocaleString();
}

function copyButton(text) {
  return h("button", {
    class: "small secondary", type: "button", title: "Copy to the clipboard",
    onclick: async (e) => {
      try { await navigator.clipboard.writeText(text); }
      catch (_) {
        const area = h("textarea", {}, text);
        document.body.append(area); area.select(); document.execCommand("copy"); area.remove();
      }
      e.target.textContent = "Copied";
      setTimeout(() => { e.target.textContent = "Copy"; }, 1500);
    },
  }, "Copy");
}

function table(headers, rows, empty) {
  if (!rows.length) return h("p", { class: "muted" }, empty || "Nothing yet.");
  return h("div", { class: "table-wrap" }, h("table", {},
    h("thead", {}, h("tr", {}, headers.map((x) => h("th", {}, x)))),
    h("tbody", {}, rows)));
}

// Paging of a table: where each paged page is (kept while the console is open, so coming back
// from a domain or a template returns to the same page) and how many rows it shows.
const PAGE_SIZES = [5, 10, 20, 50, 100];
const paging = {};

function pageState(name) {
  if (!paging[name]) paging[name] = { offset: 0, limit: 20 };
  return paging[name];
}

// Previous / Next, the rows shown of `total`, and the page size; `reload` redraws the page.
function pager(state, shown, total, reload) {
  const size = h("select", { "aria-label": "Rows per page", name: "page-size", class: "small" },
    PAGE_SIZES.map((n) => h("option", { value: n }, `${n} a page`)));
  size.value = String(state.limit);
  size.addEventListener("change", () => { state.limit = Number(size.value); state.offset = 0; reload(); });
  return h("div", { class: "pager" },
    h("button", { type: "button", class: "small secondary", name: "previous", disabled: state.offset === 0,
      onclick: () => { state.offset = Math.max(0, state.offset - state.limit); reload(); } }, "Previous"),
    h("span", { class: "muted", "data-testid": "page-rows" }, shown ? `rows ${state.offset + 1}–${state.offset + shown} of ${total}` : `${total} rows`),
    h("button", { type: "button", class: "small secondary", name: "next", disabled: state.offset + shown >= total,
      onclick: () => { state.offset += state.limit; reload(); } }, "Next"),
    size);
}

// ---------------------------------------------------------------- the server

class ApiError extends Error {
  constructor(code, message) { super(message); this.code = code; }
}

async function request(method, path, body) {
  const headers = {};
  if (method === "POST") {
    headers["Content-Type"] = "application/json";
    if (session) headers["X-CSRF-Token"] = session.CsrfToken;
  }
  const response = await fetch(path, {
    method, headers, credentials: "same-origin",
    body: method === "POST" ? JSON.stringify(body || {}) : undefined,
  });
  let data = {};
  try { data = await response.json(); } catch (_) { /* not JSON */ }
  if (response.status === 401 && path !== "/console/api/signin") {
    session = null;
    showSignIn("Your session ended; sign in again.");
    throw new ApiError("AuthFailure.Unauthorized", "signed out");
  }
  if (!response.ok) {
    const err = data.Error || {};
    throw new ApiError(err.Code || String(response.status), err.Message || response.statusText);
  }
  return data;
}

// Runs an SES action for the session's account; throws ApiError with the API's code and message.
async function api(action, params) {
  const data = await request("POST", "/console/api/" + action, params || {});
  const r = data.Response || {};
  if (r.Error) throw new ApiError(r.Error.Code, r.Error.Message);
  return r;
}

// Runs fn, showing any error as the API worded it.
async function guarded(fn) {
  try { return await fn(); }
  catch (e) {
    if (e instanceof ApiError && e.code === "AuthFailure.Unauthorized") return undefined;
    flash(e instanceof ApiError ? `${e.message} (${e.code})` : String(e), "error");
    return undefined;
  }
}

// ---------------------------------------------------------------- sign-in and frame

function showSignIn(message) {
  if (pageTimer) { clearInterval(pageTimer); pageTimer = null; }
  $("#top").hidden = true;
  const email = h("input", { type: "email", name: "email", autocomplete: "username", required: true });
  const password = h("input", { type: "password", name: "password", autocomplete: "current-password", required: true });
  const error = h("p", { class: "bad", "data-testid": "signin-error" });
  const form = h("form", {
    onsubmit: async (e) => {
      e.preventDefault();
      error.textContent = "";
      try {
        session = await request("POST", "/console/api/signin", { Email: email.value, Password: password.value });
        password.value = "";
        await startApp();
      } catch (err) {
        error.textContent = err.message;
      }
    },
  },
  h("label", {}, "E-mail", email),
  h("label", {}, "Password", password),
  h("button", { type: "submit" }, "Sign in"));
  $("#main").replaceChildren(h("section", { class: "card signin" },
    h("h1", {}, "Sign in to Sesame"),
    message ? h("p", { class: "muted" }, message) : null,
    form, error));
}

const PAGES = [
  ["domains", "Domains"], ["senders", "Senders"], ["templates", "Templates"], ["callbacks", "Callbacks"],
  ["send", "Send test"], ["lists", "Recipient lists"], ["tasks", "Batch tasks"],
  ["stats", "Statistics"], ["messages", "Messages"], ["blacklist", "Black list"], ["custom-blacklist", "Custom black list"],
  ["abuse", "Abuse reports"],
];

async function renderFrame() {
  $("#top").hidden = false;
  const pages = session.Role === "operator" ? PAGES.concat([["accounts", "Accounts"]]) : PAGES;
  $("#nav").replaceChildren(...pages.map(([id, label]) => h("a", { href: "#/" + id, "data-page": id }, label)));
  const who = [h("span", { "data-testid": "who" }, `${session.Email} (${session.Role})`)];
  if (session.Role === "operator") {
    const picker = h("select", {
      "aria-label": "Account", "data-testid": "account-picker",
      onchange: () => guarded(async () => {
        session = await request("POST", "/console/api/account", { AppId: Number(picker.value) });
        await renderFrame();
        route();
      }),
    });
    const data = await request("GET", "/console/api/accounts");
    for (const a of data.Accounts) picker.append(h("option", { value: a.AppId }, `${a.AppId} ${a.Name}`));
    picker.value = String(session.AppId);
    who.push(picker);
  } else {
    who.push(h("span", { class: "muted" }, `AppId ${session.AppId}`));
  }
  who.push(h("a", { href: "#/password", "data-page": "password" }, "Password"));
  who.push(h("button", {
    class: "small secondary", type: "button",
    onclick: () => guarded(async () => {
      await request("POST", "/console/api/signout", {});
      session = null;
      showSignIn("Signed out.");
    }),
  }, "Sign out"));
  $("#who").replaceChildren(...who);
}

async function startApp() {
  await renderFrame();
  if (!location.hash || location.hash === "#" || location.hash === "#/") location.hash = "#/domains";
  else route();
}

// ---------------------------------------------------------------- routing

// Shows the page the hash names. A navigation (hashchange) clears old messages; a refresh
// after an action keeps the message that action left.
// A page's periodic refresh (batch task progress); stopped whenever another page shows.
let pageTimer = null;

async function route(event) {
  if (!session) return;
  if (event) clearFlash();
  if (pageTimer) { clearInterval(pageTimer); pageTimer = null; }
  const parts = (location.hash.replace(/^#\/?/, "") || "domains").split("/").map(decodeURIComponent);
  const page = parts[0];
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.dataset.page === page);
  const main = $("#main");
  const view = {
    domains: parts[1] ? () => domainPage(parts[1]) : domainsPage,
    senders: sendersPage,
    templates: parts[1] ? () => templatePage(parts[1]) : templatesPage,
    send: sendPage, stats: statsPage, messages: messagesPage, blacklist: blacklistPage,
    accounts: accountsPage, callbacks: callbacksPage, tasks: tasksPage,
    lists: parts[1] ? () => listPage(Number(parts[1])) : listsPage,
    "custom-blacklist": customBlacklistPage, abuse: abusePage, password: passwordPage,
  }[page];
  main.replaceChildren(h("p", { class: "muted" }, "Loading…"));
  if (!view) { main.replaceChildren(h("p", {}, "No such page.")); return; }
  const started = performance.now();
  const content = await guarded(view);
  if (content) {
    content.dataset.page = page;
    main.replaceChildren(content);
    main.dataset.loadedMs = String(Math.round(performance.now() - started));
  } else if (main.textContent === "Loading…") {
    main.replaceChildren(h("p", { class: "muted" }, "This page could not be loaded."));
  }
}

window.addEventListener("hashchange", route);

// ---------------------------------------------------------------- domains

const DKIM_OPTIONS = [["0", "RSA 1024-bit"], ["1", "RSA 2048-bit"], ["2", "Both (2048 + 1024)"]];

async function domainsPage() {
  const at = pageState("domains");
  let r = await api("ListEmailIdentities", { Offset: at.offset, Limit: at.limit });
  if (!(r.EmailIdentities || []).length && at.offset > 0 && r.Total > 0) {
    // The page went away (domains deleted): show the last one there is.
    at.offset = Math.floor((r.Total - 1) / at.limit) * at.limit;
    r = await api("ListEmailIdentities", { Offset: at.offset, Limit: at.limit });
  }
  const name = h("input", { name: "domain", placeholder: "mail.example.com", required: true });
  const dkim = h("select", { name: "dkim" }, DKIM_OPTIONS.map(([v, l]) => h("option", { value: v }, l)));
  const form = h("form", {
    class: "row",
    onsubmit: (e) => { e.preventDefault(); guarded(async () => {
      const domain = name.value.trim();
      await api("CreateEmailIdentity", { EmailIdentity: domain, DKIMOption: Number(dkim.value) });
      flash(`Added ${domain}: publish its records, then verify.`);
      location.hash = "#/domains/" + encodeURIComponent(domain);
    }); },
  }, h("label", { class: "grow" }, "Domain", name), h("label", {}, "DKIM key", dkim), h("button", { type: "submit" }, "Add domain"));
  const rows = (r.EmailIdentities || []).map((d) => h("tr", {},
    h("td", {}, h("a", { href: "#/domains/" + encodeURIComponent(d.IdentityName) }, d.IdentityName)),
    h("td", {}, d.SendingEnabled ? h("span", { class: "ok" }, "verified") : h("span", { class: "bad" }, "not verified")),
    h("td", {}, d.CurrentReputationLevel), h("td", {}, d.DailyQuota),
    h("td", {}, (DKIM_OPTIONS.find(([v]) => Number(v) === d.DKIMOption) || ["", ""])[1])));
  return h("div", {},
    h("h1", {}, "Sender domains"),
    h("section", { class: "card" }, h("h2", {}, "Add a domain"), form),
    h("section", { class: "card" }, table(["Domain", "Status", "Reputation", "Daily quota", "DKIM"], rows, "No domains yet."),
      r.Total ? pager(at, rows.length, r.Total, route) : null));
}

function recordsTable(attributes) {
  const rows = attributes.map((a) => h("tr", { "data-type": a.Type, "data-host": a.SendDomain, "data-value": a.ExpectedValue },
    h("td", {}, a.Type),
    h("td", { class: "value" }, a.SendDomain, " ", copyButton(a.SendDomain)),
    h("td", { class: "value" }, a.ExpectedValue, " ", copyButton(a.ExpectedValue)),
    h("td", { class: "value" }, a.CurrentValue || h("span", { class: "muted" }, "(none found)")),
    h("td", { class: "status" }, a.Status ? h("span", { class: "ok" }, "OK") : h("span", { class: "bad" }, "missing"))));
  return table(["Type", "Host", "Value to publish", "Current value", "Status"], rows);
}

async function domainPage(domain) {
  const r = await api("GetEmailIdentity", { EmailIdentity: domain });
  const status = h("p", { "data-testid": "domain-status" });
  const records = h("div", {});
  const show = (x) => {
    status.replaceChildren(x.VerifiedForSendingStatus
      ? h("span", { class: "ok" }, "Verified: this domain may send.")
      : h("span", { class: "bad" }, "Not verified yet: publish every record below, then press Verify."));
    records.replaceChildren(recordsTable(x.Attributes || []));
  };
  show(r);
  const verify = h("button", {
    type: "button",
    onclick: () => guarded(async () => {
      verify.disabled = true;
      try {
        const x = await api("UpdateEmailIdentity", { EmailIdentity: domain });
        show(x);
        flash(x.VerifiedForSendingStatus ? `${domain} is verified.` : `${domain} is not verified yet.`, x.VerifiedForSendingStatus ? "info" : "error");
      } finally { verify.disabled = false; }
    }),
  }, "Verify");
  const remove = h("button", {
    type: "button", class: "danger",
    onclick: () => guarded(async () => {
      if (!confirm(`Delete ${domain} and its DKIM keys?`)) return;
      await api("DeleteEmailIdentity", { EmailIdentity: domain });
      flash(`Deleted ${domain}.`);
      location.hash = "#/domains";
    }),
  }, "Delete");
  return h("div", {},
    h("p", {}, h("a", { href: "#/domains" }, "← Domains")),
    h("h1", {}, domain),
    h("section", { class: "card" }, status, h("div", { class: "row" }, verify, remove)),
    h("section", { class: "card" }, h("h2", {}, "DNS records to publish"), records));
}

// ---------------------------------------------------------------- senders

const UNSUBSCRIBE_LANGUAGES = [["0", "no footer"], ["1", "Simplified Chinese"], ["2", "English"], ["3", "Traditional Chinese"],
  ["4", "Spanish"], ["5", "French"], ["6", "German"], ["7", "Japanese"], ["8", "Korean"], ["9", "Arabic"], ["10", "Thai"],
  ["11", "Indonesian"], ["12", "Vietnamese"]];

async function sendersPage() {
  const [r, unsub] = await Promise.all([api("ListEmailAddress", {}), api("ListAddressUnsubscribeConfig", { Offset: 0, Limit: 100 })]);
  const footers = new Map((unsub.AddressUnsubscribeConfigList || []).map((c) => [c.Address, c]));
  const address = h("input", { name: "address", type: "email", placeholder: "noreply@mail.example.com", required: true });
  const alias = h("input", { name: "alias", placeholder: "Example Inc." });
  const form = h("form", {
    class: "row",
    onsubmit: (e) => { e.preventDefault(); guarded(async () => {
      const params = { EmailAddress: address.value.trim() };
      if (alias.value.trim()) params.EmailSenderName = alias.value.trim();
      await api("CreateEmailAddress", params);
      flash(`Added ${params.EmailAddress}.`);
      route();
    }); },
  }, h("label", { class: "grow" }, "Address", address), h("label", { class: "grow" }, "Alias (display name)", alias), h("button", { type: "submit" }, "Add sender"));
  const rows = (r.EmailSenders || []).map((s) => {
    const pw = h("input", { type: "password", placeholder: "new SMTP password", autocomplete: "new-password", "aria-label": "SMTP password for " + s.EmailAddress });
    return h("tr", { "data-sender": s.EmailAddress },
      h("td", {}, s.EmailAddress), h("td", {}, s.EmailSenderName || ""),
      h("td", { class: "smtp" }, s.SmtpPwdType ? "set" : h("span", { class: "muted" }, "none")),
      h("td", {}, h("div", { class: "row" }, pw, h("button", {
        type: "button", class: "small",
        onclick: () => guarded(async () => {
          await api("UpdateEmailSmtpPassWord", { EmailAddress: s.EmailAddress, Password: pw.value });
          pw.value = "";
          flash(`SMTP password of ${s.EmailAddress} set.`);
          route();
        }),
      }, "Set password"))),
      h("td", {}, unsubscribeCell(s.EmailAddress, footers.get(s.EmailAddress))),
      h("td", {}, h("button", {
        type: "button", class: "small danger",
        onclick: () => guarded(async () => {
          if (!confirm(`Delete ${s.EmailAddress}?`)) return;
          await api("DeleteEmailAddress", { EmailAddress: s.EmailAddress });
          route();
        }),
      }, "Delete")));
  });
  return h("div", {},
    h("h1", {}, "Sender addresses"),
    h("section", { class: "card" }, h("h2", {}, "Add a sender"), h("p", { class: "muted" }, "The address must be on a verified domain of yours."), form),
    h("section", { class: "card" }, table(["Address", "Alias", "SMTP password", "Set SMTP password", "Unsubscribe footer", ""], rows, "No senders yet.")));
}

// The sender's unsubscribe footer (its language, on or off) for mail that does not choose one.
function unsubscribeCell(address, config) {
  const language = h("select", { "aria-label": "Unsubscribe footer of " + address, "data-unsubscribe": address },
    UNSUBSCRIBE_LANGUAGES.map(([v, l]) => h("option", { value: v }, l)));
  language.value = config && config.Status === 1 ? String(config.UnsubscribeConfig) : "0";
  language.addEventListener("change", () => guarded(async () => {
    if (language.value === "0") {
      if (config) await api("DeleteAddressUnsubscribeConfig", { Address: address });
    } else {
      await api("CreateAddressUnsubscribeConfig", { Address: address, UnsubscribeConfig: language.value, Status: 1 });
    }
    flash(`Unsubscribe footer of ${address}: ${language.selectedOptions[0].textContent}.`);
    route();
  }));
  return language;
}

// ---------------------------------------------------------------- templates

const TEMPLATE_STATUS = { 0: ["approved", "ok"], 1: ["pending review", "muted"], 2: ["rejected", "bad"] };

function templateStatus(code) {
  const [text, cls] = TEMPLATE_STATUS[code] || [String(code), "muted"];
  return h("span", { class: cls }, text);
}

async function templatesPage() {
  const at = pageState("templates");
  let r = await api("ListEmailTemplates", { Limit: at.limit, Offset: at.offset });
  if (!(r.TemplatesMetadata || []).length && at.offset > 0 && r.TotalCount > 0) {
    at.offset = Math.floor((r.TotalCount - 1) / at.limit) * at.limit;
    r = await api("ListEmailTemplates", { Limit: at.limit, Offset: at.offset });
  }
  const rows = (r.TemplatesMetadata || []).map((t) => h("tr", { "data-template": t.TemplateID },
    h("td", {}, t.TemplateID), h("td", {}, h("a", { href: "#/templates/" + t.TemplateID }, t.TemplateName)),
    h("td", {}, templateStatus(t.TemplateStatus)), h("td", {}, t.ReviewReason || ""), h("td", {}, unixText(t.CreatedTimestamp))));
  return h("div", {},
    h("h1", {}, "Templates"),
    h("p", {}, h("a", { href: "#/templates/new" }, h("button", { type: "button" }, "New template"))),
    h("section", { class: "card" }, table(["ID", "Name", "Status", "Review reason", "Created"], rows, "No templates yet."),
      r.TotalCount ? pager(at, rows.length, r.TotalCount, route) : null));
}

const VARIABLE = /\{\{\s*([A-Za-z0-9_.\-]+)\s*\}\}/g;

function variablesOf(...texts) {
  const names = new Set();
  for (const t of texts) for (const m of t.matchAll(VARIABLE)) names.add(m[1]);
  return [...names];
}

function escapeHtml(s) {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

function substitute(text, values, html) {
  return text.replace(VARIABLE, (_, name) => {
    const v = values[name] === undefined ? `{{${name}}}` : String(values[name]);
    return html ? escapeHtml(v) : v;
  });
}

async function templatePage(id) {
  const isNew = id === "new";
  let current = { TemplateName: "", TemplateContent: { Html: "", Text: "" }, TemplateStatus: null };
  if (!isNew) {
    // GetEmailTemplate has no ReviewReason; the list has (first 100 templates).
    const [one, list] = await Promise.all([api("GetEmailTemplate", { TemplateID: Number(id) }), api("ListEmailTemplates", { Limit: 100, Offset: 0 })]);
    const meta = (list.TemplatesMetadata || []).find((t) => t.TemplateID === Number(id));
    current = Object.assign(one, { ReviewReason: meta ? meta.ReviewReason : "" });
  }
  const name = h("input", { name: "name", value: current.TemplateName || (isNew ? "" : `template ${id}`), required: true });
  const html = h("textarea", { name: "html", spellcheck: "false" });
  html.value = b64decode((current.TemplateContent || {}).Html);
  const text = h("textarea", { name: "text", spellcheck: "false" });
  text.value = b64decode((current.TemplateContent || {}).Text);
  const samples = {};
  const sampleBox = h("div", { class: "row" });
  const frame = h("iframe", { sandbox: "", title: "HTML preview", "data-testid": "preview-html" });
  const textPreview = h("pre", { "data-testid": "preview-text" });
  const refresh = () => {
    const names = variablesOf(html.value, text.value);
    sampleBox.replaceChildren(...names.map((n) => {
      const input = h("input", { "data-var": n, value: samples[n] || "", placeholder: n });
      input.addEventListener("input", () => { samples[n] = input.value; paint(); });
      return h("label", {}, n, input);
    }));
    if (!names.length) sampleBox.append(h("span", { class: "muted" }, "No {{variables}} in this template."));
    paint();
  };
  const paint = () => {
    const values = {};
    for (const [k, v] of Object.entries(samples)) if (v !== "") values[k] = v;
    frame.srcdoc = substitute(html.value, values, true);
    textPreview.textContent = substitute(text.value, values, false);
  };
  html.addEventListener("input", refresh);
  text.addEventListener("input", refresh);
  const form = h("form", {
    onsubmit: (e) => { e.preventDefault(); guarded(async () => {
      const content = {};
      if (html.value) content.Html = b64encode(html.value);
      if (text.value) content.Text = b64encode(text.value);
      if (isNew) {
        const r = await api("CreateEmailTemplate", { TemplateName: name.value, TemplateContent: content });
        flash(`Created template ${r.TemplateID}.`);
        location.hash = "#/templates/" + r.TemplateID;
      } else {
        await api("UpdateEmailTemplate", { TemplateID: Number(id), TemplateName: name.value, TemplateContent: content });
        flash(`Saved template ${id}.`);
        route();
      }
    }); },
  },
  h("label", {}, "Name", name),
  h("h2", {}, "HTML"), html,
  h("h2", {}, "Text"), text,
  h("p", {}, h("button", { type: "submit" }, isNew ? "Create template" : "Save template")));
  setTimeout(refresh, 0);
  let review = null;
  if (!isNew && session.Role === "operator") {
    const reason = h("input", { name: "reason", placeholder: "why (shown to the account)", maxlength: 500 });
    const decide = (approve) => guarded(async () => {
      const x = await request("POST", "/console/api/template-review", { TemplateID: Number(id), Approve: approve, Reason: reason.value });
      flash(`Template ${id} ${x.TemplateStatus === 0 ? "approved" : "rejected"}.`);
      route();
    });
    review = h("section", { class: "card" }, h("h2", {}, "Review (operator)"),
      h("div", { class: "row" },
        h("button", { type: "button", onclick: () => decide(true) }, "Approve"),
        h("label", { class: "grow" }, "Reason to reject", reason),
        h("button", { type: "button", class: "danger", onclick: () => decide(false) }, "Reject")));
  }
  return h("div", {},
    h("p", {}, h("a", { href: "#/templates" }, "← Templates")),
    h("h1", {}, isNew ? "New template" : `Template ${id}`),
    isNew ? null : h("p", { "data-testid": "template-status" }, "Review status: ", templateStatus(current.TemplateStatus),
      current.ReviewReason ? ` (${current.ReviewReason})` : ""),
    review,
    h("section", { class: "card" }, form),
    h("section", { class: "card" }, h("h2", {}, "Preview with sample values"), sampleBox,
      h("div", { class: "preview" }, frame, textPreview)));
}

// ---------------------------------------------------------------- send a test mail

async function sendPage() {
  const [senders, templates] = await Promise.all([
    api("ListEmailAddress", {}), api("ListEmailTemplates", { Limit: 100, Offset: 0 })]);
  const from = h("select", { name: "from", required: true },
    (senders.EmailSenders || []).map((s) => h("option", { value: s.EmailAddress }, s.EmailSenderName ? `${s.EmailSenderName} <${s.EmailAddress}>` : s.EmailAddress)));
  const to = h("input", { name: "to", placeholder: "someone@example.com, other@example.com", required: true });
  const subject = h("input", { name: "subject", value: "Test from Sesame", required: true });
  const template = h("select", { name: "template", required: true },
    (templates.TemplatesMetadata || []).map((t) => h("option", { value: t.TemplateID }, `${t.TemplateID} ${t.TemplateName}`)));
  const data = h("textarea", { name: "data", spellcheck: "false" });
  data.style.minHeight = "5rem";
  // Offers the template's variables, unless the user has typed values already.
  let offered = "";
  const fillData = () => guarded(async () => {
    if (!template.value) return;
    const t = await api("GetEmailTemplate", { TemplateID: Number(template.value) });
    const names = variablesOf(b64decode(t.TemplateContent.Html), b64decode(t.TemplateContent.Text));
    const values = {};
    for (const n of names) values[n] = "";
    if (data.value.trim() === "" || data.value === offered) {
      offered = JSON.stringify(values, null, 2);
      data.value = offered;
    }
  });
  template.addEventListener("change", fillData);
  // Attachments go as SendEmail's Attachments [{FileName, Content (base64)}]: the API checks
  // names, types, count and size, and its refusal is shown as it words it.
  const files = h("input", { type: "file", name: "attachments", multiple: true });
  const fileList = h("ul", { class: "files", "data-testid": "attachments" });
  const showFiles = () => fileList.replaceChildren(...[...files.files].map((f) =>
    h("li", { "data-file": f.name }, f.name, " ", h("span", { class: "muted" }, sizeText(f.size)))));
  files.addEventListener("change", showFiles);
  const result = h("div", { "data-testid": "send-result" });
  const form = h("form", {
    onsubmit: (e) => { e.preventDefault(); guarded(async () => {
      let parsed = {};
      try { parsed = data.value.trim() ? JSON.parse(data.value) : {}; }
      catch (err) { throw new Error("Variables must be JSON: " + err.message); }
      const params = {
        FromEmailAddress: from.value,
        Destination: to.value.split(/[,\s]+/).filter(Boolean),
        Subject: subject.value,
        Template: { TemplateID: Number(template.value), TemplateData: JSON.stringify(parsed) },
      };
      if (files.files.length) {
        params.Attachments = await Promise.all([...files.files].map(async (f) =>
          ({ FileName: f.name, Content: bytesToB64(new Uint8Array(await f.arrayBuffer())) })));
      }
      result.replaceChildren();
      const r = await api("SendEmail", params);
      result.replaceChildren(h("p", { class: "ok" }, "Accepted: ", h("code", { "data-testid": "message-id" }, r.MessageId), " ",
        h("a", { href: "#/messages/" }, "see its status")));
      sessionStorage.setItem("sesame.lastMessageId", r.MessageId);
    }); },
  },
  h("div", { class: "row" }, h("label", { class: "grow" }, "From", from), h("label", { class: "grow" }, "To", to)),
  h("div", { class: "row" }, h("label", { class: "grow" }, "Subject", subject), h("label", { class: "grow" }, "Template", template)),
  h("label", {}, "Variables (JSON)", data),
  h("label", {}, "Attachments (up to 10 files, 4 MiB in all; pdf, images, office documents, txt, csv, zip…)", files),
  fileList,
  h("p", {}, h("button", { type: "submit" }, "Send")));
  setTimeout(fillData, 0);
  const missing = !(senders.EmailSenders || []).length || !(templates.TemplatesMetadata || []).length;
  return h("div", {},
    h("h1", {}, "Send a test mail"),
    missing ? h("p", { class: "bad" }, "You need a sender and a template first.") : null,
    h("section", { class: "card" }, form, result));
}

// ---------------------------------------------------------------- statistics

const SERIES = [
  ["RequestCount", "Requests", "#5b6b8c"], ["DeliveredCount", "Delivered", "#1f9d55"],
  ["OpenedCount", "Opened", "#2d5be3"], ["ClickedCount", "Clicked", "#b7791f"], ["BounceCount", "Bounced", "#c62d3a"],
  ["UnsubscribeCount", "Unsubscribed", "#8a4fbf"],
];

function svg(tag, attrs, ...children) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

function chart(days) {
  const W = 720, H = 280, L = 44, R = 28, T = 12, B = 44;
  const max = Math.max(1, ...days.flatMap((d) => SERIES.map(([k]) => d[k] || 0)));
  const step = Math.pow(10, Math.floor(Math.log10(max)));
  const top = Math.ceil(max / step) * step;
  const x = (i) => L + (days.length === 1 ? (W - L - R) / 2 : i * (W - L - R) / (days.length - 1));
  const y = (v) => T + (H - T - B) * (1 - v / top);
  const grid = [];
  for (let i = 0; i <= 4; i++) {
    const v = (top * i) / 4;
    grid.push(svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: "#e6e9ef" }),
      svg("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end", "font-size": 11, fill: "#6b7488" }, Number.isInteger(v) ? v : v.toFixed(1)));
  }
  const labelEvery = Math.max(1, Math.ceil(days.length / 8));
  const labels = days.map((d, i) => i % labelEvery ? null
    : svg("text", { x: x(i), y: H - B + 18, "text-anchor": "middle", "font-size": 11, fill: "#6b7488" }, d.SendDate.slice(5)));
  const lines = SERIES.map(([k, label, color]) => svg("g", { "data-series": k },
    svg("polyline", { fill: "none", stroke: color, "stroke-width": 2, points: days.map((d, i) => `${x(i)},${y(d[k] || 0)}`).join(" ") }),
    days.map((d, i) => svg("circle", { cx: x(i), cy: y(d[k] || 0), r: 3, fill: color, "data-date": d.SendDate, "data-value": d[k] || 0 },
      svg("title", {}, `${label} ${d.SendDate}: ${d[k] || 0}`)))));
  return svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "Sending statistics per day", "data-testid": "stats-chart" },
    grid, labels, lines);
}

async function statsPage() {
  const today = session.Today;
  const start = h("input", { type: "date", name: "start", value: addDays(today, -6) });
  const end = h("input", { type: "date", name: "end", value: today });
  const domain = h("input", { name: "domain", placeholder: "all sender domains" });
  const rcpt = h("input", { name: "rcpt", placeholder: "all recipient domains" });
  const out = h("div", {});
  const load = () => guarded(async () => {
    const params = { StartDate: start.value, EndDate: end.value };
    if (domain.value.trim()) params.Domain = domain.value.trim();
    if (rcpt.value.trim()) params.ReceivingMailboxType = rcpt.value.trim();
    const r = await api("GetStatisticsReport", params);
    const days = r.DailyVolumes || [];
    const o = r.OverallVolume || {};
    const pct = (a, b) => b ? (100 * a / b).toFixed(1) + " %" : "–";
    out.replaceChildren(
      h("div", { class: "legend" }, SERIES.map(([k, label, color]) => h("span", { style: `--c:${color}` }, `${label}: ${o[k] || 0}`))),
      h("div", { class: "chart" }, chart(days)),
      h("p", { class: "muted", "data-testid": "rates" },
        `Delivery rate ${pct(o.DeliveredCount || 0, o.RequestCount || 0)}, open rate ${pct(o.OpenedCount || 0, o.DeliveredCount || 0)}, ` +
        `click rate ${pct(o.ClickedCount || 0, o.DeliveredCount || 0)}, bounce rate ${pct(o.BounceCount || 0, o.RequestCount || 0)}, unsubscribed ${o.UnsubscribeCount || 0}.`),
      table(["Date", "Requests", "Accepted", "Delivered", "Opened", "Clicked", "Bounced", "Unsubscribed"],
        days.map((d) => h("tr", { "data-date": d.SendDate }, h("td", {}, d.SendDate), h("td", {}, d.RequestCount), h("td", {}, d.AcceptedCount),
          h("td", {}, d.DeliveredCount), h("td", {}, d.OpenedCount), h("td", {}, d.ClickedCount), h("td", {}, d.BounceCount),
          h("td", {}, d.UnsubscribeCount)))));
  });
  const form = h("form", { class: "row", onsubmit: (e) => { e.preventDefault(); load(); } },
    h("label", {}, "From", start), h("label", {}, "To", end),
    h("label", { class: "grow" }, "Sender domain", domain), h("label", { class: "grow" }, "Recipient domain", rcpt),
    h("button", { type: "submit" }, "Show"));
  await load();
  return h("div", {}, h("h1", {}, "Statistics"), h("section", { class: "card" }, form), h("section", { class: "card" }, out));
}

// ---------------------------------------------------------------- message search

const DELIVER_STATUS = { 0: "queued", 1: "delivered", 2: "dropped", 3: "bounced", 8: "deferred" };

async function messagesPage() {
  const date = h("input", { type: "date", name: "date", value: session.Today });
  const to = h("input", { name: "to", type: "email", placeholder: "recipient" });
  const mid = h("input", { name: "mid", placeholder: "MessageId", value: sessionStorage.getItem("sesame.lastMessageId") || "" });
  const out = h("div", {});
  const LIMIT = 20;
  let offset = 0;
  const load = () => guarded(async () => {
    const params = { RequestDate: date.value, Offset: offset, Limit: LIMIT };
    if (to.value.trim()) params.ToEmailAddress = to.value.trim();
    if (mid.value.trim()) params.MessageId = mid.value.trim();
    const r = await api("GetSendEmailStatus", params);
    const list = r.EmailStatusList || [];
    const rows = list.map((m) => h("tr", {
      "data-recipient": m.ToEmailAddress, "data-message": m.MessageId, class: "clickable", tabindex: 0,
      title: "Show this message's history",
      onclick: () => showHistory(m.MessageId),
      onkeydown: (e) => { if (e.key === "Enter") showHistory(m.MessageId); },
    },
      h("td", { class: "value" }, m.MessageId), h("td", {}, m.FromEmailAddress), h("td", {}, m.ToEmailAddress),
      h("td", {}, m.SendStatus), h("td", { class: "deliver-status" }, `${m.DeliverStatus} ${DELIVER_STATUS[m.DeliverStatus] || ""}`),
      h("td", {}, m.DeliverMessage || ""), h("td", {}, unixText(m.RequestTime)), h("td", {}, unixText(m.DeliverTime)),
      h("td", {}, [m.UserOpened ? "opened" : "", m.UserClicked ? "clicked" : "", m.UserUnsubscribed ? "unsubscribed" : "",
        m.UserComplained ? "complained" : ""].filter(Boolean).join(", "))));
    const prev = h("button", { type: "button", class: "small secondary", disabled: offset === 0, onclick: () => { offset = Math.max(0, offset - LIMIT); load(); } }, "Previous");
    const next = h("button", { type: "button", class: "small secondary", disabled: list.length < LIMIT, onclick: () => { offset += LIMIT; load(); } }, "Next");
    out.replaceChildren(table(["MessageId", "From", "To", "SendStatus", "DeliverStatus", "Reply", "Requested", "Delivered", "Events"], rows, "No messages match."),
      h("div", { class: "pager" }, prev, h("span", { class: "muted" }, `rows ${offset + 1}–${offset + list.length}`), next));
  });
  const form = h("form", { class: "row", onsubmit: (e) => { e.preventDefault(); offset = 0; load(); } },
    h("label", {}, "Date", date), h("label", { class: "grow" }, "Recipient", to), h("label", { class: "grow" }, "MessageId", mid),
    h("button", { type: "submit" }, "Search"));
  const history = h("section", { class: "card", "data-testid": "history", hidden: true });
  const showHistory = (messageId) => guarded(async () => {
    const x = await request("POST", "/console/api/message-history", { MessageId: messageId });
    history.hidden = false;
    history.replaceChildren(...historyView(x));
    history.scrollIntoView({ block: "nearest" });
  });
  await load();
  return h("div", {}, h("h1", {}, "Messages"), h("section", { class: "card" }, form),
    h("section", { class: "card" }, h("p", { class: "muted" }, "Click a row for the message's history."), out), history);
}

// One message's history: what was sent, then per recipient what the store keeps of its
// delivery (there is no row per attempt: the count, the last reply and the times remain).
function historyView(x) {
  const when = (t) => t ? unixText(t) : "";
  const steps = (d) => {
    const out = [["requested", d.RequestTime, ""]];
    if (d.SendStatus !== 0) {
      out.push(["refused at submit", d.RequestTime, `SendStatus ${d.SendStatus}: ${d.DeliverMessage}`]);
      return out;
    }
    const tries = d.Attempts === 1 ? "1 attempt" : `${d.Attempts} attempts`;
    if (d.DeliverStatus === 1) out.push(["delivered", d.DeliverTime, `${tries}; ${d.DeliverMessage}`]);
    else if (d.DeliverStatus === 3) out.push(["bounced", d.UpdateTime, `${tries}; ${d.DeliverMessage}`]);
    else if (d.DeliverStatus === 2) out.push(["dropped", d.UpdateTime, `${tries}; ${d.DeliverMessage}`]);
    else if (d.DeliverStatus === 8) out.push(["deferred", d.UpdateTime, `${tries}; ${d.DeliverMessage}`]);
    if (d.NextAttemptTime) out.push([d.Attempts ? "next attempt" : "first attempt", d.NextAttemptTime, "due"]);
    if (d.Opened) out.push(["opened", 0, d.Opened === 1 ? "once" : `${d.Opened} times`]);
    if (d.Clicked) out.push(["clicked", 0, d.Clicked === 1 ? "once" : `${d.Clicked} times`]);
    if (d.Unsubscribed) out.push(["unsubscribed", d.UnsubscribeTime, "from the sender domain"]);
    if (d.Complained) out.push(["complained", d.ComplainTime, "an abuse report"]);
    return out;
  };
  const rows = (x.Deliveries || []).map((d) => h("tr", { "data-history": d.ToEmailAddress },
    h("td", {}, d.ToEmailAddress),
    h("td", { class: "status" }, d.SendStatus !== 0 ? `refused (${d.SendStatus})` : `${d.DeliverStatus} ${DELIVER_STATUS[d.DeliverStatus] || ""}`),
    h("td", { class: "attempts" }, d.Attempts),
    h("td", { class: "value reply" }, d.DeliverMessage || ""),
    h("td", {}, h("ol", { class: "timeline" }, steps(d).map(([what, t, note]) =>
      h("li", { "data-step": what }, h("strong", {}, what), t ? ` ${when(t)}` : "", note ? h("span", { class: "muted" }, ` — ${note}`) : null))))));
  const kind = x.TriggerType === 1 ? "transactional" : "bulk";
  return [
    h("h2", {}, "History of ", h("code", {}, x.MessageId)),
    h("p", { class: "muted" }, `From ${x.FromEmailAddress}, subject “${x.Subject}”, ${kind}`,
      x.TemplateID ? `, template ${x.TemplateID}` : "", x.TaskId ? `, batch task ${x.TaskId}` : "",
      `, requested ${when(x.RequestTime)}.`),
    table(["Recipient", "Status", "Attempts", "Last reply", "History"], rows, "No recipients."),
  ];
}

// ---------------------------------------------------------------- black list

async function blacklistPage() {
  const start = h("input", { type: "date", name: "start", value: addDays(session.Today, -29) });
  const end = h("input", { type: "date", name: "end", value: session.Today });
  const email = h("input", { name: "email", placeholder: "address" });
  const out = h("div", {});
  const LIMIT = 50;
  let offset = 0;
  const load = () => guarded(async () => {
    const params = { StartDate: start.value, EndDate: end.value, Limit: LIMIT, Offset: offset };
    if (email.value.trim()) params.EmailAddress = email.value.trim();
    const r = await api("ListBlackEmailAddress", params);
    const list = r.BlackList || [];
    const boxes = [];
    const rows = list.map((b) => {
      const box = h("input", { type: "checkbox", value: b.EmailAddress, "aria-label": "select " + b.EmailAddress });
      boxes.push(box);
      return h("tr", {}, h("td", {}, box), h("td", {}, b.EmailAddress), h("td", {}, b.BounceTime));
    });
    const remove = h("button", {
      type: "button", class: "danger",
      onclick: () => guarded(async () => {
        const chosen = boxes.filter((b) => b.checked).map((b) => b.value);
        if (!chosen.length) { flash("Select addresses to remove first.", "error"); return; }
        await api("DeleteBlackList", { EmailAddressList: chosen });
        flash(`Removed ${chosen.length} address(es) from the black list.`);
        load();
      }),
    }, "Remove selected");
    out.replaceChildren(h("p", { class: "muted" }, `${r.TotalCount || 0} address(es).`),
      table(["", "Address", "Bounced at"], rows, "The black list is empty for these dates."),
      list.length ? h("p", {}, remove) : null,
      h("div", { class: "pager" },
        h("button", { type: "button", class: "small secondary", disabled: offset === 0, onclick: () => { offset = Math.max(0, offset - LIMIT); load(); } }, "Previous"),
        h("button", { type: "button", class: "small secondary", disabled: offset + list.length >= (r.TotalCount || 0), onclick: () => { offset += LIMIT; load(); } }, "Next")));
  });
  const form = h("form", { class: "row", onsubmit: (e) => { e.preventDefault(); offset = 0; load(); } },
    h("label", {}, "From", start), h("label", {}, "To", end), h("label", { class: "grow" }, "Address", email),
    h("button", { type: "submit" }, "Search"));
  await load();
  return h("div", {}, h("h1", {}, "Black list"),
    h("p", { class: "muted" }, "Addresses that hard-bounced are refused for 14 days; remove one to send to it again."),
    h("section", { class: "card" }, form), h("section", { class: "card" }, out));
}

// ---------------------------------------------------------------- abuse reports

async function abusePage() {
  const start = h("input", { type: "date", name: "start", value: addDays(session.Today, -6) });
  const end = h("input", { type: "date", name: "end", value: session.Today });
  const out = h("div", {});
  const LIMIT = 50;
  let offset = 0;
  const load = () => guarded(async () => {
    const r = await api("GetAbuseReport", { StartTime: start.value, EndTime: end.value + " 23:59:59", Offset: offset, Limit: LIMIT });
    const list = r.Data || [];
    out.replaceChildren(h("p", { class: "muted" }, `${r.TotalCount || 0} report(s).`),
      table(["Complained", "Recipient", "From", "Subject", "Delivered", "Reporter", "MessageId"],
        list.map((a) => h("tr", {}, h("td", {}, a.ComplainTime), h("td", {}, a.OriginalRcptTo), h("td", {}, a.OriginalMailFrom),
          h("td", {}, a.Subject || ""), h("td", {}, a.DeliverTime || ""), h("td", {}, a.Mta || ""), h("td", { class: "value" }, a.BulkId || ""))),
        "No complaints in these dates."),
      h("div", { class: "pager" },
        h("button", { type: "button", class: "small secondary", disabled: offset === 0, onclick: () => { offset = Math.max(0, offset - LIMIT); load(); } }, "Previous"),
        h("button", { type: "button", class: "small secondary", disabled: offset + list.length >= (r.TotalCount || 0), onclick: () => { offset += LIMIT; load(); } }, "Next")));
  });
  const form = h("form", { class: "row", onsubmit: (e) => { e.preventDefault(); offset = 0; load(); } },
    h("label", {}, "From", start), h("label", {}, "To", end), h("button", { type: "submit" }, "Show"));
  await load();
  return h("div", {}, h("h1", {}, "Abuse reports"),
    h("p", { class: "muted" }, "Complaints (ARF reports) received for your mail; each complainer is black-listed."),
    h("section", { class: "card" }, form), h("section", { class: "card" }, out));
}

// ---------------------------------------------------------------- accounts (operators)

async function accountsPage() {
  if (session.Role !== "operator") return h("p", {}, "Only operators see accounts.");
  const data = await request("GET", "/console/api/accounts");
  const yes = (v) => v ? "on" : h("span", { class: "muted" }, "off");
  // The daily-quota override: a number of recipients a day for the whole account, or none
  // (only each domain's reputation cap applies), like `sesame account update --daily-quota`.
  const quotaCell = (a) => {
    const input = h("input", { type: "number", min: 0, step: 1, name: "quota", value: a.DailyQuota === null ? "" : a.DailyQuota,
      placeholder: "none", "aria-label": `Daily quota of ${a.AppId}` });
    input.style.width = "7rem";
    const set = (value) => guarded(async () => {
      const x = await request("POST", "/console/api/account-quota", { AppId: a.AppId, DailyQuota: value });
      flash(x.DailyQuota === null ? `Account ${a.AppId}: no daily quota override; the reputation caps apply.`
        : `Account ${a.AppId}: at most ${x.DailyQuota} recipients a day.`);
      route();
    });
    return h("div", { class: "row" }, input,
      h("button", { type: "button", class: "small set-quota", onclick: () => {
        if (input.value.trim() === "") set(null);
        else if (!/^\d+$/.test(input.value.trim())) flash("The daily quota is a whole number of recipients, 0 or more.", "error");
        else set(Number(input.value));
      } }, "Set"),
      a.DailyQuota === null ? null : h("button", { type: "button", class: "small secondary clear-quota", onclick: () => set(null) }, "Clear"));
  };
  const rows = data.Accounts.map((a) => h("tr", { "data-account": a.AppId },
    h("td", {}, a.AppId), h("td", {}, a.Name),
    h("td", { class: "quota", "data-quota": a.DailyQuota === null ? "" : a.DailyQuota }, quotaCell(a)),
    h("td", { class: "level" }, a.MaxReputationLevel ? `level ${a.MaxReputationLevel} (${a.MaxDailyQuota} a day)` : h("span", { class: "muted" }, "no verified domain")),
    h("td", { class: "sent" }, a.SentToday),
    h("td", {}, `${a.VerifiedDomains} of ${a.Domains}`), h("td", {}, yes(a.TemplateReview)),
    h("td", { class: "pending" }, a.PendingTemplates ? h("span", { class: "bad" }, a.PendingTemplates) : "0"),
    h("td", {}, yes(a.Tracking)), h("td", {}, yes(a.CustomContent)),
    h("td", {}, a.AppId === session.AppId ? h("span", { class: "ok" }, "acting on it") : h("button", {
      type: "button", class: "small",
      onclick: () => guarded(async () => {
        session = await request("POST", "/console/api/account", { AppId: a.AppId });
        await renderFrame();
        location.hash = "#/domains";
      }),
    }, "Act on this account"))));
  return h("div", {}, h("h1", {}, "Accounts"),
    h("p", { class: "muted" }, "Daily quota: the account's override (recipients a day, all domains together; empty: none, only the reputation caps apply). " +
      "Reputation: its best verified domain's level and that level's daily cap (each domain has its own; act on the account to see them). " +
      "Sent today: recipients accepted today. Other settings: `sesame account update`; a domain's level: `sesame domain update`."),
    h("section", { class: "card" }, table(["AppId", "Name", "Daily quota", "Reputation", "Sent today", "Verified domains", "Template review", "Pending templates", "Tracking", "Custom content", ""], rows)));
}

// ---------------------------------------------------------------- callback addresses

// A signing secret just answered, shown once by the page that re-renders after the change.
let newSecret = null;

async function callbacksPage() {
  const [r, senders] = await Promise.all([api("ListCallbackAddresses", {}), api("ListEmailAddress", {})]);
  const secretBox = h("div", { "data-testid": "signing-secret" });
  const showSecret = (secret) => {
    if (!secret) return;
    secretBox.replaceChildren(h("p", {}, "Signing secret (shown once; keep it to verify callbacks): ",
      h("code", {}, secret), " ", copyButton(secret)));
  };
  const url = h("input", { name: "url", type: "url", placeholder: "https://hooks.example.com/ses", required: true });
  const sender = h("select", { name: "sender" }, h("option", { value: "" }, "the whole account"),
    (senders.EmailSenders || []).map((x) => h("option", { value: x.EmailAddress }, x.EmailAddress)));
  const form = h("form", {
    class: "row",
    onsubmit: (e) => { e.preventDefault(); guarded(async () => {
      const params = { CallbackUrl: url.value.trim() };
      if (sender.value) params.EmailAddress = sender.value;
      const x = await api("CreateCallbackAddress", params);
      flash("Callback address saved.");
      newSecret = x.SigningSecret || null;
      route();
    }); },
  }, h("label", { class: "grow" }, "Callback URL", url), h("label", {}, "For", sender), h("button", { type: "submit" }, "Save"));
  const rows = (r.CallbackAddresses || []).map((c) => h("tr", { "data-callback": c.EmailAddress || "(account)" },
    h("td", {}, c.EmailAddress || h("span", { class: "muted" }, "whole account")), h("td", { class: "value" }, c.CallbackUrl),
    h("td", {}, h("button", {
      type: "button", class: "small danger",
      onclick: () => guarded(async () => {
        const params = c.EmailAddress ? { EmailAddress: c.EmailAddress } : {};
        await api("DeleteCallbackAddress", params);
        flash("Callback address deleted.");
        route();
      }),
    }, "Delete"))));
  const rotate = h("button", {
    type: "button", class: "secondary",
    onclick: () => guarded(async () => {
      if (!confirm("Make a new signing secret? Receivers checking the old one will refuse callbacks.")) return;
      showSecret((await api("RotateCallbackSecret", {})).SigningSecret);
    }),
  }, "Rotate signing secret");
  if (newSecret) { showSecret(newSecret); newSecret = null; }
  return h("div", {},
    h("h1", {}, "Callback addresses"),
    h("p", { class: "muted" }, "Events (delivered, bounce, open, click, unsubscribe…) are POSTed as JSON to the sender's callback, else the account's, signed with the account's secret."),
    h("section", { class: "card" }, form, secretBox),
    h("section", { class: "card" }, table(["Sender", "URL", ""], rows, "No callback addresses yet."), h("p", {}, rotate)));
}

// ---------------------------------------------------------------- recipient lists

const RECEIVER_STATUS = { 1: "awaiting upload", 2: "uploading", 3: "complete" };

async function listsPage() {
  const r = await api("ListReceivers", { Offset: 0, Limit: 100 });
  const name = h("input", { name: "name", required: true, placeholder: "newsletter" });
  const desc = h("input", { name: "desc", placeholder: "optional" });
  const form = h("form", {
    class: "row",
    onsubmit: (e) => { e.preventDefault(); guarded(async () => {
      const params = { ReceiversName: name.value.trim() };
      if (desc.value.trim()) params.Desc = desc.value.trim();
      const x = await api("CreateReceiver", params);
      flash(`Created list ${x.ReceiverId}: upload its recipients.`);
      location.hash = "#/lists/" + x.ReceiverId;
    }); },
  }, h("label", { class: "grow" }, "Name", name), h("label", { class: "grow" }, "Description", desc), h("button", { type: "submit" }, "Create list"));
  const rows = (r.Data || []).map((l) => h("tr", { "data-list": l.ReceiversName },
    h("td", {}, l.ReceiverId), h("td", {}, h("a", { href: "#/lists/" + l.ReceiverId }, l.ReceiversName)), h("td", {}, l.Desc || ""),
    h("td", {}, RECEIVER_STATUS[l.ReceiversStatus] || l.ReceiversStatus), h("td", { class: "count" }, l.Count),
    h("td", { class: "invalid" }, l.InvalidCount), h("td", {}, l.CreateTime)));
  return h("div", {}, h("h1", {}, "Recipient lists"),
    h("section", { class: "card" }, h("h2", {}, "New list"), form),
    h("section", { class: "card" }, table(["ID", "Name", "Description", "Status", "Rows", "Invalid", "Created"], rows, "No lists yet.")));
}

// RFC 4180 CSV: quoted fields, doubled quotes, CRLF or LF rows. Returns rows of strings.
function parseCsv(text) {
  const rows = [];
  let row = [], field = "", quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++; }
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"' && field === "") quoted = true;
    else if (c === ",") { row.push(field); field = ""; }
    else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(field); field = "";
      if (row.length > 1 || row[0] !== "") rows.push(row);
      row = [];
    } else field += c;
  }
  row.push(field);
  if (row.length > 1 || row[0] !== "") rows.push(row);
  return rows;
}

const UPLOAD_CHUNK = 5000;

async function listPage(id) {
  const all = await api("ListReceivers", { Offset: 0, Limit: 100 });
  const list = (all.Data || []).find((l) => l.ReceiverId === id);
  if (!list) throw new ApiError("OperationDenied.ReceiverNotExist", `no recipient list ${id}`);
  const file = h("input", { type: "file", name: "csv", accept: ".csv,text/csv,text/plain" });
  const progress = h("progress", { max: 1, value: 0, hidden: true });
  const report = h("div", { "data-testid": "upload-report" });
  const details = h("div", {});
  const upload = h("button", {
    type: "button",
    onclick: () => guarded(async () => {
      if (!file.files.length) { flash("Choose a CSV file first.", "error"); return; }
      const rows = parseCsv(await file.files[0].text());
      if (!rows.length) throw new Error("The file is empty.");
      const header = rows[0].map((x) => x.trim());
      const emailCol = header.findIndex((x) => x.toLowerCase() === "email");
      if (emailCol < 0) throw new Error('The first row must name the columns, one of them "email".');
      const vars = header.map((x, i) => [x, i]).filter(([x, i]) => i !== emailCol && x !== "");
      const body = rows.slice(1);
      const sums = { TotalCount: 0, ValidCount: 0, InvalidCount: 0, RepeatCount: 0, EmptyEmailCount: 0, TooLongCount: 0 };
      progress.hidden = false; progress.max = body.length; progress.value = 0;
      upload.disabled = true;
      try {
        for (let at = 0; at < body.length; at += UPLOAD_CHUNK) {
          const part = body.slice(at, at + UPLOAD_CHUNK);
          let x;
          if (vars.length) {
            x = await api("CreateReceiverDetailWithData", {
              ReceiverId: id,
              Datas: part.map((cells) => ({
                Email: (cells[emailCol] || "").trim(),
                TemplateData: JSON.stringify(Object.fromEntries(vars.map(([name, i]) => [name, cells[i] || ""]))),
              })),
            });
          } else {
            x = await api("CreateReceiverDetail", { ReceiverId: id, Emails: part.map((cells) => (cells[emailCol] || "").trim()) });
          }
          // Malformed addresses are stored as invalid rows: the rest of the call's count.
          x.InvalidCount = x.TotalCount - x.ValidCount - (x.RepeatCount || 0) - (x.EmptyEmailCount || 0) - (x.TooLongCount || 0);
          for (const k of Object.keys(sums)) sums[k] += x[k] || 0;
          progress.value = Math.min(body.length, at + part.length);
          report.textContent = `Uploaded ${progress.value} of ${body.length} rows…`;
        }
      } finally { upload.disabled = false; }
      report.textContent = `Uploaded ${sums.TotalCount} rows: ${sums.ValidCount} valid, ${sums.InvalidCount} invalid, ` +
        `${sums.RepeatCount} repeated, ${sums.EmptyEmailCount} empty, ${sums.TooLongCount} too long.`;
      loadDetails();
    }),
  }, "Upload");
  const status = h("select", { name: "status" }, h("option", { value: "" }, "all rows"), h("option", { value: "1" }, "valid"), h("option", { value: "2" }, "invalid"));
  const LIMIT = 50;
  let offset = 0;
  const loadDetails = () => guarded(async () => {
    const params = { ReceiverId: id, Offset: offset, Limit: LIMIT };
    if (status.value) params.Status = Number(status.value);
    const x = await api("ListReceiverDetails", params);
    const rows = (x.Data || []).map((d) => h("tr", { "data-email": d.Email },
      h("td", {}, d.Email), h("td", {}, d.Status === 2 ? h("span", { class: "bad" }, "invalid") : "valid"),
      h("td", {}, d.Reason || ""), h("td", { class: "value" }, d.TemplateData || ""), h("td", {}, d.CreateTime)));
    details.replaceChildren(
      h("p", { class: "muted", "data-testid": "list-counts" }, `${x.TotalCount} rows: ${x.ValidCount} valid, ${x.InvalidCount} invalid.`),
      table(["Email", "Status", "Reason", "Variables", "Added"], rows, "No rows."),
      h("div", { class: "pager" },
        h("button", { type: "button", class: "small secondary", disabled: offset === 0, onclick: () => { offset = Math.max(0, offset - LIMIT); loadDetails(); } }, "Previous"),
        h("button", { type: "button", class: "small secondary", disabled: offset + LIMIT >= (status.value === "2" ? x.InvalidCount : status.value === "1" ? x.ValidCount : x.TotalCount), onclick: () => { offset += LIMIT; loadDetails(); } }, "Next")));
  });
  status.addEventListener("change", () => { offset = 0; loadDetails(); });
  const remove = h("button", {
    type: "button", class: "danger",
    onclick: () => guarded(async () => {
      if (!confirm(`Delete the list ${list.ReceiversName} and its rows?`)) return;
      await api("DeleteReceiver", { ReceiverId: id });
      flash(`Deleted ${list.ReceiversName}.`);
      location.hash = "#/lists";
    }),
  }, "Delete list");
  await loadDetails();
  return h("div", {},
    h("p", {}, h("a", { href: "#/lists" }, "← Recipient lists")),
    h("h1", {}, list.ReceiversName),
    h("section", { class: "card" }, h("h2", {}, "Upload recipients (CSV)"),
      h("p", { class: "muted" }, 'The first row names the columns: "email" and one column per template variable, e.g. email,name,code.'),
      h("div", { class: "row" }, file, upload, progress), report),
    h("section", { class: "card" }, h("div", { class: "row" }, h("label", {}, "Show", status)), details),
    h("p", {}, remove));
}

// ---------------------------------------------------------------- batch tasks

const TASK_STATUS = { 1: "waiting", 5: "sending", 6: "paused (quota)", 7: "error", 10: "finished" };
const TASK_TYPE = { 1: "now", 2: "timed", 3: "cyclic" };

function apiDateTime(local) {
  // <input type=datetime-local> gives YYYY-MM-DDTHH:MM; the API wants YYYY-MM-DD HH:MM:SS.
  return local ? local.replace("T", " ") + (local.length === 16 ? ":00" : "") : "";
}

async function tasksPage() {
  const [senders, lists, templates] = await Promise.all([
    api("ListEmailAddress", {}), api("ListReceivers", { Offset: 0, Limit: 100 }), api("ListEmailTemplates", { Limit: 100, Offset: 0 })]);
  const from = h("select", { name: "from" }, (senders.EmailSenders || []).map((x) => h("option", { value: x.EmailAddress }, x.EmailAddress)));
  const list = h("select", { name: "list" }, (lists.Data || []).map((l) => h("option", { value: l.ReceiverId }, `${l.ReceiversName} (${l.Count})`)));
  const template = h("select", { name: "template" }, (templates.TemplatesMetadata || []).map((t) => h("option", { value: t.TemplateID }, `${t.TemplateID} ${t.TemplateName}`)));
  const subject = h("input", { name: "subject", required: true, placeholder: "Hello {{name}}" });
  const data = h("input", { name: "data", placeholder: '{"code": "default"} (values for every recipient)' });
  const type = h("select", { name: "type" }, Object.entries(TASK_TYPE).map(([v, l]) => h("option", { value: v }, l)));
  const begin = h("input", { type: "datetime-local", name: "begin" });
  const interval = h("input", { type: "number", name: "interval", min: 1, value: 24 });
  const once = h("input", { type: "checkbox", name: "once" });
  const form = h("form", {
    onsubmit: (e) => { e.preventDefault(); guarded(async () => {
      const params = {
        FromEmailAddress: from.value, ReceiverId: Number(list.value), Subject: subject.value,
        TaskType: Number(type.value), Template: { TemplateID: Number(template.value), TemplateData: data.value.trim() || "{}" },
      };
      if (type.value === "2") params.TimedParam = { BeginTime: apiDateTime(begin.value) };
      if (type.value === "3") {
        params.CycleParam = { BeginTime: apiDateTime(begin.value), IntervalTime: Number(interval.value) };
        if (once.checked) params.CycleParam.TermCycle = 1;
      }
      const x = await api("BatchSendEmail", params);
      flash(`Created task ${x.TaskId}.`);
      loadTasks();
    }); },
  },
  h("div", { class: "row" }, h("label", { class: "grow" }, "From", from), h("label", { class: "grow" }, "Recipient list", list), h("label", { class: "grow" }, "Template", template)),
  h("div", { class: "row" }, h("label", { class: "grow" }, "Subject", subject), h("label", { class: "grow" }, "Variables for all (JSON)", data)),
  h("div", { class: "row" }, h("label", {}, "When", type), h("label", {}, "Begin (timed, cyclic)", begin),
    h("label", {}, "Every (hours, cyclic)", interval), h("label", {}, h("span", {}, once, " run the cycle once"))),
  h("p", {}, h("button", { type: "submit" }, "Create task")));
  const out = h("div", {});
  const loadTasks = async () => {
    const r = await api("ListSendTasks", { Offset: 0, Limit: 50 });
    const tasks = r.Data || [];
    const stop = (id) => guarded(async () => {
      const x = await request("POST", "/console/api/task-stop", { TaskId: id });
      flash(x.RunInProgress ? `Task ${id}: no further cycle; the run in progress completes.` : `Task ${id} stopped.`);
      await loadTasks();
    });
    out.replaceChildren(table(["ID", "From", "List", "Subject", "Type", "Status", "Requested", "Sent", "Waiting", "Error", "Updated", ""],
      tasks.map((t) => h("tr", { "data-task": t.TaskId },
        h("td", {}, t.TaskId), h("td", {}, t.FromEmailAddress), h("td", {}, t.ReceiversName), h("td", {}, t.Subject),
        h("td", {}, TASK_TYPE[t.TaskType] || t.TaskType), h("td", { class: "task-status" }, TASK_STATUS[t.TaskStatus] || t.TaskStatus),
        h("td", { class: "requested" }, t.RequestCount), h("td", { class: "sent" }, t.SendCount), h("td", {}, t.CacheCount),
        h("td", {}, t.ErrMsg || ""), h("td", {}, t.UpdateTime),
        h("td", {}, t.TaskType === 3 && [1, 5, 6].includes(t.TaskStatus)
          ? h("button", { type: "button", class: "stop-cycles", onclick: () => stop(t.TaskId) }, "Stop cycles") : ""))),
      "No batch tasks yet."));
    return tasks;
  };
  await loadTasks();
  // Live progress: refresh while the page shows.
  pageTimer = setInterval(() => { loadTasks().catch(() => {}); }, 2000);
  return h("div", {}, h("h1", {}, "Batch tasks"),
    h("section", { class: "card" }, h("h2", {}, "New task"), form),
    h("section", { class: "card" }, h("h2", {}, "Tasks"), out));
}

// ---------------------------------------------------------------- custom black list

async function customBlacklistPage() {
  const emails = h("textarea", { name: "emails", placeholder: "one address per line" });
  emails.style.minHeight = "4rem";
  const expire = h("input", { type: "date", name: "expire" });
  const search = h("input", { name: "search", placeholder: "address contains" });
  const out = h("div", {});
  const LIMIT = 50;
  let offset = 0;
  const load = () => guarded(async () => {
    const params = { Offset: offset, Limit: LIMIT };
    if (search.value.trim()) params.Email = search.value.trim();
    const r = await api("ListCustomBlacklist", params);
    const boxes = [];
    const rows = (r.Data || []).map((b) => {
      const box = h("input", { type: "checkbox", value: b.Email, "aria-label": "select " + b.Email });
      boxes.push(box);
      const row = h("tr", { "data-email": b.Email, "data-id": b.Id });
      const show = () => row.replaceChildren(h("td", {}, box), h("td", {}, b.Email), h("td", { class: "expires" }, b.ExpireDate || "never"),
        h("td", {}, b.Status ? "active" : h("span", { class: "muted" }, "expired")), h("td", {}, b.CreateTime),
        h("td", {}, h("button", { type: "button", class: "small secondary edit", onclick: edit }, "Edit")));
      // In place: the address and its last day (empty: never expires), saved with
      // UpdateCustomBlackList; the API's refusal shows as it words it and the row stays open.
      const edit = () => {
        const address = h("input", { type: "email", name: "edit-email", value: b.Email, "aria-label": "Address" });
        const until = h("input", { type: "date", name: "edit-expire", value: b.ExpireDate || "", "aria-label": "Expires after" });
        const save = () => guarded(async () => {
          const params = { Id: b.Id, Email: address.value.trim() };
          if (until.value) params.ExpireDate = until.value;
          await api("UpdateCustomBlackList", params);
          flash(`Saved ${params.Email}${until.value ? ", until " + until.value : ", never expires"}.`);
          load();
        });
        row.replaceChildren(h("td", {}, box), h("td", {}, address), h("td", {}, until),
          h("td", { colspan: 2 }, h("span", { class: "muted" }, "empty date: never expires")),
          h("td", {}, h("div", { class: "row" },
            h("button", { type: "button", class: "small save", onclick: save }, "Save"),
            h("button", { type: "button", class: "small secondary", onclick: show }, "Cancel"))));
        address.focus();
      };
      show();
      return row;
    });
    const remove = h("button", {
      type: "button", class: "danger",
      onclick: () => guarded(async () => {
        const chosen = boxes.filter((b) => b.checked).map((b) => b.value);
        if (!chosen.length) { flash("Select addresses to remove first.", "error"); return; }
        await api("DeleteCustomBlackList", { Emails: chosen });
        flash(`Removed ${chosen.length} address(es).`);
        load();
      }),
    }, "Remove selected");
    out.replaceChildren(h("p", { class: "muted" }, `${r.TotalCount || 0} address(es).`),
      table(["", "Address", "Expires after", "Status", "Added", ""], rows, "The custom black list is empty."),
      rows.length ? h("p", {}, remove) : null,
      h("div", { class: "pager" },
        h("button", { type: "button", class: "small secondary", disabled: offset === 0, onclick: () => { offset = Math.max(0, offset - LIMIT); load(); } }, "Previous"),
        h("button", { type: "button", class: "small secondary", disabled: offset + rows.length >= (r.TotalCount || 0), onclick: () => { offset += LIMIT; load(); } }, "Next")));
  });
  const add = h("form", {
    onsubmit: (e) => { e.preventDefault(); guarded(async () => {
      const list = emails.value.split(/[\s,;]+/).filter(Boolean);
      const params = { Emails: list };
      if (expire.value) params.ExpireDate = expire.value;
      await api("CreateCustomBlacklist", params);
      emails.value = "";
      flash(`Added ${list.length} address(es).`);
      offset = 0;
      load();
    }); },
  }, h("label", {}, "Addresses", emails), h("div", { class: "row" }, h("label", {}, "Expires after (empty: never)", expire), h("button", { type: "submit" }, "Add")));
  const find = h("form", { class: "row", onsubmit: (e) => { e.preventDefault(); offset = 0; load(); } },
    h("label", { class: "grow" }, "Search", search), h("button", { type: "submit" }, "Search"));
  await load();
  return h("div", {}, h("h1", {}, "Custom black list"),
    h("p", { class: "muted" }, "Addresses you never want to mail: SendEmail and batch tasks skip them."),
    h("section", { class: "card" }, add), h("section", { class: "card" }, find, out));
}

// ---------------------------------------------------------------- your password

// The signed-in user's own password: the current one is checked (wrong guesses count in the
// sign-in throttle); every other session of the user ends, this one stays.
async function passwordPage() {
  const current = h("input", { type: "password", name: "current", autocomplete: "current-password", required: true });
  const fresh = h("input", { type: "password", name: "new", autocomplete: "new-password", required: true, minlength: 10 });
  const again = h("input", { type: "password", name: "again", autocomplete: "new-password", required: true });
  const form = h("form", {
    class: "stack",
    onsubmit: (e) => { e.preventDefault(); guarded(async () => {
      if (fresh.value !== again.value) { flash("The new password and its repetition differ.", "error"); return; }
      const x = await request("POST", "/console/api/password", { CurrentPassword: current.value, NewPassword: fresh.value });
      for (const i of [current, fresh, again]) i.value = "";
      flash(`Password changed; ${x.SessionsEnded} other session(s) signed out.`);
    }); },
  },
  h("label", {}, "Current password", current),
  h("label", {}, "New password (at least 10 characters)", fresh),
  h("label", {}, "New password again", again),
  h("p", {}, h("button", { type: "submit" }, "Change password")));
  return h("div", {}, h("h1", {}, "Your password"),
    h("p", { class: "muted" }, `Signed in as ${session.Email}. Changing the password signs you out everywhere else.`),
    h("section", { class: "card narrow" }, form));
}

// ---------------------------------------------------------------- start

(async () => {
  try {
    session = await request("GET", "/console/api/session");
    await startApp();
  } catch (_) {
    if (!session) showSignIn();
  }
})();
