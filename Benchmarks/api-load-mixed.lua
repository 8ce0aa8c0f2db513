-- wrk script for Benchmarks/api-load: a task workload against the Dovetail API.
--
-- Environment (read by every wrk thread):
--   API_LOAD_IDS      file with one seeded task id per line (required)
--   API_LOAD_PROJECT  the seeded project's id (required in mixed mode)
--   API_LOAD_MODE     "mixed" (default) or "read"
--
-- mixed: 50% GET /api/tasks/{id}, 30% GET /api/tasks?project_id=..&column=todo&limit=20,
--        10% POST /api/tasks (a new card in backlog), 10% PATCH /api/tasks/{id} {"priority": n}
--        i.e. 80% reads, 20% writes.
-- read:  100% GET /api/tasks/{id} on a random seeded id.
--
-- Every response's status is counted per thread; done() adds them up and prints a
-- human-readable summary plus one machine-readable line starting with "API_LOAD_RESULT".

local threads = {}
local counter = 0

function setup(thread)
    counter = counter + 1
    thread:set("thread_number", counter)
    table.insert(threads, thread)
end

-- Per-thread state (each wrk thread has its own Lua interpreter).
local ids = {}
local project = nil
local mode = "mixed"
local json_headers = { ["Content-Type"] = "application/json" }
local created = 0
local samples_logged = 0

-- Globals read back by done() through thread:get().
status_counts = {}
kind_counts = { get = 0, list = 0, create = 0, patch = 0 }
non2xx = 0
responses = 0

function init(args)
    local path = os.getenv("API_LOAD_IDS")
    assert(path, "API_LOAD_IDS must name a file of task ids")
    for line in io.lines(path) do
        if #line > 0 then ids[#ids + 1] = line end
    end
    assert(#ids > 0, "no task ids in " .. path)
    project = os.getenv("API_LOAD_PROJECT")
    mode = os.getenv("API_LOAD_MODE") or "mixed"
    assert(mode == "read" or project, "API_LOAD_PROJECT is required in mixed mode")
    math.randomseed(os.time() * 1000 + (thread_number or 0) * 7919)
end

local function random_id()
    return ids[math.random(#ids)]
end

function request()
    if mode == "read" then
        kind_counts.get = kind_counts.get + 1
        return wrk.format("GET", "/api/tasks/" .. random_id())
    end
    local r = math.random(100)
    if r <= 50 then
        kind_counts.get = kind_counts.get + 1
        return wrk.format("GET", "/api/tasks/" .. random_id())
    elseif r <= 80 then
        kind_counts.list = kind_counts.list + 1
        return wrk.format("GET", "/api/tasks?project_id=" .. project .. "&column=todo&limit=20")
    elseif r <= 90 then
        kind_counts.create = kind_counts.create + 1
        created = created + 1
        local body = string.format(
            '{"project_id":"%s","title":"load card t%d-%d","column":"backlog","priority":%d}',
            project, thread_number or 0, created, math.random(0, 5))
        return wrk.format("POST", "/api/tasks", json_headers, body)
    else
        kind_counts.patch = kind_counts.patch + 1
        local body = string.format('{"priority":%d}', math.random(0, 9))
        return wrk.format("PATCH", "/api/tasks/" .. random_id(), json_headers, body)
    end
end

function response(status, headers, body)
    responses = responses + 1
    status_counts[status] = (status_counts[status] or 0) + 1
    if status < 200 or status > 299 then
        non2xx = non2xx + 1
        if samples_logged < 5 then
            samples_logged = samples_logged + 1
            io.stderr:write(string.format("[api-load] HTTP %d: %s\n", status, tostring(body):sub(1, 500)))
        end
    end
end

function done(summary, latency, requests)
    local total_non2xx, total_responses = 0, 0
    local statuses, kinds = {}, { get = 0, list = 0, create = 0, patch = 0 }
    for _, thread in ipairs(threads) do
        total_non2xx = total_non2xx + thread:get("non2xx")
        total_responses = total_responses + thread:get("responses")
        for status, n in pairs(thread:get("status_counts")) do
            statuses[status] = (statuses[status] or 0) + n
        end
        for kind, n in pairs(thread:get("kind_counts")) do
            kinds[kind] = kinds[kind] + n
        end
    end
    local mode = os.getenv("API_LOAD_MODE") or "mixed" -- done() runs in wrk's main state, where init() never ran
    local seconds = summary.duration / 1e6
    local rps = summary.requests / seconds
    local e = summary.errors
    local socket_errors = e.connect + e.read + e.write + e.timeout
    local function ms(p) return latency:percentile(p) / 1000 end

    local status_list = {}
    for status, n in pairs(statuses) do status_list[#status_list + 1] = status .. "=" .. n end
    table.sort(status_list)

    io.write("---- api-load (" .. mode .. ") ----\n")
    io.write(string.format("requests sent by kind: get=%d list=%d create=%d patch=%d\n",
        kinds.get, kinds.list, kinds.create, kinds.patch))
    io.write(string.format("responses by status: %s\n", table.concat(status_list, " ")))
    io.write(string.format("non-2xx responses: %d of %d\n", total_non2xx, total_responses))
    io.write(string.format("socket errors: connect=%d read=%d write=%d timeout=%d (wrk status>399: %d)\n",
        e.connect, e.read, e.write, e.timeout, e.status))
    io.write(string.format("latency ms: p50=%.2f p90=%.2f p95=%.2f p99=%.2f max=%.2f\n",
        ms(50), ms(90), ms(95), ms(99), latency.max / 1000))
    io.write(string.format(
        "API_LOAD_RESULT mode=%s rps=%.1f requests=%d p50_ms=%.2f p95_ms=%.2f p99_ms=%.2f max_ms=%.2f non2xx=%d socket_errors=%d\n",
        mode, rps, summary.requests, ms(50), ms(95), ms(99), latency.max / 1000, total_non2xx, socket_errors))
end
