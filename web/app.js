/*
 * The techledger dashboard: reads the ledger's views over the same HTTP API everyone uses and
 * draws them. No libraries, no build step, nothing fetched from elsewhere.
 *
 * Every panel loads on its own, so one failing view does not blank the page: its status line
 * says what failed (HTTP status and the API's error rule). Text from the ledger (ids, names,
 * the checkpoint) is only ever inserted as text, never as HTML.
 *
 * Money arrives as integer fen (1亿元 = 10^10 fen); every total the views return is below
 * 2^53, so plain numbers are exact.
 */
"use strict";

const FEN_PER_YI = 1e10;

const PROVINCES = {
  "11": ["北京", "Beijing"], "12": ["天津", "Tianjin"], "13": ["河北", "Hebei"], "14": ["山西", "Shanxi"],
  "15": ["内蒙古", "Inner Mongolia"], "21": ["辽宁", "Liaoning"], "22": ["吉林", "Jilin"],
  "23": ["黑龙江", "Heilongjiang"], "31": ["上海", "Shanghai"], "32": ["江苏", "Jiangsu"],
  "33": ["浙江", "Zhejiang"], "34": ["安徽", "Anhui"], "35": ["福建", "Fujian"], "36": ["江西", "Jiangxi"],
  "37": ["山东", "Shandong"], "41": ["河南", "Henan"], "42": ["湖北", "Hubei"], "43": ["湖南", "Hunan"],
  "44": ["广东", "Guangdong"], "45": ["广西", "Guangxi"], "46": ["海南", "Hainan"], "50": ["重庆", "Chongqing"],
  "51": ["四川", "Sichuan"], "52": ["贵州", "Guizhou"], "53": ["云南", "Yunnan"], "54": ["西藏", "Tibet"],
  "61": ["陕西", "Shaanxi"], "62": ["甘肃", "Gansu"], "63": ["青海", "Qinghai"], "64": ["宁夏", "Ningxia"],
  "65": ["新疆", "Xinjiang"], "71": ["台湾", "Taiwan"], "81": ["香港", "Hong Kong"], "82": ["澳门", "Macao"],
};

const INDICATORS = {
  turnover_fen: ["全国技术合同成交额", "National turnover", "money"],
  demonstration_institutions: ["示范性国家技术转移机构", "Demonstration transfer institutions", "count"],
  demonstration_zones: ["科技成果转移转化示范区", "Demonstration zones", "count"],
  trained_professionals: ["技术转移人才培养", "Trained transfer professionals", "count"],
};

const FUND_KINDS = { guidance: "引导基金 guidance", sub_fund: "子基金 sub-fund", local: "地方基金 local" };

/* ---- formatting ---- */

function groupDigits(s) {
  return s.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/* 22,398.40 (亿元) from fen, rounded to 0.01亿元. */
function yi(fen) {
  if (typeof fen !== "number" || !isFinite(fen)) return "–";
  const cents = Math.round(fen / 1e8);
  const sign = cents < 0 ? "-" : "";
  const a = Math.abs(cents);
  return sign + groupDigits(String(Math.floor(a / 100))) + "." + String(a % 100).padStart(2, "0");
}

/* 2.24 (万亿元) from fen, for chart labels. */
function wanyi(fen) {
  return (fen / 1e14).toFixed(2);
}

function int(n) {
  return typeof n === "number" ? groupDigits(String(n)) : "–";
}

function pct(ppm) {
  if (typeof ppm !== "number") return "–";
  return (ppm / 10000).toFixed(1) + "%";
}

function provinceName(code) {
  const p = PROVINCES[code];
  return p ? p[0] + " " + p[1] : code;
}

/* ---- DOM helpers (text only) ---- */

function $(id) {
  return document.getElementById(id);
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

/* A bilingual label: 中文 + an English span. */
function bi(zh, en) {
  const s = el("span", {}, zh + " ");
  s.append(el("span", { class: "en" }, en));
  return s;
}

function setStatus(id, kind, text) {
  const s = $(id);
  s.className = "status " + kind;
  s.textContent = text;
}

function loading(id) {
  setStatus(id, "loading", "加载中… Loading…");
}

function failed(id, err) {
  setStatus(id, "error", "加载失败 Could not load: " + (err && err.message ? err.message : String(err)));
}

function table(id, headers, rows, rowClass) {
  const t = $(id);
  t.replaceChildren();
  const thead = el("thead");
  const tr = el("tr");
  for (const h of headers) tr.append(el("th", {}, Array.isArray(h) ? bi(h[0], h[1]) : h));
  thead.append(tr);
  const tbody = el("tbody");
  rows.forEach((r, i) => {
    const row = el("tr", rowClass ? { class: rowClass(i) || "" } : {});
    for (const c of r) row.append(c instanceof Node ? el("td", {}, c) : el("td", { class: typeof c === "string" && /^[\d,.\-–%x]+$/.test(c) ? "num" : "" }, c));
    tbody.append(row);
  });
  t.append(thead, tbody);
}

/* ---- fetching ---- */

async function fetchText(path) {
  let r;
  try {
    r = await fetch(path, { headers: { Accept: "application/json, text/plain" }, cache: "no-store" });
  } catch (e) {
    throw new Error(path + ": " + (e && e.message ? e.message : "network error") + " (is techledger serve running?)");
  }
  const text = await r.text();
  if (!r.ok) {
    let detail = "";
    try {
      const body = JSON.parse(text);
      if (body && body.error) detail = ": " + body.error + (body.message ? " — " + body.message : "");
    } catch (e) {
      /* not JSON: the status says enough */
    }
    throw new Error("HTTP " + r.status + " " + path + detail);
  }
  return text;
}

async function fetchJSON(path) {
  const text = await fetchText(path);
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(path + ": the reply is not JSON");
  }
}

/* ---- turnover ---- */

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

function drawChart(rows, targetFen, reachedYear) {
  const W = 820, H = 340, left = 64, right = 16, top = 34, bottom = 44;
  const box = $("turnover-chart");
  box.replaceChildren();
  if (rows.length === 0) {
    box.append(el("p", { class: "hint" }, "尚无合同 No contracts recorded yet."));
    return;
  }
  const max = Math.max(targetFen, ...rows.map((r) => r.total_fen)) * 1.12;
  const y = (v) => top + (H - top - bottom) * (1 - v / max);
  const band = (W - left - right) / rows.length;
  const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "turnover by year against the 2-trillion target", class: "bars" });
  s.append(svg("title", {}, "全国技术合同成交额（万亿元） National turnover by year (trillion yuan)"));
  /* gridlines every trillion yuan */
  for (let v = 0; v <= max; v += 1e14) {
    s.append(svg("line", { x1: left, x2: W - right, y1: y(v), y2: y(v), class: "grid" }));
    s.append(svg("text", { x: left - 8, y: y(v) + 4, class: "axis", "text-anchor": "end" }, (v / 1e14).toFixed(0) + "万亿"));
  }
  rows.forEach((r, i) => {
    const x = left + i * band + band * 0.15, w = band * 0.7;
    const over = reachedYear && Number(r.year) >= Number(reachedYear);
    const bar = svg("rect", { x, y: y(r.total_fen), width: w, height: Math.max(0, y(0) - y(r.total_fen)), class: over ? "bar over" : "bar" });
    bar.append(svg("title", {}, `${r.year}: ${yi(r.total_fen)} 亿元, ${int(r.contracts)} contracts`));
    s.append(bar);
    /* a label that would sit on the target line goes inside the bar instead */
    const inside = Math.abs(y(r.total_fen) - 6 - y(targetFen)) < 12 && y(0) - y(r.total_fen) > 24;
    s.append(svg("text", { x: x + w / 2, y: inside ? y(r.total_fen) + 16 : y(r.total_fen) - 6, class: inside && over ? "value inside" : "value", "text-anchor": "middle" }, wanyi(r.total_fen)));
    s.append(svg("text", { x: x + w / 2, y: H - bottom + 18, class: r.year === reachedYear ? "axis crossed" : "axis", "text-anchor": "middle" }, r.year));
  });
  const ty = y(targetFen);
  s.append(svg("line", { x1: left, x2: W - right, y1: ty, y2: ty, class: "target" }));
  /* the legend sits above the plot, where no bar can cover it */
  s.append(svg("line", { x1: left, x2: left + 34, y1: 10, y2: 10, class: "target" }));
  s.append(svg("text", { x: left + 42, y: 14, class: "target-label" }, `目标 target ${wanyi(targetFen)}万亿元 (2 trillion yuan)`));
  s.append(svg("rect", { x: left + 330, y: 3, width: 14, height: 12, class: "bar over" }));
  s.append(svg("text", { x: left + 350, y: 14, class: "axis" }, reachedYear ? `达成目标后 at or above the target since ${reachedYear}` : "尚未达成 not reached yet"));
  s.append(svg("text", { x: left, y: H - 6, class: "axis" }, "年份 year of registration · 万亿元 trillion yuan"));
  box.append(s);
}

async function loadTurnover(asOf) {
  loading("turnover-status");
  const q = "/v1/views/turnover?by=year" + (asOf ? "&as_of=" + encodeURIComponent(asOf) : "");
  let data;
  try {
    data = await fetchJSON(q);
  } catch (e) {
    failed("turnover-status", e);
    for (const id of ["latest-turnover", "target-value", "crossed-year", "position"]) if ($(id).textContent === "…") $(id).textContent = "–";
    return null;
  }
  const rows = (data.rows || []).filter((r) => r.year).sort((a, b) => Number(a.year) - Number(b.year));
  const target = data.target || {};
  const targetFen = typeof target.target_fen === "number" ? target.target_fen : 2e14;
  let reached = target.reached_year || null;
  if (!reached) {
    const hit = rows.find((r) => r.total_fen >= targetFen);
    reached = hit ? hit.year : null;
  }
  drawChart(rows, targetFen, reached);
  table("turnover-table", [["年份", "Year"], ["合同数", "Contracts"], ["成交额（亿元）", "Turnover (亿元)"],
    ["技术交易额（亿元）", "Technical part (亿元)"], ["目标进度", "Of target"]],
  rows.map((r) => [r.year, int(r.contracts), yi(r.total_fen), yi(r.tech_fen), pct(Math.round((r.total_fen / targetFen) * 1e6))]),
  (i) => (reached && rows[i].year === reached ? "crossed" : ""));
  const last = rows[rows.length - 1];
  $("latest-turnover").textContent = last ? yi(last.total_fen) + " 亿元" : "–";
  $("latest-year").textContent = last ? `${last.year} 年 · ${int(last.contracts)} 份合同 contracts` : "";
  $("target-value").textContent = yi(targetFen) + " 亿元";
  $("target-note").textContent = `${target.target_year || 2020} 年目标 target for ${target.target_year || 2020}`;
  $("crossed-year").textContent = reached ? String(reached) : "未达成 not yet";
  const crossedRow = rows.find((r) => r.year === reached);
  $("crossed-note").textContent = crossedRow ? `${yi(crossedRow.total_fen)} 亿元 in ${reached}` : "";
  if (typeof data.position === "number") $("position").textContent = int(data.position);
  setStatus("turnover-status", "ok", (data.as_of ? `截至 ${data.as_of} 的记录 As recorded on ${data.as_of}` : "最新记录 Latest records") +
    (typeof data.position === "number" ? ` · position ${int(data.position)}` : ""));
  return last ? last.year : null;
}

async function loadProvinces(year, asOf) {
  loading("provinces-status");
  if (!year) {
    setStatus("provinces-status", "ok", "尚无合同 No contracts yet.");
    return;
  }
  $("provinces-year").textContent = String(year);
  let data;
  try {
    data = await fetchJSON("/v1/views/turnover?by=year,seller_province&year=" + encodeURIComponent(year) +
      (asOf ? "&as_of=" + encodeURIComponent(asOf) : ""));
  } catch (e) {
    failed("provinces-status", e);
    return;
  }
  const rows = (data.rows || []).filter((r) => r.year === String(year)).sort((a, b) => b.total_fen - a.total_fen);
  const total = rows.reduce((s, r) => s + r.total_fen, 0);
  const top = rows.slice(0, 10);
  const maxFen = top.length ? top[0].total_fen : 1;
  table("provinces-table", ["#", ["输出地区", "Seller province"], ["成交额（亿元）", "Turnover (亿元)"], ["合同数", "Contracts"], ["占全国", "Share"], ""],
    top.map((r, i) => {
      const bar = el("span", { class: "hbar" });
      bar.style.width = Math.max(1, Math.round((r.total_fen / maxFen) * 100)) + "%";
      return [String(i + 1), provinceName(r.seller_province), yi(r.total_fen), int(r.contracts), pct(Math.round((r.total_fen / total) * 1e6)), bar];
    }));
  setStatus("provinces-status", "ok", `${year} 年，前 ${top.length} 名，共 ${rows.length} 个地区 Top ${top.length} of ${rows.length} provinces in ${year}`);
}

/* ---- funds ---- */

function card(parent, zh, en, value, note) {
  const c = el("div", { class: "card" });
  c.append(el("div", { class: "label" }, bi(zh, en)), el("div", { class: "value" }, value));
  if (note) c.append(el("div", { class: "note" }, note));
  parent.append(c);
}

function ratio(s) {
  return s === "" || s === undefined || s === null ? "–" : String(s) + "x";
}

async function loadFunds() {
  loading("funds-status");
  let data;
  try {
    data = await fetchJSON("/v1/views/funds");
  } catch (e) {
    failed("funds-status", e);
    return;
  }
  const rows = data.rows || [];
  const findings = data.findings || [];
  const flagged = new Set(findings.map((f) => f.fund));
  const summary = $("funds-summary");
  summary.replaceChildren();
  for (const g of rows.filter((r) => r.kind === "guidance")) {
    card(summary, "引导基金认缴", "Guidance committed", yi(g.guidance_committed_fen) + " 亿元", g.fund);
    card(summary, "子基金认缴总额", "Sub-fund commitments", yi(g.committed_fen) + " 亿元", "all sources");
    card(summary, "杠杆 L1（认缴/实缴）", "Leverage L1 (committed / paid-in)", ratio(g.l1_committed) + " / " + ratio(g.l1_paid_in));
    card(summary, "杠杆 L2 · 定向倍数", "Leverage L2 · directed multiple", ratio(g.l2) + " · " + ratio(g.directed_multiple));
  }
  const order = { guidance: 0, sub_fund: 1, local: 2 };
  rows.sort((a, b) => (order[a.kind] ?? 3) - (order[b.kind] ?? 3) || String(a.fund).localeCompare(String(b.fund)));
  table("funds-table", [["基金", "Fund"], ["类型", "Kind"], ["规模", "Size"], ["引导认缴", "Guidance committed"], ["认缴", "Committed"],
    ["实缴", "Paid in"], ["投资", "Invested"], ["定向投资", "Qualifying"], ["引导占比", "Guidance share"], ["L1 认缴", "L1 committed"],
    ["L1 实缴", "L1 paid-in"], ["L2", "L2"], ["定向倍数", "Directed"]],
  rows.map((r) => [r.fund, FUND_KINDS[r.kind] || r.kind, r.size_fen ? yi(r.size_fen) : "–", yi(r.guidance_committed_fen), yi(r.committed_fen),
    yi(r.paid_in_fen), yi(r.invested_fen), yi(r.qualifying_invested_fen), r.kind === "sub_fund" ? pct(r.guidance_share_ppm) : "–",
    ratio(r.l1_committed), ratio(r.l1_paid_in), ratio(r.l2), ratio(r.directed_multiple)]),
  (i) => (flagged.has(rows[i].fund) ? "flagged" : ""));
  const ul = $("funds-findings");
  ul.replaceChildren();
  for (const f of findings) ul.append(el("li", {}, el("code", {}, f.rule), " ", f.fund || "", ": ", f.detail || ""));
  setStatus("funds-status", "ok", `${rows.length} 只基金，${findings.length} 项规则提示 ${rows.length} funds, ${findings.length} findings` +
    (typeof data.position === "number" ? ` · position ${int(data.position)}` : ""));
}

/* ---- loans ---- */

async function loadLoans() {
  loading("loans-status");
  let data;
  try {
    data = await fetchJSON("/v1/views/loans");
  } catch (e) {
    failed("loans-status", e);
    return;
  }
  const rows = data.rows || [];
  /* The cap is per bank and year across all pools: add up the pools. */
  const byBankYear = new Map();
  let lent = 0, defaulted = 0, compensated = 0, loans = 0, defaults = 0;
  for (const r of rows) {
    lent += r.lent_fen || 0;
    defaulted += r.defaulted_fen || 0;
    compensated += r.compensated_fen || 0;
    loans += r.loans || 0;
    defaults += r.defaults || 0;
    const k = r.bank + "\u0000" + r.year;
    const e = byBankYear.get(k) || { bank: r.bank, year: r.year, lent: 0, comp: 0, cap: 0, pools: new Set() };
    e.lent += r.lent_fen || 0;
    e.comp += r.compensated_fen || 0;
    e.cap = Math.max(e.cap, r.cap_fen || 0);
    e.pools.add(r.pool);
    byBankYear.set(k, e);
  }
  const list = [...byBankYear.values()].filter((e) => e.comp > 0);
  for (const e of list) e.used = e.cap > 0 ? e.comp / e.cap : Infinity;
  list.sort((a, b) => b.used - a.used);
  const over = list.filter((e) => e.used > 1);
  const summary = $("loans-summary");
  summary.replaceChildren();
  card(summary, "贷款", "Loans", int(loans), yi(lent) + " 亿元");
  card(summary, "违约", "Defaults", int(defaults), yi(defaulted) + " 亿元");
  card(summary, "已补偿", "Compensation paid", yi(compensated) + " 亿元");
  card(summary, "超过2%上限", "Bank-years above the 2% cap", int(over.length));
  table("loans-table", [["银行", "Bank"], ["年份", "Year"], ["当年贷款", "Lent that year"], ["补偿", "Compensated"], ["上限 2%", "Cap 2%"], ["上限使用", "Cap used"], ""],
    list.slice(0, 12).map((e) => {
      const bar = el("span", { class: e.used > 1 ? "hbar over" : "hbar" });
      bar.style.width = Math.min(100, Math.max(1, Math.round(e.used * 100))) + "%";
      return [e.bank, e.year, yi(e.lent), yi(e.comp), yi(e.cap), isFinite(e.used) ? (e.used * 100).toFixed(1) + "%" : "∞", bar];
    }),
    (i) => (list[i].used > 1 ? "flagged" : ""));
  const ul = $("loans-findings");
  ul.replaceChildren();
  for (const f of data.findings || []) ul.append(el("li", {}, el("code", {}, f.rule), " ", f.bank || f.fund || f.pool || "", f.year ? " " + f.year : "", ": ", f.detail || ""));
  setStatus("loans-status", "ok", `补偿最多的 ${Math.min(12, list.length)} 个银行年度 The ${Math.min(12, list.length)} bank-years using most of their cap` +
    (typeof data.position === "number" ? ` · position ${int(data.position)}` : ""));
}

/* ---- targets ---- */

async function loadTargets() {
  loading("targets-status");
  let data;
  try {
    data = await fetchJSON("/v1/views/targets");
  } catch (e) {
    failed("targets-status", e);
    return;
  }
  const rows = data.rows || [];
  table("targets-table", [["指标", "Indicator"], ["目标", "Target"], ["实际", "Actual"], ["进度", "Progress"], ["达成年份", "Reached"]],
    rows.map((r) => {
      const d = INDICATORS[r.indicator] || [r.indicator, "", "count"];
      const fmt = d[2] === "money" ? (v) => yi(v) + " 亿元" : int;
      return [bi(d[0], d[1]), fmt(r.target), fmt(r.actual), pct(r.progress_ppm), r.reached_year || "–"];
    }));
  setStatus("targets-status", "ok", "");
}

/* ---- checkpoint ---- */

async function loadCheckpoint() {
  loading("checkpoint-status");
  try {
    const text = await fetchText("/v1/checkpoint");
    $("checkpoint").textContent = text;
    const lines = text.split("\n");
    setStatus("checkpoint-status", "ok", `来源 origin ${lines[0]} · 树大小 tree size ${lines[1] ? int(Number(lines[1])) : "?"}`);
  } catch (e) {
    failed("checkpoint-status", e);
  }
}

/* ---- start ---- */

async function refreshTurnover(asOf) {
  const year = await loadTurnover(asOf);
  await loadProvinces(year, asOf);
}

/* A vintage lives in the fragment (#as_of=2019-12-31): the server never sees it, so links to
 * a vintage work with any server, and the API's strict query checking is not involved. */
function asOfFromHash() {
  const m = /(?:^|[#&])as_of=(\d{4}-\d{2}-\d{2})(?:&|$)/.exec(location.hash);
  return m ? m[1] : "";
}

function start() {
  const asOf = asOfFromHash();
  $("as-of").value = asOf;
  $("as-of-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const d = $("as-of").value || "";
    history.replaceState(null, "", d ? "#as_of=" + d : location.pathname);
    refreshTurnover(d);
  });
  $("as-of-clear").addEventListener("click", () => {
    $("as-of").value = "";
    history.replaceState(null, "", location.pathname);
    refreshTurnover("");
  });
  refreshTurnover(asOf);
  loadFunds();
  loadLoans();
  loadTargets();
  loadCheckpoint();
}

start();
