// Click a column header button to sort the table body by that column (again to reverse).
// Cells carry their sort key in data-v (a number, or text); cells without a key sort last.
(function () {
  "use strict";
  function key(cell) {
    if (!cell) return null;
    var v = cell.getAttribute("data-v");
    if (v === null || v === "") return null;
    var f = Number(v);
    return isNaN(f) ? v.toLowerCase() : f;
  }
  function compare(x, y) {
    if (typeof x === "number" && typeof y === "number") return x - y;
    return String(x).localeCompare(String(y));
  }
  var tables = document.querySelectorAll("table.sortable");
  Array.prototype.forEach.call(tables, function (table) {
    var head = table.tHead.rows[table.tHead.rows.length - 1].cells;
    Array.prototype.forEach.call(head, function (th, idx) {
      var btn = th.querySelector("button.sort");
      if (!btn) return;
      btn.addEventListener("click", function () {
        var asc = th.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(head, function (o) { o.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", asc ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = key(a.cells[idx]), y = key(b.cells[idx]);
          if (x === null && y === null) return 0;
          if (x === null) return 1;
          if (y === null) return -1;
          var c = compare(x, y);
          return asc ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
  // Filters: each <select data-filter="NAME"> hides the rows whose data-NAME differs from its value
  // ("" shows all); rows without data-NAME are never hidden. Without this script every row shows.
  var selects = document.querySelectorAll("select[data-filter]");
  function applyFilters() {
    var rows = document.querySelectorAll("tr[data-kind], tr[data-family]");
    Array.prototype.forEach.call(rows, function (r) {
      var hide = false;
      Array.prototype.forEach.call(selects, function (s) {
        var want = s.value, have = r.getAttribute("data-" + s.getAttribute("data-filter"));
        if (want !== "" && have !== null && have !== want) hide = true;
      });
      r.classList.toggle("filtered-out", hide);
    });
  }
  Array.prototype.forEach.call(selects, function (s) { s.addEventListener("change", applyFilters); });
})();
