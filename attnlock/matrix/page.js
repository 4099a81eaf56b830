"use strict";
// attnlock matrix page: draws the table of the chosen view from the JSON in #data and filters it.
// No framework: the state is five filters, kept in location.hash so a view can be linked.
(function () {
  var D = JSON.parse(document.getElementById("data").textContent);
  var S = D.strings;
  var state = {platform: D["default"][0], python: D["default"][1], gpu: "", cuda: "", torch: "", range: ""};
  var HOW = {exact: "exact", window: "ABI window", measured: "measured window", declared: "declared by Requires-Dist",
             unknown: "unknown", none: "nothing pairs"};

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs) { e.setAttribute(k, attrs[k]); }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }
  function view() {
    return D.views.filter(function (v) { return v.platform === state.platform && v.python === state.python; })[0]
      || D.views[0];
  }
  function minor(v) { return v.split(".").slice(0, 2).join("."); }
  function cmp(a, b) {
    var x = a.split(".").map(Number), y = b.split(".").map(Number);
    for (var i = 0; i < Math.max(x.length, y.length); i++) {
      var d = (x[i] || 0) - (y[i] || 0);
      if (d) { return d < 0 ? -1 : 1; }
    }
    return 0;
  }
  // A torch range as PEP 440 writes the simple cases: ">=2.4,<2.7", "==2.6.*", "2.6".
  function inRange(v, text) {
    return text.split(",").every(function (part) {
      var m = /^\s*(>=|<=|==|!=|>|<|~=)?\s*([0-9.]+)(\.\*)?\s*$/.exec(part);
      if (!part.trim()) { return true; }
      if (!m) { return true; }
      var op = m[1] || "==", w = m[2];
      // "2.6" and "==2.6.*" match by prefix; the other operators compare whole versions.
      var prefix = m[3] || !m[1];
      var c = prefix ? cmp(v.split(".").slice(0, w.split(".").length).join("."), w) : cmp(v, w);
      return {">=": c >= 0, "<=": c <= 0, "==": c === 0, "!=": c !== 0, ">": c > 0, "<": c < 0, "~=": cmp(v, w) >= 0}[op];
    });
  }
  function gpuIndex() {
    for (var i = 0; i < D.gpus.length; i++) { if (D.gpus[i][0] === state.gpu) { return i; } }
    return -1;
  }
  function command(row, pkg) {
    var argv = ["attnlock", "generate", "--torch", row[0]];
    if (row[1]) { argv.push("--cuda", row[1]); }
    argv.push("--platform", state.platform, "--python", state.python, "--gpu", state.gpu || "any",
              "--driver", "any", "--with", "torch," + pkg);
    return argv.join(" ");
  }
  function chips(id, values, key, labels) {
    var box = document.getElementById(id);
    Array.prototype.slice.call(box.querySelectorAll("button")).forEach(function (b) { b.remove(); });
    values.forEach(function (value, i) {
      var b = el("button", {type: "button", "data-filter": key, "data-value": value,
                            "aria-pressed": String(state[key] === value)}, labels ? labels[i] : (value || "all"));
      b.addEventListener("click", function () {
        state[key] = value;
        if (key === "torch") { state.range = ""; document.getElementById("torch-range").value = ""; }
        draw();
      });
      box.insertBefore(b, key === "torch" ? document.getElementById("torch-range") : null);
    });
  }
  function drawFilters(v) {
    var plats = [], pys = [];
    D.views.forEach(function (x) {
      if (plats.indexOf(x.platform) < 0) { plats.push(x.platform); }
      if (pys.indexOf(x.python) < 0) { pys.push(x.python); }
    });
    chips("f-platform", plats, "platform");
    chips("f-python", pys, "python");
    chips("f-gpu", [""].concat(D.gpus.map(function (g) { return g[0]; })), "gpu",
          ["any"].concat(D.gpus.map(function (g) { return g[0] + " (sm_" + g[1].replace(".", "") + ")"; })));
    var cudas = [""], minors = [""];
    v.rows.forEach(function (r) {
      if (r[1] && cudas.indexOf(r[1]) < 0) { cudas.push(r[1]); }
      if (minors.indexOf(minor(r[0])) < 0) { minors.push(minor(r[0])); }
    });
    cudas = [""].concat(cudas.slice(1).sort());
    chips("f-cuda", cudas, "cuda");
    chips("f-torch", minors, "torch");
  }
  function cellNode(row, cellId, pkg, rowGpu) {
    var c = D.cells[cellId];
    // [newest, build, oldest, releases, how, source, why, known_bad[], possible[], gpu, missing]
    var td = el("td", {"class": "k-" + c[4] + (c[9] !== null || rowGpu !== null ? " k-gpu" : ""), "data-package": pkg});
    var cmd = command(row, pkg);
    var a = el("a", {href: "#", title: cmd, "data-command": cmd}, c[0] === null ? "–" : c[0]);
    a.addEventListener("click", function (ev) { ev.preventDefault(); detail(row, c, pkg, cmd, rowGpu); });
    td.appendChild(a);
    if (c[7].length) { td.appendChild(el("span", {"class": "bad", title: c[7].map(function (i) { return S[i]; }).join("\n")}, "!")); }
    if (c[2] !== null && c[2] !== c[0]) { td.appendChild(el("small", {}, c[2] + " – " + c[0])); }
    return td;
  }
  function detail(row, c, pkg, cmd, rowGpu) {
    var box = document.getElementById("detail");
    box.textContent = "";
    box.appendChild(el("h2", {}, pkg + " with " + row[2]));
    box.appendChild(el("p", {}, "The plan of this cell:"));
    var code = el("code", {id: "command"}, cmd);
    box.appendChild(code);
    var copy = el("button", {type: "button", id: "copy"}, "copy");
    copy.addEventListener("click", function () {
      if (navigator.clipboard) { navigator.clipboard.writeText(cmd).catch(function () {}); }
      var r = document.createRange(); r.selectNodeContents(code);
      var sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(r);
    });
    box.appendChild(copy);
    var close = el("button", {type: "button", id: "close", "aria-label": "close"}, "close");
    close.addEventListener("click", function () { box.hidden = true; });
    box.appendChild(close);
    var dl = el("dl");
    function item(k, v, link) {
      if (v === null || v === undefined || v === "") { return; }
      dl.appendChild(el("dt", {}, k));
      var dd = el("dd");
      if (link && /^https?:/.test(v)) { dd.appendChild(el("a", {href: v, "class": "source"}, v)); } else { dd.textContent = v; }
      dl.appendChild(dd);
    }
    item("newest", c[1] || "none");
    item("releases that work", c[0] === null ? "" : (c[2] === c[0] ? c[0] : c[2] + " – " + c[0]) + " (" + c[3] + ")");
    item("how it is known", HOW[c[4]]);
    item("source", c[5] === null ? null : S[c[5]], true);
    item("why", c[6] === null ? null : S[c[6]]);
    c[7].forEach(function (i) { item("known bad", S[i]); });
    c[8].forEach(function (i) { item("may be known bad", S[i]); });
    item("GPU", rowGpu !== null ? rowGpu : (c[9] === null ? null : S[c[9]]));
    item("why none", c[10] === null ? null : S[c[10]]);
    box.appendChild(dl);
    box.hidden = false;
  }
  function draw() {
    var v = view(), gi = gpuIndex();
    drawFilters(v);
    var head = document.getElementById("head");
    head.textContent = "";
    head.appendChild(el("th", {scope: "col"}, "torch build"));
    D.packages.forEach(function (p) { head.appendChild(el("th", {scope: "col"}, p)); });
    var body = document.getElementById("rows");
    body.textContent = "";
    var shown = 0;
    v.rows.forEach(function (r) {
      if (state.cuda && r[1] !== state.cuda) { return; }
      if (state.torch && minor(r[0]) !== state.torch) { return; }
      if (state.range && !inRange(r[0], state.range)) { return; }
      var over = gi >= 0 && r[4] ? r[4][String(gi)] : null;
      var ids = r[3].slice(), rowGpu = over && over[0] !== null ? S[over[0]] : null;
      if (over) { over[1].forEach(function (kv) { ids[kv[0]] = kv[1]; }); }
      var tr = el("tr", {"data-torch": r[0], "data-cuda": r[1] || ""});
      var th = el("th", {scope: "row", "class": rowGpu !== null ? "k-gpu" : ""}, r[2].replace(/^torch /, ""));
      if (rowGpu !== null) { th.title = rowGpu; }
      tr.appendChild(th);
      ids.forEach(function (id, i) { tr.appendChild(cellNode(r, id, D.packages[i], rowGpu)); });
      body.appendChild(tr);
      shown++;
    });
    document.getElementById("status").textContent = shown + (shown === 1 ? " torch build · " : " torch builds · ") + state.platform + " · Python " +
      state.python + " · GPU " + (state.gpu || "any") + (v.checked ? " · facts checked " + v.checked : "");
    var h = ["platform", "python", "gpu", "cuda", "torch", "range"].filter(function (k) { return state[k]; })
      .map(function (k) { return k + "=" + encodeURIComponent(state[k]); }).join("&");
    if (history.replaceState) { history.replaceState(null, "", h ? "#" + h : location.pathname); }
  }
  (location.hash || "").replace(/^#/, "").split("&").forEach(function (kv) {
    var p = kv.split("=");
    if (p.length === 2 && p[0] in state) { state[p[0]] = decodeURIComponent(p[1]); }
  });
  document.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape") { document.getElementById("detail").hidden = true; }
  });
  var input = document.getElementById("torch-range");
  input.value = state.range;
  input.addEventListener("input", function () { state.range = input.value; state.torch = ""; draw(); });
  draw();
})();
