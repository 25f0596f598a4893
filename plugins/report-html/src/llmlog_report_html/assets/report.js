/* llmlog report viewer. Hand-written, no dependencies, no build step.
 *
 * Rules this file keeps:
 * - every text of the run reaches the DOM through createTextNode / textContent (the helper
 *   `text()`), never innerHTML; control, bidi and lone-surrogate characters are shown as visible
 *   escapes (`\u202e`), so a prompt cannot reorder or hide what the reader sees;
 * - nothing is fetched: the data is in inert <script type="application/octet-stream"> elements,
 *   decoded with DecompressionStream; the page's CSP forbids any request anyway;
 * - the tree is virtualised (only the rows in view exist), and a node's content is decoded only
 *   when it is opened or searched (chunks of about 256 KiB).
 */
(function () {
  "use strict";
  var ROW = 22;
  var D = null; // the skeleton
  var N = 0;
  var kids = []; // children per node
  var depth = null;
  var expanded = null;
  var rows = []; // visible node indices
  var selected = -1;
  var chunkCache = {};
  var searchHits = null; // Uint8Array of matches, or null
  var searchText = "";
  var contentIndex = null; // lower-cased JSON of each node's content, once searched
  var KIND = {};

  // ---- decoding -------------------------------------------------------------------------------
  function b64bytes(s) {
    if (typeof Uint8Array.fromBase64 === "function") return Uint8Array.fromBase64(s);
    var bin = atob(s);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  function inflate(b64) {
    var stream = new Blob([b64bytes(b64)]).stream().pipeThrough(new DecompressionStream("deflate"));
    return new Response(stream).text();
  }
  function chunkOf(i) {
    var starts = D.chunkStarts, lo = 0, hi = starts.length - 1;
    while (lo < hi) {
      var mid = (lo + hi + 1) >> 1;
      if (starts[mid] <= i) lo = mid; else hi = mid - 1;
    }
    return lo;
  }
  function loadChunk(c) {
    if (!chunkCache[c]) {
      var el = document.querySelector('script.llmlog-chunk[data-n="' + c + '"]');
      chunkCache[c] = el ? inflate(el.textContent).then(JSON.parse) : Promise.resolve([]);
    }
    return chunkCache[c];
  }
  function content(i) {
    if (!D.nodes.has[i]) return Promise.resolve(null);
    var c = chunkOf(i);
    return loadChunk(c).then(function (arr) { return arr[i - D.chunkStarts[c]] || null; });
  }

  // ---- safe text ------------------------------------------------------------------------------
  // C0/C1 controls (but tab and newline in blocks), bidi controls and marks, zero-width and BOM,
  // and lone surrogates (with the u flag a class of surrogates matches only unpaired ones).
  var UNSAFE_BLOCK = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb\ud800-\udfff]/u;
  var UNSAFE_LINE = /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb\ud800-\udfff]/u;
  function escOf(ch) {
    var code = ch.charCodeAt(0);
    if (ch === "\n") return "\u21b5";
    if (ch === "\t") return "\u21e5";
    return "\\u" + ("000" + code.toString(16)).slice(-4);
  }
  function text(value, block) {
    var s = typeof value === "string" ? value : String(value);
    var frag = document.createDocumentFragment();
    var re = block ? UNSAFE_BLOCK : UNSAFE_LINE;
    if (!re.test(s)) { frag.appendChild(document.createTextNode(s)); return frag; }
    var buf = "";
    for (var ch of s) { // by code point: a pair stays a pair
      if (re.test(ch)) {
        if (buf) { frag.appendChild(document.createTextNode(buf)); buf = ""; }
        var span = document.createElement("span");
        span.className = "esc";
        span.title = "an invisible or control character, shown as its code";
        span.textContent = escOf(ch);
        frag.appendChild(span);
      } else buf += ch;
    }
    if (buf) frag.appendChild(document.createTextNode(buf));
    return frag;
  }
  function el(tag, cls, kids_) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (kids_ !== undefined) {
      if (!Array.isArray(kids_)) kids_ = [kids_];
      for (var k of kids_) {
        if (k === null || k === undefined) continue;
        e.appendChild(typeof k === "string" || typeof k === "number" ? text(k) : k);
      }
    }
    return e;
  }
  function highlight(s, block) {
    if (!searchText) return text(s, block);
    var low = s.toLowerCase(), at = low.indexOf(searchText);
    if (at < 0 || low.length !== s.length) return text(s, block);
    var frag = document.createDocumentFragment(), pos = 0;
    while (at >= 0 && frag.childNodes.length < 200) {
      frag.appendChild(text(s.slice(pos, at), block));
      frag.appendChild(el("mark", null, [text(s.slice(at, at + searchText.length), block)]));
      pos = at + searchText.length;
      at = low.indexOf(searchText, pos);
    }
    frag.appendChild(text(s.slice(pos), block));
    return frag;
  }
  function json(value) {
    if (typeof value === "string") return value;
    try { return JSON.stringify(value, null, 2); } catch (e) { return String(value); }
  }
  function pre(value) { return el("pre", null, [highlight(json(value), true)]); }

  // ---- numbers --------------------------------------------------------------------------------
  function fmtInt(n) { return n === null || n === undefined ? "?" : Number(n).toLocaleString("en-US"); }
  function fmtMs(ms) {
    if (ms === null || ms === undefined) return "?";
    if (ms < 1) return (ms * 1000).toFixed(0) + " µs";
    if (ms < 1000) return ms.toFixed(ms < 10 ? 1 : 0) + " ms";
    if (ms < 60000) return (ms / 1000).toFixed(2) + " s";
    return (ms / 60000).toFixed(1) + " min";
  }
  // Unknown is never $0.
  function fmtCost(c) {
    if (c === null || c === undefined) return "unknown";
    if (c === 0) return "$0";
    if (c < 0.01) return "$" + c.toPrecision(3);
    return "$" + c.toFixed(4);
  }
  function str(i) { return D.strings[i] || ""; }

  // ---- the tree -------------------------------------------------------------------------------
  function build() {
    var P = D.nodes.parent;
    N = P.length;
    kids = new Array(N);
    depth = new Uint16Array(N);
    expanded = new Uint8Array(N);
    for (var i = 0; i < N; i++) {
      var p = P[i];
      if (p >= 0) {
        (kids[p] || (kids[p] = [])).push(i);
        depth[i] = Math.min(depth[p] + 1, 60000);
      }
    }
    D.kinds.forEach(function (k, i) { KIND[k] = i; });
    // Open: traces and thread tracks, and the first levels while the run is small; every
    // ancestor of an error, so errors are in view at once.
    var open = N <= 3000 ? 3 : 1;
    for (i = 0; i < N; i++) if (depth[i] < open) expanded[i] = 1;
    var err = D.nodes.err;
    for (i = 0; i < N; i++) if (err[i]) openAncestors(i);
  }
  function openAncestors(i) {
    var p = D.nodes.parent[i];
    while (p >= 0 && !expanded[p]) { expanded[p] = 1; p = D.nodes.parent[p]; }
    while (p >= 0) { expanded[p] = 1; p = D.nodes.parent[p]; }
  }
  function passesFilters(i) {
    var f = filters;
    if (f.errors && !D.nodes.err[i]) return false;
    if (f.model && str(D.nodes.model[i]) !== f.model) return false;
    if (f.kind && D.kinds[D.nodes.kind[i]] !== f.kind) return false;
    if (searchHits && !searchHits[i]) return false;
    return true;
  }
  var filters = { errors: false, model: "", kind: "" };
  function filtering() { return filters.errors || filters.model || filters.kind || searchHits; }
  // Grouping other than the tree: the LLM calls, tool calls and errors under one header per
  // model, per session (a trace's session id or conversation id, else the trace) or per DSPy
  // Evaluate example (the Evaluate span's child each row is under).
  var groupBy = "trace";
  var groups = [];
  function groupKey(i) {
    var nd = D.nodes, P = nd.parent;
    if (groupBy === "model") return str(nd.model[i]) || "(no model)";
    if (groupBy === "session") {
      var t = D.traces[nd.trace[i]], meta = (D.sessions || {})[t] || {};
      var id = meta.session_id || meta.sessionId || meta.conversation_id || meta["gen_ai.conversation.id"];
      return typeof id === "string" && id ? "session " + id : "trace " + (t || "?");
    }
    var a = i;
    while (a >= 0 && P[a] >= 0) {
      if (str(nd.name[P[a]]).toLowerCase().indexOf("evaluate") === 0) {
        // The integration names its example spans "Example #N" (N: the devset index).
        if (str(nd.name[a]).indexOf("Example #") === 0) return str(nd.name[a]);
        return "example " + (kids[P[a]].indexOf(a) + 1) + ": " + str(nd.name[a]);
      }
      a = P[a];
    }
    return "(not in an Evaluate example)";
  }
  function computeGroups() {
    var nd = D.nodes, byKey = {}, order = [];
    for (var i = 0; i < N; i++) {
      var kind = D.kinds[nd.kind[i]];
      if (kind !== "llm" && kind !== "error" && kind !== "tool") continue;
      if (groupBy === "model" && kind !== "llm") continue;
      if (!passesFilters(i)) continue;
      var key = groupKey(i);
      if (!byKey[key]) { byKey[key] = { label: key, members: [], calls: 0, tokens: 0, cost: 0, unknown: 0, errors: 0 }; order.push(key); }
      var g = byKey[key];
      g.members.push(i);
      if (nd.err[i]) g.errors++;
      if (kind === "llm") {
        g.calls++; g.tokens += (nd.tin[i] || 0) + (nd.tout[i] || 0);
        if (nd.cost[i] === null) g.unknown++; else g.cost += nd.cost[i];
      }
    }
    groups = order.map(function (k) { return byKey[k]; });
    rows = [];
    groups.forEach(function (g, n) {
      rows.push(-(n + 1));
      for (var k = 0; k < g.members.length; k++) rows.push(g.members[k]); // no apply: 100,000 arguments overflow
    });
  }
  function groupRow(g, r) {
    var row = el("div", "row grouphead");
    row.style.top = r * ROW + "px";
    var lab = el("div", "lab");
    lab.style.flex = "1";
    lab.appendChild(el("b", "name", [text(g.label, false)]));
    lab.appendChild(el("span", "meta", g.calls + " calls · " + fmtInt(g.tokens) + " tok · cost " +
      (g.calls && g.unknown === g.calls ? "unknown" : fmtCost(g.cost) + (g.unknown ? " + " + g.unknown + " unknown" : "")) +
      (g.errors ? " · " + g.errors + " errors" : "")));
    row.appendChild(lab);
    return row;
  }
  function computeRows() {
    rows = [];
    var P = D.nodes.parent, i;
    if (groupBy !== "trace") { computeGroups(); return; }
    if (filtering()) {
      // The matches and their ancestors, all shown.
      var keep = new Uint8Array(N);
      for (i = 0; i < N; i++) {
        if (passesFilters(i)) {
          var p = i;
          while (p >= 0 && !keep[p]) { keep[p] = 1; p = P[p]; }
        }
      }
      for (i = 0; i < N; i++) if (keep[i]) rows.push(i);
      return;
    }
    var stack = [];
    for (i = N - 1; i >= 0; i--) if (P[i] < 0) stack.push(i);
    while (stack.length) {
      var n = stack.pop();
      rows.push(n);
      if (expanded[n] && kids[n]) for (var k = kids[n].length - 1; k >= 0; k--) stack.push(kids[n][k]);
    }
  }
  function rootOf(i) {
    var P = D.nodes.parent;
    while (P[i] >= 0) i = P[i];
    return i;
  }

  var treeEl, spacer, detailEl;
  function renderRows() {
    var top = treeEl.scrollTop, h = treeEl.clientHeight || 600;
    var first = Math.max(0, Math.floor(top / ROW) - 10);
    var last = Math.min(rows.length, Math.ceil((top + h) / ROW) + 10);
    spacer.style.height = rows.length * ROW + "px";
    spacer.textContent = "";
    var frag = document.createDocumentFragment();
    for (var r = first; r < last; r++) frag.appendChild(rowEl(rows[r], r));
    spacer.appendChild(frag);
  }
  function rowEl(i, r) {
    if (i < 0) return groupRow(groups[-i - 1], r);
    var nd = D.nodes, kind = D.kinds[nd.kind[i]];
    var row = el("div", "row" + (nd.err[i] ? " err" : "") + (i === selected ? " sel" : ""));
    row.style.top = r * ROW + "px";
    row.dataset.i = i;
    row.setAttribute("role", "treeitem");
    var lab = el("div", "lab");
    lab.style.paddingLeft = 4 + (groupBy === "trace" ? Math.min(depth[i], 40) : 1) * 14 + "px";
    var has = kids[i] && kids[i].length;
    var tog = el("span", "tog", has ? (expanded[i] || filtering() ? "\u25be" : "\u25b8") : "");
    tog.dataset.toggle = i;
    lab.appendChild(tog);
    lab.appendChild(el("span", "kind " + kind, kind === "llm" ? "LLM" : kind));
    if (nd.err[i]) lab.appendChild(el("span", "errmark", "\u2716"));
    lab.appendChild(el("span", "name", [highlight(str(nd.name[i]), false)]));
    var meta = [];
    if (nd.dur[i] !== null) meta.push(fmtMs(nd.dur[i]));
    if (kind === "llm") {
      if (nd.tin[i] !== null || nd.tout[i] !== null) meta.push(fmtInt((nd.tin[i] || 0) + (nd.tout[i] || 0)) + " tok");
      meta.push("cost " + fmtCost(nd.cost[i]));
    }
    if (kind === "log") meta.unshift(str(nd.sev[i]));
    lab.appendChild(el("span", "meta", meta.join(" \u00b7 ")));
    row.appendChild(lab);
    var lane = el("div", "lane");
    var root = rootOf(i), rs = nd.start[root], rd = nd.dur[root];
    if (nd.start[i] !== null && rs !== null && rd) {
      var left = ((nd.start[i] - rs) / rd) * 100;
      var width = ((nd.dur[i] || 0) / rd) * 100;
      var bar = el("div", "bar " + (nd.err[i] ? "err" : kind));
      bar.style.left = Math.max(0, Math.min(100, left)) + "%";
      bar.style.width = Math.max(0, Math.min(100 - left, width)) + "%";
      bar.title = fmtMs(nd.dur[i]);
      lane.appendChild(bar);
    }
    row.appendChild(lane);
    return row;
  }
  function refresh(keepScroll) {
    computeRows();
    if (!keepScroll) treeEl.scrollTop = 0;
    renderRows();
    var label = document.getElementById("count");
    if (label) label.textContent = filtering() || groupBy !== "trace" ? rows.length + " rows shown" : "";
  }
  function scrollToNode(i) {
    var r = rows.indexOf(i);
    if (r < 0) return;
    var top = r * ROW, h = treeEl.clientHeight || 600;
    if (top < treeEl.scrollTop || top > treeEl.scrollTop + h - ROW) treeEl.scrollTop = Math.max(0, top - h / 3);
    renderRows();
  }

  // ---- the detail pane ------------------------------------------------------------------------
  function facts(pairs) {
    var t = el("table", "facts");
    for (var p of pairs) {
      if (p[1] === null || p[1] === undefined || p[1] === "") continue;
      var tr = el("tr");
      tr.appendChild(el("td", null, p[0]));
      tr.appendChild(el("td", null, [p[1] instanceof Node ? p[1] : text(String(p[1]), false)]));
      t.appendChild(tr);
    }
    return t;
  }
  function tokensText(i) {
    var nd = D.nodes, parts = [];
    if (nd.tin[i] !== null) parts.push("input " + fmtInt(nd.tin[i]));
    if (nd.tout[i] !== null) parts.push("output " + fmtInt(nd.tout[i]));
    if (nd.tcache[i] !== null) parts.push("cached " + fmtInt(nd.tcache[i]));
    if (nd.treason[i] !== null) parts.push("reasoning " + fmtInt(nd.treason[i]));
    return parts.length ? parts.join(", ") : null;
  }
  function select(i, fromHash) {
    if (i < 0 || i >= N) return;
    selected = i;
    if (!fromHash) {
      try { history.replaceState(null, "", "#span=" + encodeURIComponent(D.nodes.id[i])); } catch (e) { /* sandboxed */ }
    }
    renderRows();
    showDetail(i);
  }
  function showDetail(i) {
    var nd = D.nodes, kind = D.kinds[nd.kind[i]];
    detailEl.textContent = "";
    detailEl.appendChild(el("h2", null, [el("span", "kind " + kind, kind), " ", highlight(str(nd.name[i]), true)]));
    var llmCost = null;
    if (kind === "llm" || kind === "log") {
      llmCost = nd.cost[i] === null ? "unknown" : fmtCost(nd.cost[i]) + (str(nd.csrc[i]) ? " (" + str(nd.csrc[i]) + ")" : "");
    }
    detailEl.appendChild(facts([
      ["id", nd.id[i]],
      ["link", "#span=" + nd.id[i]],
      ["trace", nd.trace[i] >= 0 ? D.traces[nd.trace[i]] : null],
      ["start", nd.start[i] !== null ? "+" + fmtMs(nd.start[i]) : null],
      ["duration", nd.dur[i] !== null ? fmtMs(nd.dur[i]) : (kind === "span" ? "never ended" : null)],
      ["severity", str(nd.sev[i])],
      ["model", str(nd.model[i])],
      ["provider", str(nd.provider[i])],
      ["tokens", tokensText(i)],
      ["cost", llmCost],
      ["evaluation", evalFacts(i)],
    ]));
    if (nd.err[i]) detailEl.appendChild(el("div", "error-box", [text("error: ", false), highlight(nd.err[i], true)]));
    if (kind === "span" || kind === "trace" || kind === "iteration" || kind === "code") {
      var sub = subtreeTotals(i);
      if (sub.calls) {
        detailEl.appendChild(el("p", "muted", sub.calls + " LLM calls below, " + fmtInt(sub.tokens) +
          " tokens, cost " + (sub.known ? fmtCost(sub.cost) : "unknown") + (sub.unknown && sub.known ? " + " + sub.unknown + " calls of unknown cost" : "")));
      }
    }
    if (!nd.has[i]) {
      if (D.noContent) detailEl.appendChild(el("p", "muted", "Content left out (--no-content)."));
      return;
    }
    var holder = el("div", null, el("p", "muted", "decoding\u2026"));
    detailEl.appendChild(holder);
    content(i).then(function (c) {
      if (selected !== i) return;
      holder.textContent = "";
      if (c) holder.appendChild(contentView(kind, c));
    }).catch(function (e) { holder.textContent = "cannot decode this content: " + e; });
  }
  function subtreeTotals(i) {
    var nd = D.nodes, t = { calls: 0, tokens: 0, cost: 0, known: 0, unknown: 0 };
    var stack = (kids[i] || []).slice(), seen = 0;
    while (stack.length && seen < 200000) {
      var n = stack.pop(); seen++;
      if (D.kinds[nd.kind[n]] === "llm") {
        t.calls++; t.tokens += (nd.tin[n] || 0) + (nd.tout[n] || 0);
        if (nd.cost[n] === null) t.unknown++; else { t.known++; t.cost += nd.cost[n]; }
      }
      if (kids[n]) for (var k of kids[n]) stack.push(k);
    }
    return t;
  }
  function messageView(m) {
    if (m === null || typeof m !== "object") return pre(m);
    var box = el("div", "msg");
    box.appendChild(el("div", "role", String(m.role === undefined ? "?" : typeof m.role === "string" ? m.role : json(m.role))));
    var body = m.content;
    if (Array.isArray(body)) {
      body = body.map(function (part) {
        return part && typeof part === "object" && typeof part.text === "string" ? part.text : json(part);
      }).join("\n");
    }
    box.appendChild(pre(body === undefined ? "" : body));
    if (m.tool_calls) box.appendChild(pre(m.tool_calls));
    return box;
  }
  function section(title, node) { var f = document.createDocumentFragment(); f.appendChild(el("h3", null, title)); f.appendChild(node); return f; }
  function codeBlockView(b, n) {
    var box = el("div", "block");
    box.appendChild(el("b", null, "code block " + (n + 1)));
    if (b.code !== undefined) box.appendChild(pre(b.code));
    if (b.stdout) box.appendChild(section("stdout", pre(b.stdout)));
    if (b.stderr) box.appendChild(section("stderr", el("div", "error-box", [highlight(json(b.stderr), true)])));
    if (b.locals && Object.keys(b.locals).length) box.appendChild(section("locals", pre(b.locals)));
    var subs = b.sub_calls || b.sub_llm_calls;
    if (subs && subs.length) {
      var list = el("div");
      subs.forEach(function (s, k) {
        var d = el("div", "block");
        d.appendChild(el("b", null, "sub-LM call " + (k + 1) + (s.model ? " \u00b7 " + s.model : "")));
        if (s.input_tokens !== undefined || s.prompt_tokens !== undefined) {
          d.appendChild(el("div", "muted", "tokens in " + fmtInt(s.input_tokens !== undefined ? s.input_tokens : s.prompt_tokens) +
            ", out " + fmtInt(s.output_tokens !== undefined ? s.output_tokens : s.completion_tokens)));
        }
        if (s.prompt !== undefined) d.appendChild(pre(s.prompt));
        if (s.response !== undefined) d.appendChild(pre(s.response));
        list.appendChild(d);
      });
      box.appendChild(section("sub-LM calls", list));
    }
    if (b.final_answer !== undefined && b.final_answer !== null) box.appendChild(section("final answer", pre(b.final_answer)));
    return box;
  }
  function contentView(kind, c) {
    var f = document.createDocumentFragment();
    if (c._cut) { f.appendChild(el("p", "banner cut", c._cut)); return f; }
    if (c.iteration) {
      var it = c.iteration;
      if (Array.isArray(it.prompt)) {
        var turn = el("div");
        it.prompt.forEach(function (m) { turn.appendChild(messageView(m)); });
        f.appendChild(section("prompt", turn));
      } else if (it.prompt !== undefined) f.appendChild(section("prompt", pre(it.prompt)));
      if (it.response !== undefined) f.appendChild(section("response", pre(it.response)));
      (it.code_blocks || []).forEach(function (b, n) { f.appendChild(codeBlockView(b, n)); });
      if (it.final_answer !== undefined) f.appendChild(section("final answer", pre(it.final_answer)));
    }
    if (c.messages && Array.isArray(c.messages)) {
      var msgs = el("div");
      c.messages.forEach(function (m) { msgs.appendChild(messageView(m)); });
      f.appendChild(section("messages", msgs));
    } else if (c.prompt !== undefined) f.appendChild(section("prompt", pre(c.prompt)));
    if (c.response !== undefined) f.appendChild(section("response", pre(c.response)));
    if (c.tool_calls !== undefined) f.appendChild(section("tool calls", pre(c.tool_calls)));
    if (c.usage !== undefined) f.appendChild(section("usage", pre(c.usage)));
    if (c.module) f.appendChild(section("module", pre(c.module)));
    if (c.inputs !== undefined) f.appendChild(section("inputs", pre(c.inputs)));
    if (c.outputs !== undefined) f.appendChild(section("outputs", pre(c.outputs)));
    if (c.input !== undefined) f.appendChild(section("input", pre(c.input)));
    if (c.output !== undefined) f.appendChild(section("output", pre(c.output)));
    if (c.code_exec && !c.iteration) f.appendChild(codeBlockView(c.code_exec, 0));
    if (c.session) f.appendChild(section("session", pre(c.session)));
    var shown = { iteration: 1, messages: 1, prompt: 1, response: 1, tool_calls: 1, usage: 1, module: 1,
      inputs: 1, outputs: 1, input: 1, output: 1, code_exec: 1, session: 1 };
    var rest = {}, any = false;
    for (var k of Object.keys(c)) if (!shown[k]) { rest[k] = c[k]; any = true; }
    if (any) f.appendChild(section(kind === "log" ? "fields" : "details", pre(rest)));
    return f;
  }

  // ---- search ---------------------------------------------------------------------------------
  var searchSeq = 0;
  function runSearch(q) {
    var seq = ++searchSeq;
    searchText = q.toLowerCase();
    if (!searchText) { searchHits = null; refresh(); status(""); return; }
    var nd = D.nodes, hits = new Uint8Array(N), lowStrings = D.strings.map(function (s) { return s.toLowerCase(); });
    for (var i = 0; i < N; i++) {
      if (lowStrings[nd.name[i]].indexOf(searchText) >= 0 || lowStrings[nd.model[i]].indexOf(searchText) >= 0 ||
          (nd.err[i] && nd.err[i].toLowerCase().indexOf(searchText) >= 0) || nd.id[i].toLowerCase() === searchText) hits[i] = 1;
    }
    searchHits = hits;
    refresh();
    if (!D.chunkStarts.length) { status(count(hits) + " matches"); return; }
    status("searching every text\u2026");
    ensureContentIndex().then(function () {
      if (seq !== searchSeq) return;
      for (var i = 0; i < N; i++) if (contentIndex[i] && contentIndex[i].indexOf(searchText) >= 0) hits[i] = 1;
      refresh();
      status(count(hits) + " matches");
    });
  }
  function count(h) { var n = 0; for (var i = 0; i < h.length; i++) n += h[i]; return n; }
  function ensureContentIndex() {
    if (contentIndex) return Promise.resolve();
    var all = [];
    for (var c = 0; c < D.chunkStarts.length; c++) all.push(loadChunk(c));
    return Promise.all(all).then(function (chunks) {
      contentIndex = new Array(N);
      chunks.forEach(function (arr, c) {
        var base = D.chunkStarts[c];
        for (var k = 0; k < arr.length; k++) if (arr[k]) contentIndex[base + k] = JSON.stringify(arr[k]).toLowerCase();
      });
    });
  }
  function status(s) { var e = document.getElementById("status"); if (e) e.textContent = s; }

  // ---- downloads ------------------------------------------------------------------------------
  function download(name, data, type) {
    var url = URL.createObjectURL(new Blob([data], { type: type }));
    var a = document.createElement("a");
    a.href = url; a.download = name; document.body.appendChild(a); a.click(); a.remove();
    setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
  }
  function allContents() {
    var all = [];
    for (var c = 0; c < D.chunkStarts.length; c++) all.push(loadChunk(c));
    return Promise.all(all).then(function (chunks) { var out = []; chunks.forEach(function (a) { out = out.concat(a); }); return out; });
  }
  function downloadJson() {
    allContents().then(function (contents) {
      var nd = D.nodes, nodes = [];
      for (var i = 0; i < N; i++) {
        nodes.push({ id: nd.id[i], parent: nd.parent[i], kind: D.kinds[nd.kind[i]], name: str(nd.name[i]),
          start_ms: nd.start[i], duration_ms: nd.dur[i], error: nd.err[i], model: str(nd.model[i]),
          provider: str(nd.provider[i]), input_tokens: nd.tin[i], output_tokens: nd.tout[i],
          cached_tokens: nd.tcache[i], reasoning_tokens: nd.treason[i], cost: nd.cost[i],
          severity: str(nd.sev[i]), content: contents[i] || null });
      }
      var out = { tool: D.tool, title: D.title, sources: D.sources, t0_ns: D.t0, traces: D.traces,
        flight: D.flight, stats: D.stats, final_answer: D.final, nodes: nodes };
      download("llmlog-run.json", JSON.stringify(out), "application/json");
    });
  }
  // Chrome's Trace Event Format, which Perfetto (ui.perfetto.dev) opens.
  function downloadPerfetto() {
    var el_ = document.getElementById("llmlog-chrome");
    if (el_) {
      inflate(el_.textContent).then(function (t) { download("llmlog-flight.chrome.json", t, "application/json"); });
      return;
    }
    var nd = D.nodes, events = [], base = D.t0 / 1000;
    for (var t = 0; t < D.traces.length; t++) {
      events.push({ ph: "M", name: "process_name", pid: t + 1, tid: 0, args: { name: "trace " + D.traces[t] } });
    }
    // Complete events on one thread must nest, and what nests reads as a child: a node goes in
    // its parent's lane when the parent is what is open there (innermost) and holds it in time,
    // else in a lane where nothing is open, else in a new one. Spans that overlap without being
    // parent and child (threads, asyncio tasks) so get lanes of their own, even when one happens
    // to fall inside the other's time.
    var lanes = {}, laneOf = new Int32Array(N).fill(-1);
    function place(pid, parent, preferred, i, s, e) {
      var L = lanes[pid] || (lanes[pid] = []), k, st;
      for (k = 0; k < L.length; k++) {
        st = L[k];
        while (st.length && st[st.length - 1][0] <= s) st.pop();
      }
      if (preferred >= 0) {
        st = L[preferred];
        var top = st[st.length - 1];
        if (top && top[1] === parent && top[0] >= e) { st.push([e, i]); return preferred; }
      }
      for (k = 0; k < L.length; k++) if (!L[k].length) { L[k].push([e, i]); return k; }
      L.push([[e, i]]);
      return L.length - 1;
    }
    for (var i = 0; i < N; i++) {
      if (nd.start[i] === null) continue;
      var kind = D.kinds[nd.kind[i]];
      if (kind === "trace") continue;
      var p = nd.parent[i], pid = nd.trace[i] + 1, preferred = p >= 0 ? laneOf[p] : -1;
      if (nd.dur[i] !== null) laneOf[i] = place(pid, p, preferred, i, nd.start[i], nd.start[i] + nd.dur[i]);
      else laneOf[i] = Math.max(preferred, 0);
      var ev = { name: str(nd.name[i]), cat: kind, pid: pid, tid: laneOf[i] + 1, ts: base + nd.start[i] * 1000,
        args: { id: nd.id[i] } };
      if (nd.dur[i] !== null) { ev.ph = "X"; ev.dur = nd.dur[i] * 1000; } else { ev.ph = "i"; ev.s = "t"; }
      if (nd.err[i]) ev.args.error = nd.err[i];
      if (kind === "llm") { ev.args.model = str(nd.model[i]); ev.args.input_tokens = nd.tin[i]; ev.args.output_tokens = nd.tout[i]; ev.args.cost = nd.cost[i]; }
      events.push(ev);
    }
    download("llmlog-run.chrome.json", JSON.stringify({ traceEvents: events, displayTimeUnit: "ms" }), "application/json");
  }

  // ---- views: stats and compare ---------------------------------------------------------------
  // ---- DSPy Evaluate runs: score, counts and a row per example, each a link to its tree ------
  function evalCounts(ev) {
    var parts = [];
    parts.push("score " + (ev.score === null || ev.score === undefined ? "?" : String(ev.score)));
    parts.push(fmtInt(ev.examples) + " examples");
    ["passed", "failed", "errors"].forEach(function (k) {
      if (ev[k] !== null && ev[k] !== undefined) parts.push(fmtInt(ev[k]) + " " + (k === "errors" && ev[k] === 1 ? "error" : k));
    });
    return parts.join(" \u00b7 ");
  }
  function evalTitle(ev) {
    return String(ev.name) + (typeof ev.metric === "string" && ev.metric ? " (" + ev.metric + ")" : "");
  }
  // What the detail pane says of an Evaluate root (score and counts) or of one example.
  var evalOf = null;
  function evalFacts(i) {
    if (!D.evals || !D.evals.length) return null;
    if (evalOf === null) {
      evalOf = {};
      D.evals.forEach(function (ev) {
        evalOf[ev.node] = { run: ev };
        ev.rows.forEach(function (r) { evalOf[r.node] = { row: r, run: ev }; });
      });
    }
    var found = evalOf[i];
    if (!found) return null;
    if (found.run && !found.row) return evalCounts(found.run);
    var r = found.row;
    var verdict = r.error ? "error" : r.passed === true ? "pass" : r.passed === false ? "fail" : "no result";
    return "example #" + r.index + ": " + verdict + (r.score === null || r.score === undefined ? "" : ", metric " + String(r.score));
  }
  function goToNode(i) {
    var hash = "#span=" + encodeURIComponent(D.nodes.id[i]);
    if (location.hash === hash) fromHash(); else location.hash = hash; // hashchange runs fromHash
  }
  function resultCell(r) {
    if (r.error) return el("td", "res err", "error");
    if (r.passed === true) return el("td", "res ok", "pass");
    if (r.passed === false) return el("td", "res err", "fail");
    return el("td", "res", "\u2013");
  }
  function excerptCell(v) { return el("td", "ex", v === null || v === undefined ? (D.noContent ? "(left out)" : "") : [text(v, false)]); }
  function evalView() {
    var box = el("div");
    D.evals.forEach(function (ev, n) {
      var card = el("div", "card evalrun");
      card.id = "eval-" + n;
      var h = el("h2", null, [text(evalTitle(ev), false)]);
      card.appendChild(h);
      card.appendChild(el("p", "evalcounts", evalCounts(ev)));
      var t = el("table", "grid evaltable");
      var head = el("tr");
      ["example", "result", "metric", "inputs", "prediction", "expected", "feedback / error"].forEach(function (c, k) {
        head.appendChild(el("th", k === 2 ? "n" : null, c));
      });
      t.appendChild(head);
      ev.rows.forEach(function (r) {
        var tr = el("tr", "evalrow" + (r.error || r.passed === false ? " err" : ""));
        tr.dataset.node = r.node;
        var link = el("a", null, "#" + String(r.index));
        link.href = "#span=" + encodeURIComponent(D.nodes.id[r.node]);
        tr.appendChild(el("td", null, [link]));
        tr.appendChild(resultCell(r));
        tr.appendChild(el("td", "n", r.score === null || r.score === undefined ? "" : String(r.score)));
        tr.appendChild(excerptCell(r.input));
        tr.appendChild(excerptCell(r.prediction));
        tr.appendChild(excerptCell(r.expected));
        tr.appendChild(r.error ? el("td", "ex err", [text(r.error, false)]) : excerptCell(r.feedback));
        tr.addEventListener("click", function (e) { e.preventDefault(); goToNode(r.node); });
        t.appendChild(tr);
      });
      card.appendChild(t);
      if (!ev.rows.length) card.appendChild(el("p", "muted", "No example spans (a program that is not a dspy.Module): the counts only."));
      box.appendChild(card);
    });
    return box;
  }
  function statsView() {
    var box = el("div");
    box.appendChild(el("h2", null, "LLM calls by model"));
    var t = el("table", "grid"), head = el("tr");
    ["model", "calls", "input", "output", "cached", "reasoning", "cost", "unknown cost", "errors", "p50", "p95"].forEach(function (h, k) {
      head.appendChild(el("th", k ? "n" : null, h));
    });
    t.appendChild(head);
    D.stats.forEach(function (s) {
      var tr = el("tr");
      [s.model === "*" ? "all models" : s.model, fmtInt(s.calls), fmtInt(s.input_tokens), fmtInt(s.output_tokens),
        fmtInt(s.cached_tokens), fmtInt(s.reasoning_tokens), s.cost === null ? "unknown" : fmtCost(s.cost),
        fmtInt(s.unknown_cost), fmtInt(s.errors), fmtMs(s.p50_ms), fmtMs(s.p95_ms)].forEach(function (v, k) {
        tr.appendChild(el("td", k ? "n" : null, v));
      });
      t.appendChild(tr);
    });
    box.appendChild(t);
    box.appendChild(el("h2", null, "Inputs"));
    var ul = el("ul");
    D.formats.forEach(function (f) { ul.appendChild(el("li", null, f)); });
    box.appendChild(ul);
    if (D.problemCount) {
      box.appendChild(el("h2", null, D.problemCount + " lines skipped"));
      var pl = el("ul");
      D.problems.forEach(function (p) { pl.appendChild(el("li", null, p)); });
      box.appendChild(pl);
    }
    if (Object.keys(D.sessions || {}).length) { box.appendChild(el("h2", null, "Sessions")); box.appendChild(pre(D.sessions)); }
    return box;
  }
  function diffLines(lines) {
    var box = el("div");
    lines.forEach(function (l) {
      var op = l[0], cls = op === "+" ? "add" : op === "-" ? "del" : op === "\u2026" ? "gap" : "";
      box.appendChild(el("div", "diffline " + cls, [text(op + " " + l[1], true)]));
    });
    return box;
  }
  function delta(a, b, f) {
    if (a === null || a === undefined || b === null || b === undefined) return f(a) + " \u2192 " + f(b);
    var d = b - a;
    return f(a) + " \u2192 " + f(b) + " (" + (d >= 0 ? "+" : "\u2212") + f(Math.abs(d)) + ")";
  }
  function compareView() {
    var C = D.compare, box = el("div");
    box.appendChild(el("h2", null, ["A: ", C.a]));
    box.appendChild(el("h2", null, ["B: ", C.b]));
    var ta = C.totals.a, tb = C.totals.b;
    box.appendChild(facts([
      ["LLM calls", delta(ta.calls, tb.calls, fmtInt)],
      ["tokens", delta(ta.tokens, tb.tokens, fmtInt)],
      ["cost", delta(ta.cost, tb.cost, fmtCost)],
      ["calls of unknown cost", ta.unknown_cost + " \u2192 " + tb.unknown_cost],
      ["duration", delta(ta.duration_ms, tb.duration_ms, fmtMs)],
      ["errors", delta(ta.errors, tb.errors, fmtInt)],
      ["matched", C.matched + " spans and calls; " + C.nodes.length + " differ" + (C.more ? " (" + C.more + " more not shown)" : "")],
    ]));
    C.nodes.forEach(function (n) {
      var card = el("div", "card diff-" + n.status);
      card.appendChild(el("div", null, [el("span", "st " + n.status, n.status), " ", el("span", "kind " + n.kind, n.kind), " ",
        text(n.path.slice(1).join(" / ") || n.path.join(" / "), false)]));
      if (n.a && n.b) {
        card.appendChild(facts([
          ["model", n.model[0] !== n.model[1] ? (n.model[0] || "?") + " \u2192 " + (n.model[1] || "?") : null],
          ["tokens", n.a.tokens || n.b.tokens ? delta(n.a.tokens, n.b.tokens, fmtInt) : null],
          ["cost", n.a.cost !== n.b.cost ? delta(n.a.cost, n.b.cost, fmtCost) : null],
          ["latency", delta(n.a.duration_ms, n.b.duration_ms, fmtMs)],
          ["error", n.a.error !== n.b.error ? (n.a.error || "none") + " \u2192 " + (n.b.error || "none") : null],
          ["result", n.a.result !== n.b.result ? (n.a.result || "none") + " \u2192 " + (n.b.result || "none") : null],
        ]));
      }
      if (n.prompt.length) card.appendChild(section("prompt", diffLines(n.prompt)));
      if (n.output.length) card.appendChild(section("output", diffLines(n.output)));
      box.appendChild(card);
    });
    return box;
  }

  // ---- page -----------------------------------------------------------------------------------
  // One failure, counted and listed once: an error event marks the span it happened in as failed
  // too, and that span already stands for it.
  function failure(i) {
    var nd = D.nodes, p = nd.parent[i];
    return !!nd.err[i] && !(D.kinds[nd.kind[i]] === "error" && p >= 0 && nd.err[p]);
  }
  function totals() {
    var all = D.stats[D.stats.length - 1], nd = D.nodes, errors = 0, spans = 0;
    for (var i = 0; i < N; i++) {
      if (failure(i)) errors++;
      var k = D.kinds[nd.kind[i]];
      if (k === "span" || k === "iteration" || k === "code") spans++;
    }
    var chips = el("div", "chips");
    chips.appendChild(el("span", "chip", fmtInt(spans) + " spans"));
    chips.appendChild(el("span", "chip", fmtInt(all.calls) + " LLM calls"));
    chips.appendChild(el("span", "chip", fmtInt(all.input_tokens + all.output_tokens) + " tokens (" +
      fmtInt(all.input_tokens) + " in, " + fmtInt(all.output_tokens) + " out)"));
    chips.appendChild(el("span", "chip", "cost " + (all.cost === null ? "unknown" : fmtCost(all.cost)) +
      (all.cost !== null && all.unknown_cost ? " + " + all.unknown_cost + " calls unknown" : "")));
    var e = el("span", "chip" + (errors ? " err" : ""), fmtInt(errors) + (errors === 1 ? " error" : " errors"));
    e.id = "errors-chip";
    chips.appendChild(e);
    return chips;
  }
  function option(value, label) { var o = el("option", null, label); o.value = value; return o; }
  function layout() {
    var app = document.getElementById("app");
    app.textContent = "";
    var header = el("header");
    header.appendChild(el("h1", null, D.title));
    header.appendChild(totals());
    header.appendChild(el("span", "muted", D.tool));
    app.appendChild(header);
    D.flight.forEach(function (f) {
      var b = el("div", "banner trigger");
      b.id = "trigger";
      b.appendChild(el("b", null, "Flight snapshot trigger: "));
      b.appendChild(text(String(f.reason === undefined ? "?" : f.reason), false));
      if (f.created_ns) b.appendChild(el("span", "muted", " \u00b7 taken " + new Date(f.created_ns / 1e6).toISOString()));
      if (f.pid !== undefined) b.appendChild(el("span", "muted", " \u00b7 pid " + f.pid));
      app.appendChild(b);
    });
    if (D.hasFinal) {
      var fa = el("div", "banner final");
      fa.id = "final-answer";
      fa.appendChild(el("b", null, "Final answer: "));
      fa.appendChild(D.final === null ? text("(content left out)") : text(json(D.final), true));
      app.appendChild(fa);
    }
    if (D.cut) {
      app.appendChild(el("div", "banner cut", "To stay under --max-size (" + fmtInt(D.cut.maxSize) + " bytes), " +
        fmtInt(D.cut.contents) + " contents (" + fmtInt(D.cut.bytes) + " bytes of JSON, the largest first) were left out; each says so where it was."));
    }
    (D.evals || []).forEach(function (ev, n) {
      var b = el("div", "banner evalbanner");
      b.id = "eval-banner-" + n;
      b.style.cursor = "pointer";
      b.appendChild(el("b", null, [text(evalTitle(ev), false), ": "]));
      b.appendChild(text(evalCounts(ev), false));
      b.appendChild(el("span", "muted", " \u00b7 the table: Evaluation tab"));
      b.addEventListener("click", function () { showTab("eval"); });
      app.appendChild(b);
    });
    if (D.noContent) app.appendChild(el("div", "banner cut", "Written with --no-content: prompts, responses, inputs, outputs and code were left out; tokens, cost, latency and errors are kept."));

    var bar = el("div", "toolbar");
    var tabs = [["tree", "Tree"], ["stats", "Models & stats"]];
    if (D.evals && D.evals.length) tabs.push(["eval", "Evaluation"]);
    if (D.compare) tabs.push(["compare", "Compare"]);
    tabs.forEach(function (t) {
      var b = el("button", "tab" + (t[0] === "tree" ? " on" : ""), t[1]);
      b.dataset.tab = t[0]; b.id = "tab-" + t[0];
      bar.appendChild(b);
    });
    var search = el("input");
    search.type = "search"; search.id = "search"; search.placeholder = "search every text (prompts, outputs, names, errors)";
    bar.appendChild(search);
    var errs = el("label", null, [el("input"), " errors only"]);
    errs.firstChild.type = "checkbox"; errs.firstChild.id = "errors-only";
    bar.appendChild(errs);
    var models = el("select"); models.id = "model";
    models.appendChild(option("", "all models"));
    D.stats.forEach(function (s) { if (s.model !== "*") models.appendChild(option(s.model, s.model)); });
    bar.appendChild(models);
    var kinds = el("select"); kinds.id = "kind";
    kinds.appendChild(option("", "all kinds"));
    var present = {};
    for (var i = 0; i < N; i++) present[D.nodes.kind[i]] = 1;
    D.kinds.forEach(function (k, n) { if (present[n]) kinds.appendChild(option(k, k)); });
    bar.appendChild(kinds);
    var grouping = el("select"); grouping.id = "group";
    [["trace", "tree by trace"], ["model", "group by model"], ["session", "group by session"], ["example", "group by Evaluate example"]].forEach(function (g) {
      grouping.appendChild(option(g[0], g[1]));
    });
    bar.appendChild(grouping);
    [["expand", "Expand all"], ["collapse", "Collapse"], ["dl-json", "Download JSON"], ["dl-perfetto", "Open in Perfetto (download)"]].forEach(function (b) {
      var x = el("button", null, b[1]); x.id = b[0]; bar.appendChild(x);
    });
    bar.appendChild(el("span", "muted", [el("span", null, "")])).id = "count";
    var st = el("span", "muted"); st.id = "status"; bar.appendChild(st);
    app.appendChild(bar);

    var main = el("main");
    main.id = "view-tree";
    treeEl = el("div"); treeEl.id = "tree"; treeEl.tabIndex = 0; treeEl.setAttribute("role", "tree");
    spacer = el("div"); spacer.id = "spacer";
    treeEl.appendChild(spacer);
    detailEl = el("div"); detailEl.id = "detail";
    overview();
    main.appendChild(treeEl); main.appendChild(detailEl);
    app.appendChild(main);
    var statsEl = el("div", "hidden"); statsEl.id = "view-stats"; app.appendChild(statsEl);
    var cmpEl = el("div", "hidden"); cmpEl.id = "view-compare"; app.appendChild(cmpEl);
    var evalEl = el("div", "hidden"); evalEl.id = "view-eval"; app.appendChild(evalEl);

    treeEl.addEventListener("scroll", function () { requestAnimationFrame(renderRows); });
    window.addEventListener("resize", function () { renderRows(); });
    spacer.addEventListener("click", function (ev) {
      var t = ev.target, row = t.closest ? t.closest(".row") : null;
      if (!row || row.dataset.i === undefined) return;
      var i = +row.dataset.i;
      if (t.dataset && t.dataset.toggle !== undefined && !filtering()) { expanded[i] = expanded[i] ? 0 : 1; refresh(true); return; }
      select(i);
    });
    spacer.addEventListener("dblclick", function (ev) {
      var row = ev.target.closest ? ev.target.closest(".row") : null;
      if (row && !filtering()) { var i = +row.dataset.i; expanded[i] = expanded[i] ? 0 : 1; refresh(true); }
    });
    treeEl.addEventListener("keydown", function (ev) {
      var r = rows.indexOf(selected);
      if (ev.key === "ArrowDown" && r < rows.length - 1) { select(rows[r + 1]); scrollToNode(selected); ev.preventDefault(); }
      else if (ev.key === "ArrowUp" && r > 0) { select(rows[r - 1]); scrollToNode(selected); ev.preventDefault(); }
      else if ((ev.key === "ArrowRight" || ev.key === "ArrowLeft") && selected >= 0) { expanded[selected] = ev.key === "ArrowRight" ? 1 : 0; refresh(true); }
    });
    var timer = null;
    search.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(function () { runSearch(search.value.trim()); }, 200); });
    errs.firstChild.addEventListener("change", function (ev) { filters.errors = ev.target.checked; refresh(); });
    models.addEventListener("change", function () { filters.model = models.value; refresh(); });
    kinds.addEventListener("change", function () { filters.kind = kinds.value; refresh(); });
    grouping.addEventListener("change", function () { groupBy = grouping.value; refresh(); });
    document.getElementById("expand").addEventListener("click", function () { expanded.fill(1); refresh(true); });
    document.getElementById("collapse").addEventListener("click", function () {
      expanded.fill(0); for (var i = 0; i < N; i++) if (D.nodes.parent[i] < 0) expanded[i] = 1; refresh(); });
    document.getElementById("dl-json").addEventListener("click", downloadJson);
    document.getElementById("dl-perfetto").addEventListener("click", downloadPerfetto);
    bar.addEventListener("click", function (ev) {
      var tab = ev.target.dataset ? ev.target.dataset.tab : null;
      if (!tab) return;
      showTab(tab);
    });
    document.getElementById("errors-chip").addEventListener("click", function () { errs.firstChild.checked = true; filters.errors = true; refresh(); });
  }
  // The first view: the errors, first, each a link to its row.
  function overview() {
    detailEl.textContent = "";
    var errs = [];
    for (var i = 0; i < N && errs.length < 50; i++) if (failure(i)) errs.push(i);
    if (errs.length) {
      var box = el("div");
      box.id = "error-list";
      box.appendChild(el("h2", null, "Errors"));
      errs.forEach(function (i) {
        var a = el("div", "card errlink");
        a.dataset.i = i;
        a.style.cursor = "pointer";
        a.appendChild(el("b", null, [text(str(D.nodes.name[i]), false)]));
        a.appendChild(el("div", "muted", [text(D.nodes.err[i], false)]));
        a.addEventListener("click", function () { openAncestors(i); computeRows(); select(i); scrollToNode(i); });
        box.appendChild(a);
      });
      detailEl.appendChild(box);
    }
    detailEl.appendChild(el("p", "muted", "Select a row to see its prompt, response, tokens and cost. Links: #span=ID."));
  }
  function showTab(tab) {
    ["tree", "stats", "compare", "eval"].forEach(function (t) {
      var v = document.getElementById("view-" + t), b = document.getElementById("tab-" + t);
      if (v) v.classList.toggle("hidden", t !== tab);
      if (b) b.classList.toggle("on", t === tab);
    });
    if (tab === "stats") { var s = document.getElementById("view-stats"); s.textContent = ""; s.appendChild(statsView()); }
    if (tab === "eval") { var v = document.getElementById("view-eval"); if (!v.firstChild) v.appendChild(evalView()); }
    if (tab === "compare") { var c = document.getElementById("view-compare"); if (!c.firstChild) c.appendChild(compareView()); }
    if (tab === "tree") renderRows();
  }
  function fromHash() {
    var m = /^#span=(.*)$/.exec(location.hash || "");
    if (!m) return;
    var id;
    try { id = decodeURIComponent(m[1]); } catch (e) { return; }
    var i = D.nodes.id.indexOf(id);
    if (i < 0) { status("no span " + id + " in this report"); return; }
    showTab("tree");
    openAncestors(i);
    computeRows();
    select(i, true);
    scrollToNode(i);
  }

  function start() {
    var src = document.getElementById("llmlog-skeleton");
    if (typeof DecompressionStream !== "function") {
      document.getElementById("loading").textContent = "This browser cannot decompress the report (DecompressionStream): use Chromium, Firefox 113+ or Safari 16.4+.";
      return;
    }
    inflate(src.textContent).then(function (t) {
      D = JSON.parse(t);
      build();
      layout();
      computeRows();
      renderRows();
      window.addEventListener("hashchange", fromHash);
      fromHash();
      document.body.dataset.ready = "1";
      window.llmlogReady = performance.now();
    }).catch(function (e) {
      var l = document.getElementById("loading");
      if (l) l.textContent = "Cannot read this report: " + e;
      throw e;
    });
  }
  start();
})();
