// Sortable tables: click (or press Enter on) a header of a table.sortable to sort by that column,
// again to reverse. Without JavaScript the rows keep their rendered order (by rank).
// A cell's data-sort holds its raw value: numbers sort numerically, empty cells always last.
// A header with data-first="descending" sorts high-to-low first (scores where higher is better).
// Columns count colspan: a cell spanning several columns (the reason of a failed fold) and a
// missing cell have no value for any of them, so those rows sort last.
(function () {
  "use strict";
  var NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;
  function cellAt(row, column) {
    var start = 0;
    for (var i = 0; i < row.cells.length; i++) {
      var span = row.cells[i].colSpan || 1;
      if (column < start + span) return span === 1 ? row.cells[i] : null;
      start += span;
    }
    return null;
  }
  function value(cell) {
    if (!cell) return null;
    var raw = (cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent).trim();
    if (raw === "") return null;
    return NUMBER.test(raw) ? parseFloat(raw) : raw.toLowerCase();
  }
  function compare(x, y) {
    if (typeof x === "number" && typeof y === "number") return x - y;
    return String(x).localeCompare(String(y));
  }
  function sortBy(table, column, header) {
    var current = header.getAttribute("aria-sort");
    var first = header.getAttribute("data-first") || "ascending";
    var order = current ? (current === "ascending" ? "descending" : "ascending") : first;
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) { th.removeAttribute("aria-sort"); });
    header.setAttribute("aria-sort", order);
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows).map(function (row, position) {
      return { row: row, key: value(cellAt(row, column)), position: position };
    });
    rows.sort(function (a, b) {
      if (a.key === null || b.key === null) {
        return a.key === b.key ? a.position - b.position : (a.key === null ? 1 : -1);
      }
      var result = compare(a.key, b.key);
      return (order === "ascending" ? result : -result) || a.position - b.position;
    });
    rows.forEach(function (item) { body.appendChild(item.row); });
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    if (!table.tHead || !table.tBodies.length) return;
    var column = 0;
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (header) {
      var index = column;
      column += header.colSpan || 1;
      header.classList.add("sortable-header");
      header.setAttribute("tabindex", "0");
      header.setAttribute("title", (header.getAttribute("title") ? header.getAttribute("title") + ". " : "") + "Click to sort");
      header.addEventListener("click", function () { sortBy(table, index, header); });
      header.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); sortBy(table, index, header); }
      });
    });
  });
})();
