// Click a column header of a table.sortable to sort by it; click again to reverse.
// Cells may carry data-sort with the raw value; numbers sort numerically, empty cells last.
(function () {
  "use strict";
  function value(cell) {
    var raw = cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent.trim();
    var number = parseFloat(raw);
    return raw === "" ? null : (isNaN(number) || !/^[-+]?[0-9.eE+-]+$/.test(raw) ? raw.toLowerCase() : number);
  }
  function sortBy(table, index, header) {
    var body = table.tBodies[0];
    var ascending = header.getAttribute("aria-sort") !== "ascending";
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th) { th.removeAttribute("aria-sort"); });
    header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = value(a.cells[index]), y = value(b.cells[index]);
      if (x === null) return 1;
      if (y === null) return -1;
      var order = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
      return ascending ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (header, index) {
      header.classList.add("sortable-header");
      header.setAttribute("tabindex", "0");
      header.addEventListener("click", function () { sortBy(table, index, header); });
      header.addEventListener("keydown", function (event) { if (event.key === "Enter") sortBy(table, index, header); });
    });
  });
})();
