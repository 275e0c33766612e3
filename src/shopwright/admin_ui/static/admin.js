// Shopwright back office: plain JS over the admin API (docs/backoffice.md). No build step.
"use strict";

(() => {
  const TOKEN_KEY = "shopwright.admin.token";
  const NEXT_STATUSES = {
    pending: ["cancelled"],
    paid: ["shipped", "cancelled", "refunded"],
    shipped: ["delivered", "refunded"],
    delivered: ["refunded"],
    cancelled: [],
    refunded: [],
  };
  const state = { token: sessionStorage.getItem(TOKEN_KEY), chart: null, reports: {}, ordersCursor: null };
  const $ = (id) => document.getElementById(id);

  const money = (cents) =>
    (Number(cents) / 100).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });

  function say(text, isError = false) {
    $("message").textContent = text || "";
    $("message").className = isError ? "error" : "";
  }

  async function api(path, options = {}) {
    const headers = { ...(options.headers || {}) };
    if (state.token) headers.Authorization = `Bearer ${state.token}`;
    if (options.json !== undefined) {
      headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(options.json);
    }
    const response = await fetch(path, { method: options.method || "GET", headers, body: options.body });
    const type = response.headers.get("Content-Type") || "";
    const body = type.includes("json") ? await response.json() : await response.text();
    if (response.status === 401 && path !== "/api/auth/login") {
      logout("Your session ended; log in again.");
    }
    return { status: response.status, body };
  }

  // --- tables and CSV -------------------------------------------------------------------------------
  function fill(table, columns, rows) {
    table.replaceChildren();
    const head = table.createTHead().insertRow();
    for (const column of columns) {
      const th = document.createElement("th");
      th.textContent = column.title;
      if (column.num) th.className = "num";
      head.appendChild(th);
    }
    const body = table.createTBody();
    for (const row of rows) {
      const tr = body.insertRow();
      for (const column of columns) {
        const td = tr.insertCell();
        const value = column.value(row);
        if (value instanceof Node) td.appendChild(value);
        else td.textContent = value === null || value === undefined ? "" : String(value);
        if (column.num) td.className = "num";
        if (column.cents) td.dataset.cents = String(column.cents(row));
      }
    }
    if (!rows.length) {
      const td = body.insertRow().insertCell();
      td.colSpan = columns.length;
      td.textContent = "Nothing in this window.";
    }
  }

  function csvCell(value) {
    let text = value === null || value === undefined ? "" : String(value);
    if (/^[=+\-@\t\r]/.test(text)) text = "'" + text; // a spreadsheet would run it as a formula
    return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  }

  function download(name, rows) {
    if (!rows.length) return;
    const keys = Object.keys(rows[0]);
    const lines = [keys.join(",")].concat(rows.map((row) => keys.map((k) => csvCell(row[k])).join(",")));
    const link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob([lines.join("\r\n") + "\r\n"], { type: "text/csv" }));
    link.download = name;
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  }

  // --- window ---------------------------------------------------------------------------------------
  function windowQuery(extra = {}) {
    const params = new URLSearchParams(extra);
    if ($("window-from").value) params.set("from", $("window-from").value);
    if ($("window-to").value) params.set("to", $("window-to").value);
    const text = params.toString();
    return text ? `?${text}` : "";
  }

  function windowName() {
    return `${$("window-from").value || "start"}_${$("window-to").value || "now"}`;
  }

  // --- views ----------------------------------------------------------------------------------------
  const views = ["dashboard", "reports", "import", "orders"];

  function show(view) {
    $("login-view").hidden = Boolean(state.token);
    $("nav").hidden = !state.token;
    $("window-form").hidden = !state.token || !["dashboard", "reports"].includes(view);
    for (const name of views) $(`${name}-view`).hidden = !state.token || name !== view;
    for (const button of document.querySelectorAll("nav button[data-view]")) {
      button.classList.toggle("active", button.dataset.view === view);
    }
    state.view = view;
    if (!state.token) return;
    say("");
    const load = { dashboard: loadDashboard, reports: loadReports, orders: () => loadOrders(true) }[view];
    if (load) load().catch((error) => say(`Could not load: ${error}`, true));
  }

  async function loadDashboard() {
    const { status, body } = await api(`/api/admin/dashboard${windowQuery()}`);
    if (status !== 200) return say(body.detail || `Error ${status}`, true);
    const counted = body.revenue_by_day.reduce((sum, day) => sum + day.orders, 0);
    setMoney($("dash-revenue"), body.revenue_cents);
    $("dash-orders").textContent = String(counted);
    setMoney($("dash-aov"), body.average_order_value_cents);
    $("dash-customers").textContent = String(body.customers);
    fill($("dash-status"), [
      { title: "Status", value: (r) => r[0] },
      { title: "Orders", value: (r) => r[1], num: true },
    ], Object.entries(body.orders_by_status));
    fill($("dash-top"), [
      { title: "Product", value: (r) => r.name },
      { title: "Units", value: (r) => r.units, num: true },
      { title: "Revenue", value: (r) => money(r.revenue_cents), num: true, cents: (r) => r.revenue_cents },
    ], body.top_products);
    fill($("dash-low"), [
      { title: "SKU", value: (r) => r.sku },
      { title: "Product", value: (r) => r.product_name },
      { title: "Available", value: (r) => r.available, num: true },
    ], body.low_stock);
    drawChart(body.revenue_by_day);
    document.body.dataset.loaded = "dashboard";
  }

  function setMoney(element, cents) {
    element.textContent = money(cents);
    element.dataset.cents = String(cents);
  }

  function drawChart(days) {
    if (!window.Chart) return say("The chart library did not load.", true);
    const data = {
      labels: days.map((d) => d.date),
      datasets: [{ label: "Revenue", data: days.map((d) => d.revenue_cents / 100), borderColor: "#3b6fd8",
        backgroundColor: "#3b6fd833", fill: true, tension: 0.2, pointRadius: days.length > 60 ? 0 : 3 }],
    };
    if (state.chart) state.chart.destroy();
    state.chart = new window.Chart($("revenue-chart"), {
      type: "line",
      data,
      options: { animation: false, maintainAspectRatio: false, plugins: { legend: { display: false } } },
    });
  }

  async function loadReports() {
    const [profit, products, categories] = await Promise.all([
      api(`/api/admin/reports/profit${windowQuery()}`),
      api(`/api/admin/reports/product-sales${windowQuery({ limit: 1000 })}`),
      api(`/api/admin/reports/category-sales${windowQuery()}`),
    ]);
    for (const answer of [profit, products, categories]) {
      if (answer.status !== 200) return say(answer.body.detail || `Error ${answer.status}`, true);
    }
    state.reports = { profit: [profit.body], "product-sales": products.body.items,
      "category-sales": categories.body.items };
    fill($("report-profit"), [
      { title: "Revenue", value: (r) => money(r.revenue_cents), num: true, cents: (r) => r.revenue_cents },
      { title: "Cost", value: (r) => money(r.cost_cents), num: true, cents: (r) => r.cost_cents },
      { title: "Profit", value: (r) => money(r.profit_cents), num: true, cents: (r) => r.profit_cents },
      { title: "Orders", value: (r) => r.orders, num: true },
    ], [profit.body]);
    fill($("report-product-sales"), [
      { title: "Product", value: (r) => r.name },
      { title: "Units", value: (r) => r.units, num: true },
      { title: "Units %", value: (r) => r.units_percent.toFixed(2), num: true },
      { title: "Revenue", value: (r) => money(r.revenue_cents), num: true, cents: (r) => r.revenue_cents },
      { title: "Revenue %", value: (r) => r.revenue_percent.toFixed(2), num: true },
    ], products.body.items);
    fill($("report-category-sales"), [
      { title: "Category", value: (r) => (r.category_id === null ? "(no category)" : r.name) },
      { title: "Units", value: (r) => r.units, num: true },
      { title: "Revenue", value: (r) => money(r.revenue_cents), num: true, cents: (r) => r.revenue_cents },
      { title: "Revenue %", value: (r) => r.revenue_percent.toFixed(2), num: true },
    ], categories.body.items);
    document.body.dataset.loaded = "reports";
  }

  async function exportOrders(event) {
    event.preventDefault();
    const response = await fetch(`/api/admin/orders/export${windowQuery()}`, {
      headers: { Authorization: `Bearer ${state.token}` },
    });
    if (!response.ok) return say(`Export failed (${response.status})`, true);
    const link = document.createElement("a");
    link.href = URL.createObjectURL(await response.blob());
    link.download = `orders_${windowName()}.csv`;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  }

  // --- import ---------------------------------------------------------------------------------------
  async function importProducts(event) {
    event.preventDefault();
    const file = $("import-file").files[0];
    if (!file) return;
    const form = new FormData();
    form.append("file", file);
    $("import-result").replaceChildren();
    say("Importing…");
    const { status, body } = await api("/api/admin/products/import", { method: "POST", body: form });
    if (status === 200) {
      say(`Imported: ${body.created} created, ${body.updated} updated, ${body.unchanged} unchanged, ` +
        `${body.categories_created} categories created.`);
      return;
    }
    say(typeof body === "object" && body.detail ? body.detail : `Import failed (${status})`, true);
    if (status === 422 && Array.isArray(body.errors)) await showImportErrors(file, body.errors);
  }

  async function showImportErrors(file, errors) {
    // Rows are numbered as a spreadsheet shows them (the header is row 1); a CSV's own lines are shown
    // next to their errors.
    const lines = file.name.toLowerCase().endsWith(".csv") ? (await file.text()).split(/\r?\n/) : [];
    const byRow = new Map();
    for (const error of errors) {
      const key = error.row ?? 0;
      if (!byRow.has(key)) byRow.set(key, []);
      byRow.get(key).push(`${error.field || "file"}: ${error.message}`);
    }
    const rows = [...byRow.entries()].sort((a, b) => a[0] - b[0]);
    const table = document.createElement("table");
    table.id = "import-errors";
    fill(table, [
      { title: "Row", value: (r) => r[0] || "" , num: true },
      { title: "Content", value: (r) => (r[0] ? lines[r[0] - 1] ?? "" : "") },
      { title: "Errors", value: (r) => r[1].join("; ") },
    ], rows);
    for (const tr of table.tBodies[0].rows) {
      tr.className = "bad";
      tr.cells[2].className = "errors";
    }
    $("import-result").replaceChildren(table);
  }

  // --- orders ---------------------------------------------------------------------------------------
  async function loadOrders(fresh) {
    if (fresh) state.ordersCursor = null;
    const params = new URLSearchParams({ limit: "20" });
    if ($("orders-status").value) params.set("status", $("orders-status").value);
    if (state.ordersCursor) params.set("cursor", state.ordersCursor);
    const { status, body } = await api(`/api/admin/orders?${params}`);
    if (status !== 200) return say(body.detail || `Error ${status}`, true);
    const table = $("orders-table");
    const previous = fresh ? [] : state.orders || [];
    state.orders = previous.concat(body.items);
    state.ordersCursor = body.next_cursor;
    $("orders-more").hidden = !body.next_cursor;
    fill(table, [
      { title: "Order", value: (o) => `#${o.id}` },
      { title: "Placed", value: (o) => o.created_at.replace("T", " ").replace("Z", " UTC") },
      { title: "Status", value: (o) => o.status },
      { title: "Items", value: (o) => o.items.reduce((n, i) => n + i.quantity, 0), num: true },
      { title: "Total", value: (o) => money(o.total_cents), num: true, cents: (o) => o.total_cents },
      { title: "Change status", value: statusControl },
    ], state.orders);
    document.body.dataset.loaded = "orders";
  }

  function statusControl(order) {
    const next = NEXT_STATUSES[order.status] || [];
    const span = document.createElement("span");
    if (!next.length) return span;
    const select = document.createElement("select");
    select.dataset.order = String(order.id);
    for (const status of next) select.add(new Option(status, status));
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = "Apply";
    button.addEventListener("click", async () => {
      const { status, body } = await api(`/api/admin/orders/${order.id}/status`, {
        method: "PUT", json: { status: select.value },
      });
      if (status !== 200) return say(body.detail || `Error ${status}`, true);
      say(`Order #${order.id} is now ${body.status}.`);
      state.orders = state.orders.map((o) => (o.id === order.id ? body : o));
      await loadOrders(true);
    });
    span.append(select, " ", button);
    return span;
  }

  // --- session --------------------------------------------------------------------------------------
  async function login(event) {
    event.preventDefault();
    const { status, body } = await api("/api/auth/login", {
      method: "POST", json: { email: $("login-email").value, password: $("login-password").value },
    });
    if (status !== 200) return say(body.detail || "Login failed", true);
    state.token = body.access_token;
    sessionStorage.setItem(TOKEN_KEY, state.token);
    show("dashboard");
  }

  function logout(text) {
    if (state.token && !text) api("/api/auth/logout", { method: "POST" });
    state.token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    show("dashboard");
    say(text || "Logged out.");
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("login-form").addEventListener("submit", login);
    $("logout").addEventListener("click", () => logout());
    for (const button of document.querySelectorAll("nav button[data-view]")) {
      button.addEventListener("click", () => show(button.dataset.view));
    }
    $("window-form").addEventListener("submit", (event) => {
      event.preventDefault();
      show(state.view);
    });
    for (const button of document.querySelectorAll("button.csv")) {
      button.addEventListener("click", () =>
        download(`${button.dataset.report}_${windowName()}.csv`, state.reports[button.dataset.report] || []));
    }
    $("orders-export").addEventListener("click", exportOrders);
    $("import-form").addEventListener("submit", importProducts);
    $("orders-status").addEventListener("change", () => loadOrders(true));
    $("orders-more").addEventListener("click", () => loadOrders(false));
    show("dashboard");
  });
})();
