-- POST a login with a code never sent before. Every user logs in twice: first with code
-- <tag>t<thread>u<n>a, then, once this thread has started `lag` more users, again with
-- <tag>t<thread>u<n>b. The stub derives the openid from the code minus its last letter.
-- args: tag, lag, path, appid ("" = omit), harvest file prefix ("" = none), harvest cap
local json_headers = {["Content-Type"] = "application/json"}

function init(args)
  tag, lag, path, appid = args[1], tonumber(args[2]), args[3], args[4]
  harvest, harvest_cap = args[5], tonumber(args[6])
  started, came_back = 0, 0
  access_tokens, refresh_tokens = {}, {}
  -- wrk calls thread 0's request() once to check the script, before any connection exists:
  -- that call gets a throwaway code so that no user loses a login.
  checking = (id == 0)
end

local function login_request(code)
  local body
  if appid ~= "" then
    body = '{"code":"' .. code .. '","appid":"' .. appid .. '"}'
  else
    body = '{"code":"' .. code .. '"}'
  end
  return wrk.format("POST", path, json_headers, body)
end

function request()
  if checking then
    checking = false
    return login_request(tag .. "check")
  end
  if started - came_back > lag then
    came_back = came_back + 1
    bump("sent_returning")
    return login_request(tag .. "t" .. id .. "u" .. (came_back - 1) .. "b")
  end
  started = started + 1
  bump("sent_first")
  return login_request(tag .. "t" .. id .. "u" .. (started - 1) .. "a")
end

function response(status, headers, body)
  count_status(status)
  if harvest == "" or status ~= 200 then return end
  -- wxlogin's answer says whether the login created the user; keep tokens for later runs.
  if string.find(body, '"new_user":%s*true') then bump("new_user") else bump("known_user") end
  if #refresh_tokens < harvest_cap then
    refresh_tokens[#refresh_tokens + 1] = string.match(body, '"refresh_token":%s*"([^"]+)"')
    access_tokens[#access_tokens + 1] = string.match(body, '"access_token":%s*"([^"]+)"')
  end
end

function after_done()
  local prefix = threads[1]:get("harvest")
  if prefix == "" then return end
  for _, kind in ipairs({"access", "refresh"}) do
    local out = assert(io.open(prefix .. "." .. kind, "w"))
    for _, t in ipairs(threads) do
      for _, token in ipairs(t:get(kind .. "_tokens")) do out:write(token, "\n") end
    end
    out:close()
  end
end
