-- GET /v1/participants?programme_id=P&limit=50, walking the cursors.
--   wrk -s pages.lua URL -- PROGRAMMES_FILE TOKEN
-- Every answer with a next_cursor queues the next page of that programme;
-- a request takes the oldest queued page, or the first page of a random
-- programme when none is queued (at the start, and after a last page: its
-- next_cursor is null). So each connection walks a programme to its end.
dofile(os.getenv("BENCH_LUA") .. "/common.lua")
local programmes, headers
local queue, head, tail = {}, 1, 0

function init(args)
  seed_random()
  programmes = read_lines(args[1])
  headers = bearer(args[2])
end

function request()
  local path
  if head <= tail then
    path = queue[head]
    queue[head] = nil
    head = head + 1
  else
    path = "/v1/participants?programme_id=" .. programmes[math.random(#programmes)] .. "&limit=50"
  end
  return wrk.format("GET", path, headers)
end

function response(status, hdrs, body)
  if status ~= 200 then return end
  local cursor = string.match(string.sub(body, -300), '"next_cursor":%s*"([^"]+)"')
  if not cursor then return end
  local programme = string.match(string.sub(body, 1, 3000), '"programme_id":%s*"([^"]+)"')
  if not programme then return end
  tail = tail + 1
  queue[tail] = "/v1/participants?programme_id=" .. programme .. "&limit=50&cursor=" .. cursor
end
