-- wrk script of the cart-add scenario: add a line to a cart, then remove that line, over and over.
--
--   wrk -s bench/cart_add.lua URL -- THREADS CUSTOMERS_FILE
--
-- CUSTOMERS_FILE holds "CART_ID VARIANT_ID ACCESS_TOKEN" a line: a customer with an empty cart and the
-- variant they add. wrk thread k (of THREADS) takes every THREADS-th line from line k+1 and keeps each
-- customer's state: idle -> adding (POST /api/cart/items) -> added (the line's id known) -> removing
-- (DELETE /api/cart/items/<id>) -> idle. wrk does not say which connection an answer came on, so the
-- answer names its customer by the cart's id (the body starts {"id":<cart>,"items":[...]) and, after an
-- add, the line's id (the cart's only line). A thread needs more customers than its connections; a
-- customer whose answer was not 2xx stays out of play. Each request counts once: pairs/s = req/s / 2.

local next_thread = 0

function setup(thread)
  thread:set("thread_index", next_thread)
  next_thread = next_thread + 1
end

local by_cart = {}
local idle = {}
local added = {}

function init(args)
  local threads = tonumber(args[1])
  local line = 0
  for text in io.lines(args[2]) do
    if line % threads == thread_index then
      local cart, variant, token = text:match("^(%d+) (%d+) (%S+)$")
      local customer = { cart = cart, variant = variant, auth = "Bearer " .. token }
      by_cart[cart] = customer
      idle[#idle + 1] = customer
    end
    line = line + 1
  end
end

function request()
  local customer = table.remove(added, 1)
  if customer then
    customer.state = "removing"
    return wrk.format("DELETE", "/api/cart/items/" .. customer.line, { Authorization = customer.auth })
  end
  customer = table.remove(idle, 1)
  if customer then
    customer.state = "adding"
    local headers = { Authorization = customer.auth, ["Content-Type"] = "application/json" }
    return wrk.format("POST", "/api/cart/items", headers, '{"variant_id":' .. customer.variant .. ',"quantity":1}')
  end
  -- Every customer has a request out or was lost to an error answer: a request without a token (401).
  return wrk.format("GET", "/api/cart")
end

function response(status, headers, body)
  local customer = by_cart[body:match('^{"id":(%d+),"items":') or ""]
  if customer == nil then
    return
  end
  if customer.state == "adding" and status == 201 then
    customer.line = body:match('^{"id":%d+,"items":%[{"id":(%d+),')
    customer.state = "added"
    added[#added + 1] = customer
  elseif customer.state == "removing" and status == 200 then
    customer.state = "idle"
    idle[#idle + 1] = customer
  end
end
