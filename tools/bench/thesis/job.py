#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# The thesis job (fetch -> parse -> merge, examples/logstats' functions) for
# N logs behind 127.0.0.1:PORT, written to PATH; thesis.sh and jobparse.sh
# both run this one job.
#   job.py PATH N PORT EXAMPLES CONCURRENCY FOLD GEN(0|1)
# GEN=1: the requests are made by a stage (examples/fetch-summary's
# `requests`) instead of listed in the job file.
import json, sys
path, n, port, ex = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
conc, fold, gen = int(sys.argv[5]), int(sys.argv[6]), sys.argv[7] == "1"
fns = ex + "/logstats"
req = "GET http://127.0.0.1:%s/logs/%%05d.log HTTP/1.1\r\n\r\n" % port
job = {"version": 1, "name": "thesis",
       "allow_hosts": ["127.0.0.1:%s" % port],
       "functions": {"stats": {"binary": fns + "/stats", "memory": "8MiB"},
                     "summary": {"binary": fns + "/summary", "memory": "64MiB"}},
       "inputs": {"requests": [{"name": "%05d.log" % i, "data": req % i}
                               for i in range(n)]},
       "stages": [{"name": "fetch", "io": "http", "concurrency": conc,
                   "inputs": {"r": {"from": "requests", "mode": "each"}},
                   "outputs": ["status", "body"]},
                  {"name": "parse", "function": "stats",
                   "inputs": {"logs": {"from": "fetch.body", "mode": "each"}},
                   "outputs": ["stats"]},
                  {"name": "merge", "function": "summary",
                   "inputs": {"stats": {"from": "parse.stats", "mode": "all",
                                        "fold": fold}},
                   "outputs": ["summary"]}],
       "outputs": {"summary": "merge.summary"}}
if gen:  # the requests from a stage
    job["functions"]["requests"] = {"binary": ex + "/fetch-summary/requests",
                                    "memory": "%dMiB" % (16 + n // 4000)}
    job["inputs"] = {
        "objects": [{"name": "logs", "data": "".join(
            "%05d.log\n" % i for i in range(n))}],
        "server": [{"name": "server",
                    "data": "http://127.0.0.1:%s/logs" % port}]}
    job["stages"].insert(0, {"name": "requests", "function": "requests",
                             "inputs": {"objects": {"from": "objects", "mode": "all"},
                                        "server": {"from": "server", "mode": "all"}},
                             "outputs": ["requests"]})
    job["stages"][1]["inputs"]["r"]["from"] = "requests.requests"
json.dump(job, open(path, "w"))
