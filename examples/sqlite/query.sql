-- SPDX-License-Identifier: MIT
-- Run by an unmodified sqlite3 shell against an in-memory database
-- (examples/sqlite/job.json).
CREATE TABLE sale(id INTEGER PRIMARY KEY, shop TEXT, item TEXT, qty INT, price REAL);
WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 5000)
INSERT INTO sale(shop, item, qty, price)
  SELECT 'shop' || (x % 7), 'item' || (x * 31 % 13), 1 + x % 5, round(0.25 * (x % 40), 2) FROM n;
CREATE INDEX sale_shop ON sale(shop);
.headers on
.mode column
SELECT shop, count(*) AS sales, sum(qty) AS qty, printf('%.2f', sum(qty * price)) AS revenue
  FROM sale GROUP BY shop ORDER BY revenue DESC;
.mode csv
SELECT item, max(price) AS top, group_concat(DISTINCT qty) AS qtys
  FROM sale WHERE shop = 'shop3' GROUP BY item ORDER BY item LIMIT 5;
