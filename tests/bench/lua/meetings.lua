-- POST /v1/pairs/{id}/meetings as the pair's mentee, pairs in turn.
--   wrk -s meetings.lua URL -- PAIRS_FILE HELD_ON
-- PAIRS_FILE lines: "<pair id> <token of its mentee>".
dofile(os.getenv("BENCH_LUA") .. "/common.lua")
local pairs_, body
local next_pair = 0

function init(args)
  seed_random()
  pairs_ = {}
  for _, line in ipairs(read_lines(args[1])) do
    local id, token = string.match(line, "^(%S+)%s+(%S+)$")
    pairs_[#pairs_ + 1] = { path = "/v1/pairs/" .. id .. "/meetings",
                            headers = { ["Authorization"] = "Bearer " .. token,
                                        ["Content-Type"] = "application/json" } }
  end
  next_pair = math.random(#pairs_) - 1
  body = '{"held_on":"' .. args[2] .. '","duration_minutes":60,"mode":"video","place":"online",' ..
         '"topics":["cv","network"],"initiated_by":"mentee",' ..
         '"summary":"Went through two job advertisements and the letter for the first one.",' ..
         '"next_steps":"Mentee sends both applications before Friday."}'
end

function request()
  next_pair = next_pair % #pairs_ + 1
  local p = pairs_[next_pair]
  return wrk.format("POST", p.path, p.headers, body)
end
