-- POST /auth/refresh. A refresh token works once and its answer carries the next one, so each
-- thread keeps a pool: seeded from its share of the token file, fed by every answer. With the
-- pool empty (errors ate tokens) a connection sends GET /healthz instead, counted as "starved";
-- an old token is never replayed (wxlogin would revoke the whole session family).
-- args: token file, thread count
local json_headers = {["Content-Type"] = "application/json"}

function init(args)
  pool = my_lines(args[1], tonumber(args[2]))
  checking = (id == 0)  -- wrk's check call: keep the real tokens for real requests
end

function request()
  local token = nil
  if checking then
    checking = false
    token = "check"
  else
    token = table.remove(pool)
  end
  if token == nil then
    bump("starved")
    return wrk.format("GET", "/healthz")
  end
  return wrk.format("POST", "/auth/refresh", json_headers, '{"refresh_token":"' .. token .. '"}')
end

function response(status, headers, body)
  count_status(status)
  local token = string.match(body, '"refresh_token":%s*"([^"]+)"')
  if token then
    pool[#pool + 1] = token
    bump("rotated")
  end
end
