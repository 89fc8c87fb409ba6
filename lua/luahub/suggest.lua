-- "did you mean ...?" for a misspelled name (a hook, a config key): the closest of the
-- valid names by edit distance, when it is close enough to be the one meant.
local M = {}

-- Levenshtein distance (insertions, deletions, substitutions), two rows at a time.
local function distance(a, b)
  local prev, cur = {}, {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    cur[0] = i
    local ai = a:byte(i)
    for j = 1, #b do
      local cost = ai == b:byte(j) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev, cur = cur, prev
  end
  return prev[#b]
end
M.distance = distance

-- The valid name closest to name (ties: the first in sorted order), or nil when even that
-- one differs in more than a third of its letters (at least 2 edits are always allowed).
function M.closest(name, valid)
  if type(name) ~= "string" then return nil end
  local best, best_d
  local sorted = {}
  for _, v in ipairs(valid) do sorted[#sorted + 1] = v end
  table.sort(sorted)
  for _, v in ipairs(sorted) do
    local d = distance(name:lower(), v:lower())
    if not best_d or d < best_d then best, best_d = v, d end
  end
  if best and best_d <= math.max(2, math.floor(#best / 3)) then return best end
end

-- "did you mean X?", or nil when nothing is close.
function M.did_you_mean(name, valid)
  local best = M.closest(name, valid)
  return best and "did you mean " .. best .. "?" or nil
end

return M
