// The segment editor: field names offered as you type, "Use <suggestion>" in the preview's
// error, and the visual builder (Text <-> Builder through POST /api/v1/segments/text).
(function () {
  "use strict";

  var textarea = document.getElementById("expression");
  if (!textarea) return;
  var catalog = JSON.parse(textarea.dataset.catalog || '{"fields": [], "segments": []}');
  var fieldsByName = {};
  catalog.fields.forEach(function (field) { fieldsByName[field.name] = field; });
  var fieldNames = catalog.fields.map(function (field) { return field.name; });

  function changed() {
    // htmx counts again on this event (see the preview's hx-trigger)
    textarea.dispatchEvent(new Event("segment-changed"));
  }

  // -- field names as you type ------------------------------------------------------------------

  var list = document.getElementById("field-suggestions");
  var offered = [];  // {label, insert, from}
  var active = -1;
  var dismissed = false;

  function insideText(before) {
    var quotes = 0;
    for (var i = 0; i < before.length; i++) {
      if (before[i] === "\\") { i++; continue; }
      if (before[i] === '"') quotes++;
    }
    return quotes % 2 === 1;
  }

  function matching(names, prefix) {
    var lower = prefix.toLowerCase();
    var starts = names.filter(function (n) { return n.toLowerCase().indexOf(lower) === 0; });
    var inside = names.filter(function (n) {
      return n.toLowerCase().indexOf(lower) > 0;
    });
    return starts.concat(inside).slice(0, 8);
  }

  function candidates() {
    if (textarea.readOnly || textarea.selectionStart !== textarea.selectionEnd) return [];
    var before = textarea.value.slice(0, textarea.selectionStart);
    var segment = /in\s+segment\s+"([^"\\]*)$/i.exec(before);
    if (segment) {
      return matching(catalog.segments, segment[1]).map(function (name) {
        return { label: name, insert: name.replace(/\\/g, "\\\\").replace(/"/g, '\\"') + '"', from: segment[1].length };
      });
    }
    if (insideText(before)) return [];
    var word = /[A-Za-z_][\w.]*$/.exec(before);
    if (!word) return [];
    var found = matching(fieldNames, word[0]);
    if (found.length === 1 && found[0] === word[0]) return [];
    return found.map(function (name) { return { label: name, insert: name, from: word[0].length }; });
  }

  function close() {
    offered = [];
    active = -1;
    list.hidden = true;
    list.replaceChildren();
    textarea.setAttribute("aria-expanded", "false");
    textarea.removeAttribute("aria-activedescendant");
  }

  function highlight(index) {
    active = index;
    Array.prototype.forEach.call(list.children, function (item, i) {
      item.classList.toggle("active", i === index);
      item.setAttribute("aria-selected", i === index ? "true" : "false");
      if (i === index) item.scrollIntoView({ block: "nearest" });
    });
    if (index >= 0) textarea.setAttribute("aria-activedescendant", "field-suggestion-" + index);
  }

  function open() {
    if (dismissed) return;
    offered = candidates();
    if (!offered.length) { close(); return; }
    list.replaceChildren();
    offered.forEach(function (option, i) {
      var item = document.createElement("li");
      item.className = "list-group-item list-group-item-action";
      item.id = "field-suggestion-" + i;
      item.setAttribute("role", "option");
      item.dataset.index = String(i);
      item.textContent = option.label;
      list.appendChild(item);
    });
    list.hidden = false;
    textarea.setAttribute("aria-expanded", "true");
    highlight(0);
  }

  function accept(index) {
    var option = offered[index];
    if (!option) return;
    var caret = textarea.selectionStart;
    var value = textarea.value;
    var insert = option.insert;
    if (!/["\s]$/.test(insert) && !/^\s/.test(value.slice(caret))) insert += " ";
    textarea.value = value.slice(0, caret - option.from) + insert + value.slice(caret);
    var end = caret - option.from + insert.length;
    textarea.setSelectionRange(end, end);
    close();
    textarea.focus();
    textarea.dispatchEvent(new Event("input", { bubbles: true }));
  }

  textarea.addEventListener("input", function () { dismissed = false; open(); });
  textarea.addEventListener("click", open);
  // close a moment after the focus leaves, unless it came back meanwhile (a click on a
  // button beside the text, then typing at once, must keep the new suggestions open)
  textarea.addEventListener("blur", function () {
    window.setTimeout(function () { if (document.activeElement !== textarea) close(); }, 150);
  });
  textarea.addEventListener("keydown", function (event) {
    if (list.hidden) return;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      var step = event.key === "ArrowDown" ? 1 : -1;
      highlight((active + step + offered.length) % offered.length);
    } else if ((event.key === "Enter" || event.key === "Tab") && active >= 0) {
      event.preventDefault();
      accept(active);
    } else if (event.key === "Escape") {
      event.preventDefault();
      dismissed = true;
      close();
    }
  });
  textarea.addEventListener("keyup", function (event) {
    if (event.key === "ArrowLeft" || event.key === "ArrowRight" || event.key === "Home" || event.key === "End") open();
  });
  list.addEventListener("mousedown", function (event) {
    var item = event.target instanceof Element ? event.target.closest("[data-index]") : null;
    if (!item) return;
    event.preventDefault();  // keep the focus in the text
    accept(Number(item.dataset.index));
  });

  // -- "Use <suggestion>" in an error ---------------------------------------------------------

  document.addEventListener("click", function (event) {
    var button = event.target instanceof Element ? event.target.closest("[data-use-suggestion]") : null;
    if (!button || textarea.readOnly) return;
    var lines = textarea.value.split("\n");
    var line = Number(button.dataset.line), column = Number(button.dataset.column);
    var offset = column - 1;
    for (var i = 0; i < line - 1 && i < lines.length; i++) offset += lines[i].length + 1;
    var rest = textarea.value.slice(offset);
    var word = /^[\w.]*/.exec(rest)[0];
    textarea.value = textarea.value.slice(0, offset) + button.dataset.useSuggestion + rest.slice(word.length);
    textarea.focus();
    var end = offset + button.dataset.useSuggestion.length;
    textarea.setSelectionRange(end, end);
    changed();
  });

  // -- the visual builder -------------------------------------------------------------------------

  var host = document.getElementById("segment-builder");
  var status = document.getElementById("builder-status");
  var builderTab = document.getElementById("tab-builder");
  if (!host || !builderTab) return;
  var csrf = JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRF-Token"];
  var root = null;
  var sequence = 0;
  var timer = null;
  var inflight = null;  // the builder's last change, on its way into the text

  var OPS = {
    text: ["=", "!=", "contains", "starts_with"],
    choice: ["=", "!="],
    number: ["=", "!=", ">", ">=", "<", "<="],
    date: ["=", "!=", "<", "<=", ">", ">="],
    datetime: ["=", "!=", "<", "<=", ">", ">="],
    boolean: ["=", "!="],
    multiselect: ["contains", "=", "!="]
  };
  var OP_LABELS = {
    "=": "=", "!=": "≠", "<": "<", "<=": "≤", ">": ">", ">=": "≥",
    contains: "contains", starts_with: "starts with", is_set: "is set", is_not_set: "is not set"
  };
  var DATE_LABELS = { "=": "on", "<": "before", ">": "after" };

  function kindOf(field) { return fieldsByName[field] ? fieldsByName[field].kind : "text"; }

  function shown(value) {
    if (value === null || value === undefined) return "";
    if (typeof value === "boolean") return value ? "true" : "false";
    if (typeof value === "object") return value.number !== undefined ? String(value.number) : String(value.date);
    return String(value);
  }

  function typed(node) {
    if (node.original !== undefined && node.value === shown(node.original)) return node.original;
    var raw = node.value.trim();
    var kind = kindOf(node.field);
    if (kind === "number" && raw !== "") return { number: raw };
    if ((kind === "date" || kind === "datetime") && /^\d{4}-\d{2}-\d{2}$/.test(raw)) return { date: raw };
    if (kind === "boolean" && (raw === "true" || raw === "false")) return raw === "true";
    return node.value;
  }

  function fromTree(data) {
    if (data.type === "and" || data.type === "or") {
      return { t: "group", op: data.type, not: false, items: data.items.map(fromTree) };
    }
    if (data.type === "not") {
      var inner = fromTree(data.item);
      if (inner.not) return { t: "group", op: "and", not: true, items: [inner] };
      inner.not = true;
      return inner;
    }
    if (data.type === "compare") {
      return { t: "cmp", not: false, field: data.field, op: data.op, value: shown(data.value), original: data.value };
    }
    if (data.type === "is_set") {
      return { t: "cmp", not: false, field: data.field, op: data.negated ? "is_not_set" : "is_set", value: "" };
    }
    return { t: "raw", not: false, json: data, text: data.text || "", edited: false };
  }

  function toTree(node) {
    var data;
    if (node.t === "group") {
      var items = node.items.map(toTree).filter(function (item) { return item !== null; });
      if (!items.length) return null;
      data = { type: node.op, items: items };
    } else if (node.t === "cmp") {
      data = node.op === "is_set" || node.op === "is_not_set"
        ? { type: "is_set", field: node.field, negated: node.op === "is_not_set" }
        : { type: "compare", field: node.field, op: node.op, value: typed(node) };
    } else {
      data = node.edited ? { type: "text", text: node.text } : node.json;
    }
    return node.not ? { type: "not", item: data } : data;
  }

  function newCondition() {
    return { t: "cmp", not: false, field: "orders_count", op: ">=", value: "1" };
  }

  function say(message, isError) {
    status.textContent = message;
    status.classList.toggle("text-danger", Boolean(isError));
  }

  function convert(tree) {
    return fetch("/api/v1/segments/text", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({ ast: tree })
    }).then(function (response) {
      if (!response.ok) throw new Error("The server answered " + response.status + ".");
      return response.json();
    });
  }

  function problemText(answer) {
    var error = answer.errors[0];
    return error.message + (error.suggestion ? " Did you mean " + error.suggestion + "?" : "");
  }

  // builder -> text: the server writes the canonical text, the preview counts it
  function sync() {
    window.clearTimeout(timer);
    timer = null;
    if (root === null) return Promise.resolve();
    var tree = toTree(root);
    var mine = ++sequence;
    if (tree === null) {
      textarea.value = "";
      say("Add a condition.", false);
      changed();
      return Promise.resolve();
    }
    inflight = convert(tree).then(function (answer) {
      if (mine !== sequence) return;
      if (!answer.valid) { say(problemText(answer), true); return; }
      say("", false);
      if (textarea.value !== answer.text) {
        textarea.value = answer.text;
        changed();
      }
    }).catch(function (error) { say(error.message, true); }).then(function () {
      if (mine === sequence) inflight = null;
    });
    return inflight;
  }

  function syncSoon() {
    window.clearTimeout(timer);
    timer = window.setTimeout(sync, 400);
  }

  // text -> builder
  function load() {
    var text = textarea.value;
    var mine = ++sequence;
    if (!text.trim()) {
      root = { t: "group", op: "and", not: false, items: [] };
      draw();
      say("", false);
      return;
    }
    say("Reading the expression…", false);
    convert({ type: "text", text: text }).then(function (answer) {
      if (mine !== sequence) return;
      if (!answer.valid) {
        root = null;
        host.replaceChildren();
        say("The text has an error; correct it on the Text tab first. " + problemText(answer), true);
        return;
      }
      var top = fromTree(answer.ast);
      root = top.t === "group" && !top.not ? top : { t: "group", op: "and", not: false, items: [top] };
      draw();
      say("", false);
      if (textarea.value !== answer.text) {
        textarea.value = answer.text;
        changed();
      }
    }).catch(function (error) { say(error.message, true); });
  }

  // -- drawing ------------------------------------------------------------------------------------

  function element(tag, attributes, text) {
    var made = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (key) { made.setAttribute(key, attributes[key]); });
    if (text !== undefined) made.textContent = text;
    return made;
  }

  function button(label, name, handler, style) {
    var made = element("button", { type: "button", class: "btn btn-sm " + (style || "btn-outline-secondary") }, label);
    if (name) made.setAttribute("aria-label", name);
    made.addEventListener("click", handler);
    return made;
  }

  function notBox(node, label) {
    var wrap = element("label", { class: "form-check-label builder-not small" });
    var box = element("input", { type: "checkbox", class: "form-check-input me-1", "aria-label": label });
    box.checked = node.not;
    box.addEventListener("change", function () { node.not = box.checked; sync(); });
    wrap.appendChild(box);
    wrap.appendChild(document.createTextNode("not"));
    return wrap;
  }

  function select(options, value, label) {
    var made = element("select", { class: "form-select form-select-sm", "aria-label": label });
    options.forEach(function (option) {
      var item = element("option", { value: option[0] }, option[1]);
      if (option[0] === value) item.selected = true;
      made.appendChild(item);
    });
    return made;
  }

  function allowedOps(field) {
    return (OPS[kindOf(field)] || OPS.text).concat(["is_set", "is_not_set"]);
  }

  function opsFor(node) {
    var kind = kindOf(node.field);
    var ops = allowedOps(node.field);
    if (ops.indexOf(node.op) === -1) ops.unshift(node.op);
    return ops.map(function (op) {
      var label = OP_LABELS[op] || op;
      if ((kind === "date" || kind === "datetime") && DATE_LABELS[op]) label = DATE_LABELS[op] + " (" + label + ")";
      return [op, label];
    });
  }

  function drawCondition(node, parent, number) {
    var row = element("div", { class: "builder-row", role: "group", "aria-label": "Condition " + number });
    row.appendChild(notBox(node, "Not: condition " + number));
    if (node.t === "cmp") {
      var names = fieldNames.slice();
      if (names.indexOf(node.field) === -1) names.unshift(node.field);
      var field = select(names.map(function (n) { return [n, n]; }), node.field, "Field of condition " + number);
      var op = select(opsFor(node), node.op, "Comparison of condition " + number);
      var value = element("input", { type: "text", class: "form-control form-control-sm", "aria-label": "Value of condition " + number, autocomplete: "off" });
      value.value = node.value;
      var spec = fieldsByName[node.field];
      var choices = spec && spec.options.length ? spec.options : spec && spec.kind === "boolean" ? ["true", "false"] : [];
      if (choices.length) {
        var listId = "builder-options-" + Math.random().toString(36).slice(2);
        var datalist = element("datalist", { id: listId });
        choices.forEach(function (choice) { datalist.appendChild(element("option", { value: choice })); });
        value.setAttribute("list", listId);
        row.appendChild(datalist);
      }
      if (spec && (spec.kind === "date" || spec.kind === "datetime")) value.placeholder = "YYYY-MM-DD";
      value.hidden = node.op === "is_set" || node.op === "is_not_set";
      field.addEventListener("change", function () {
        node.field = field.value;
        delete node.original;
        var allowed = allowedOps(node.field);
        if (allowed.indexOf(node.op) === -1) node.op = allowed[0];
        draw();
        sync();
      });
      op.addEventListener("change", function () {
        node.op = op.value;
        value.hidden = node.op === "is_set" || node.op === "is_not_set";
        sync();
      });
      value.addEventListener("input", function () { node.value = value.value; syncSoon(); });
      row.appendChild(field);
      row.appendChild(op);
      row.appendChild(value);
    } else {
      var raw = element("input", { type: "text", class: "form-control form-control-sm builder-raw", "aria-label": "Condition " + number + " as text", autocomplete: "off", spellcheck: "false" });
      raw.value = node.text;
      raw.addEventListener("input", function () { node.text = raw.value; node.edited = true; syncSoon(); });
      row.appendChild(raw);
    }
    row.appendChild(button("✕", "Remove condition " + number, function () {
      parent.items.splice(parent.items.indexOf(node), 1);
      draw();
      sync();
    }, "btn-outline-danger"));
    return row;
  }

  var counter = 0;

  function drawGroup(node, parent) {
    var number = ++counter;
    var box = element("div", { class: "builder-group" + (node.op === "or" ? " is-or" : ""), role: "group", "aria-label": parent ? "Group " + number : "All conditions" });
    var head = element("div", { class: "builder-head" });
    if (parent) head.appendChild(notBox(node, "Not: group " + number));
    var mode = select([["and", "All of these (AND)"], ["or", "Any of these (OR)"]], node.op, "Combine group " + number + " with");
    mode.addEventListener("change", function () { node.op = mode.value; draw(); sync(); });
    head.appendChild(mode);
    if (parent) {
      head.appendChild(button("Remove group", "Remove group " + number, function () {
        parent.items.splice(parent.items.indexOf(node), 1);
        draw();
        sync();
      }, "btn-outline-danger"));
    }
    box.appendChild(head);
    var items = element("div", { class: "builder-items" });
    node.items.forEach(function (item) {
      items.appendChild(item.t === "group" ? drawGroup(item, node) : drawCondition(item, node, ++counter));
    });
    box.appendChild(items);
    var foot = element("div", { class: "d-flex flex-wrap gap-2" });
    foot.appendChild(button("+ Condition", "Add a condition to group " + number, function () {
      node.items.push(newCondition());
      draw();
      sync();
    }));
    foot.appendChild(button("+ Group", "Add a group to group " + number, function () {
      node.items.push({ t: "group", op: node.op === "and" ? "or" : "and", not: false, items: [newCondition()] });
      draw();
      sync();
    }));
    box.appendChild(foot);
    return box;
  }

  function draw() {
    counter = 0;
    host.replaceChildren(drawGroup(root, null));
  }

  // a save right after a change in the builder waits for the text to catch up
  textarea.form.addEventListener("submit", function (event) {
    if (timer === null && inflight === null) return;
    event.preventDefault();
    sync().then(function () {
      if (!status.classList.contains("text-danger")) textarea.form.requestSubmit();
    });
  });

  builderTab.addEventListener("show.bs.tab", load);
  builderTab.addEventListener("hide.bs.tab", function () { if (timer !== null) sync(); });
})();
