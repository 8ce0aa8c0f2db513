#!/usr/bin/env python3
"""HTTP checks of deploy/verify-containers against running Dovetail containers (standard library only).

  wait URL TIMEOUT                 poll URL every 5 ms until it answers 200; print the milliseconds it took
  get URL [TOKEN]                  print the status and the body
  seed BASE TOKEN                  create a project and a task; print the task's id and title as JSON
  task BASE TOKEN ID               print the task as JSON (exit 1 when it is not found)
  sse BASE_A BASE_B TOKEN N        open a session's event stream on A, append N events through B, print the
                                   delivery latencies as JSON (ms from the POST to B until A's client has the event)
  hold BASE TOKEN                  open an event stream, print "connected", then, when the server closes it, print
                                   the last event's name and the wall-clock time (epoch ms) the stream ended
"""
import json
import queue
import statistics
import sys
import threading
import time
import urllib.error
import urllib.request


def request(method, url, token=None, body=None, timeout=10):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def wait(url, timeout):
    start = time.monotonic()
    while time.monotonic() - start < float(timeout):
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    print(f"{(time.monotonic() - start) * 1000:.0f}")
                    return 0
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.005)
    print(f"{url} did not answer 200 within {timeout} s", file=sys.stderr)
    return 1


def created(status, body, what):
    if status != 201:
        raise SystemExit(f"creating {what}: HTTP {status} {body}")
    return json.loads(body)


def seed(base, token):
    suffix = f"{time.time_ns()}"
    project = created(*request("POST", f"{base}/api/projects", token, {"name": f"verify {suffix}"}), "a project")
    title = f"verify-containers task {suffix}"
    task = created(*request("POST", f"{base}/api/tasks", token, {"project_id": project["id"], "title": title}), "a task")
    print(json.dumps({"id": task["id"], "title": task["title"], "project_id": project["id"]}))
    return 0


def task(base, token, task_id):
    status, body = request("GET", f"{base}/api/tasks/{task_id}", token)
    print(body)
    return 0 if status == 200 else 1


def sse(base_a, base_b, token, count):
    count = int(count)
    project = created(*request("POST", f"{base_b}/api/projects", token, {"name": f"sse {time.time_ns()}"}), "a project")
    session = created(*request("POST", f"{base_b}/api/sessions", token, {"project_id": project["id"]}), "a session")
    received = queue.Queue()
    connected = threading.Event()

    def reader():
        req = urllib.request.Request(f"{base_a}/api/sessions/{session['id']}/events/stream")
        req.add_header("Authorization", f"Bearer {token}")
        req.add_header("Accept", "text/event-stream")
        with urllib.request.urlopen(req, timeout=60) as stream:
            for raw in stream:
                line = raw.decode().rstrip("\n")
                if line.startswith(": connected"):
                    connected.set()
                elif line.startswith("data: "):
                    received.put((time.monotonic(), json.loads(line[6:])))

    threading.Thread(target=reader, daemon=True).start()
    if not connected.wait(10):
        raise SystemExit("the stream on A did not open within 10 s")
    latencies = []
    for index in range(count):
        sent = time.monotonic()
        status, body = request("POST", f"{base_b}/api/sessions/{session['id']}/events", token,
                               {"type": "verify", "payload": {"index": index}})
        if status != 201:
            raise SystemExit(f"appending through B: HTTP {status} {body}")
        while True:
            try:
                at, event = received.get(timeout=10)
            except queue.Empty:
                raise SystemExit(f"event {index} appended through B never reached the stream on A (10 s)")
            if event.get("payload", {}).get("index") == index:
                latencies.append((at - sent) * 1000)
                break
        time.sleep(0.05)
    ordered = sorted(latencies)
    p95 = ordered[max(0, int(round(0.95 * len(ordered))) - 1)]
    print(json.dumps({"events": count, "delivered": len(latencies), "p50_ms": round(statistics.median(ordered), 1),
                      "p95_ms": round(p95, 1), "max_ms": round(ordered[-1], 1), "min_ms": round(ordered[0], 1)}))
    return 0


def hold(base, token):
    session = created(*request("POST", f"{base}/api/sessions", token,
                               {"project_id": created(*request("POST", f"{base}/api/projects", token,
                                                               {"name": f"hold {time.time_ns()}"}), "a project")["id"]}),
                      "a session")
    req = urllib.request.Request(f"{base}/api/sessions/{session['id']}/events/stream")
    req.add_header("Authorization", f"Bearer {token}")
    last = "none"
    try:
        with urllib.request.urlopen(req, timeout=120) as stream:
            for raw in stream:
                line = raw.decode().rstrip("\n")
                if line.startswith(": connected"):
                    print("connected", flush=True)
                elif line.startswith("event: "):
                    last = line[7:]
    except (ConnectionError, OSError) as error:
        last = f"{last} ({type(error).__name__})"
    print(f"{last} {time.time_ns() // 1_000_000}", flush=True)
    return 0


def main(argv):
    command, args = argv[1], argv[2:]
    if command == "wait":
        return wait(*args)
    if command == "get":
        status, body = request("GET", args[0], args[1] if len(args) > 1 else None)
        print(status)
        print(body)
        return 0
    if command == "seed":
        return seed(*args)
    if command == "task":
        return task(*args)
    if command == "sse":
        return sse(*args)
    if command == "hold":
        return hold(*args)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
