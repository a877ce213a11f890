-- SPDX-License-Identifier: MIT
-- The 10 most frequent words of standard input, then totals; run by an
-- unmodified Lua 5.4 interpreter (examples/lua/job.json).
local counts, words, lines = {}, 0, 0
for line in io.lines() do
  lines = lines + 1
  for w in line:gmatch("%a+") do
    w = w:lower()
    counts[w] = (counts[w] or 0) + 1
    words = words + 1
  end
end
local order = {}
for w in pairs(counts) do order[#order + 1] = w end
table.sort(order, function(a, b)
  if counts[a] ~= counts[b] then return counts[a] > counts[b] end
  return a < b
end)
for i = 1, math.min(10, #order) do
  print(string.format("%-12s %5d", order[i], counts[order[i]]))
end
print(string.format("%d lines, %d words, %d distinct", lines, words, #order))
