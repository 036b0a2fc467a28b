-- GET <prefix><random id from a file><suffix> with one token.
--   wrk -s by_id.lua URL -- IDS_FILE TOKEN PREFIX [SUFFIX]
-- e.g. PREFIX /v1/participants/ or /v1/pairs/; SUFFIX /suggestions?limit=10
dofile(os.getenv("BENCH_LUA") .. "/common.lua")
local ids, headers, prefix, suffix

function init(args)
  seed_random()
  ids = read_lines(args[1])
  headers = bearer(args[2])
  prefix, suffix = args[3], args[4] or ""
end

function request()
  return wrk.format("GET", prefix .. ids[math.random(#ids)] .. suffix, headers)
end
