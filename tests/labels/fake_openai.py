#!/usr/bin/env python3
"""An OpenAI-compatible chat-completions server for the labeller's tests, on 127.0.0.1. The
request's model name picks the behaviour:
  ok         a label {"label", "category"} or a detection answer {"activating": [1]}
  flaky      per prompt: 429 with Retry-After 0.2, then 500, then ok
  malformed  200 with a body that is not JSON
  slow       waits 3 s before answering ok
  delay      waits 0.3 s before answering ok
  drop       closes the connection without an answer
  noschema   400 naming response_format when one is sent, else ok
  freetext   the JSON answer inside prose and a ```json block
  unauthorized  401
Every request is logged as one JSON line (model, whether a schema and which Authorization came) to
LOG. Usage: fake_openai.py PORT_FILE LOG"""
import hashlib
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port_file, log_file = sys.argv[1], sys.argv[2]
attempts, lock = {}, threading.Lock()


def answer(prompt):
    if "activating" in prompt and "excerpt" in prompt:
        return json.dumps({"activating": [1]})
    return json.dumps({"label": "a marked-token detector", "category": "verification"})


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body, headers=()):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        model, prompt = req["model"], req["messages"][0]["content"]
        with lock:
            with open(log_file, "a") as f:
                f.write(json.dumps({"path": self.path, "model": model, "schema": "response_format" in req,
                                    "authorization": self.headers.get("Authorization")}) + "\n")
            key = hashlib.sha1((model + prompt).encode()).hexdigest()
            attempts[key] = attempts.get(key, 0) + 1
            n = attempts[key]
        ok = json.dumps({"choices": [{"message": {"role": "assistant", "content": answer(prompt)}}],
                         "usage": {"prompt_tokens": len(prompt) // 4, "completion_tokens": 12}})
        if model == "flaky" and n == 1:
            return self.reply(429, '{"error": "rate limited"}', [("Retry-After", "0.2")])
        if model == "flaky" and n == 2:
            return self.reply(500, '{"error": "internal"}')
        if model == "malformed":
            return self.reply(200, '{"choices": [ this is not json')
        if model in ("slow", "delay"):
            time.sleep(3 if model == "slow" else 0.3)
        if model == "drop":
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if model == "noschema" and "response_format" in req:
            return self.reply(400, '{"error": {"message": "response_format json_schema is not supported"}}')
        if model == "freetext":
            content = "Sure! Here is my answer:\n```json\n" + answer(prompt) + "\n```\nHope it helps."
            ok = json.dumps({"choices": [{"message": {"content": content}}], "usage": {"prompt_tokens": 5, "completion_tokens": 9}})
        if model == "unauthorized":
            return self.reply(401, '{"error": "invalid api key"}')
        self.reply(200, ok)


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os
os.replace(port_file + ".tmp", port_file)
server.serve_forever()
