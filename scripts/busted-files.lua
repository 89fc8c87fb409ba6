-- A busted output handler for scripts/test.sh: busted's usual terminal output, and in
-- the file named by -Xoutput one line per spec file, "<tests> <pending> <path>", so the
-- runner can tell a file whose every test marked itself pending. A test counts in the
-- spec file that runs it, wherever it is written (spec/support/cluster_suite.lua's tests
-- count in redis_spec.lua and nats_spec.lua).
return function(options)
  local busted = require "busted"
  local terminal = require("busted.outputHandlers." .. options.defaultOutput)(options)
  local counts_path = assert(options.arguments[1], "busted-files.lua: pass the counts file with -Xoutput")
  local files, order = {}, {}

  local function spec_file(element)
    local block = busted.parent(element)
    while block and block.descriptor ~= "file" do block = busted.parent(block) end
    return block and block.name or "(no file)"
  end

  busted.subscribe({ "test", "end" }, function(element, _, status)
    local name = spec_file(element)
    local file = files[name]
    if not file then
      file = { tests = 0, pending = 0 }
      files[name] = file
      order[#order + 1] = name
    end
    file.tests = file.tests + 1
    if status == "pending" then file.pending = file.pending + 1 end
    return nil, true
  end)

  busted.subscribe({ "suite", "end" }, function()
    local out = assert(io.open(counts_path, "w"))
    for _, name in ipairs(order) do
      out:write(("%d %d %s\n"):format(files[name].tests, files[name].pending, name))
    end
    out:close()
    return nil, true
  end)

  return terminal
end
