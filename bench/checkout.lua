-- wrk script of the checkout scenario: POST /api/orders, each request as a different customer.
--
--   wrk -s bench/checkout.lua URL -- THREADS TOKENS_FILE
--
-- TOKENS_FILE holds one access token a line, one customer each, every one with a filled cart. A
-- checkout consumes its cart, so no token is sent twice: wrk thread k (of THREADS) takes lines
-- k+1, k+1+THREADS, k+1+2*THREADS, ... Past the end it starts over, and those requests get 422
-- (empty cart): bench/run.py refills the carts before every run and counts any non-2xx answer.

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
  wrk.method = "POST"
  wrk.body = '{"delivery_address": "1 Bench Street, Testville"}'
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  wrk.headers["Authorization"] = "Bearer " .. tokens[sent % #tokens + 1]
  sent = sent + 1
  return wrk.format()
end
