-- GET one path over and over; with a token file, each thread cycles through its share of the
-- tokens as "Authorization: Bearer" (args: path, token file or "", thread count).
function init(args)
  local path, token_file = args[1], args[2]
  requests = {}
  if token_file == "" then
    requests[1] = wrk.format("GET", path)
  else
    for _, token in ipairs(my_lines(token_file, tonumber(args[3]))) do
      requests[#requests + 1] = wrk.format("GET", path, {Authorization = "Bearer " .. token})
    end
  end
  sent = 0
end

function request()
  sent = sent + 1
  return requests[(sent - 1) % #requests + 1]
end

function response(status, headers, body)
  count_status(status)
end
