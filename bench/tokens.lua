-- wrk script: each request as the next customer of a file of access tokens (scenarios checkout, cart-64).
--
--   wrk -s bench/tokens.lua URL -- THREADS TOKENS_FILE [METHOD BODY]
--
-- TOKENS_FILE holds one access token a line, one customer each. wrk thread k (of THREADS) takes lines
-- k+1, k+1+THREADS, k+1+2*THREADS, ... and sends them in turn, starting over past its last one. A
-- checkout consumes its customer's cart, so bench/run.py seeds more customers than a run reaches and
-- refills the carts before every run; a customer sent twice gets 422 (empty cart), counted as non-2xx.
-- METHOD and BODY (JSON) default to a GET without a body.

local next_thread = 0

function setup(thread)
  thread:set("thread_index", next_thread)
  next_thread = next_thread + 1
end

local tokens = {}
local sent = 0

function init(args)
  local threads = tonumber(args[1])
  local line = 0
  for token in io.lines(args[2]) do
    if line % threads == thread_index then
      tokens[#tokens + 1] = token
    end
    line = line + 1
  end
  if args[3] then
    wrk.method = args[3]
  end
  if args[4] then
    wrk.body = args[4]
    wrk.headers["Content-Type"] = "application/json"
  end
end

function request()
  wrk.headers["Authorization"] = "Bearer " .. tokens[sent % #tokens + 1]
  sent = sent + 1
  return wrk.format()
end
