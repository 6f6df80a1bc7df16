"""The cloud service's reliability suite: hostile and heavy traffic against real servers.

``python -m benchmarks.reliability [--quick] [--json results/reliability.json]`` runs, each
against a fresh ``cloud-service serve`` process on loopback:

- ``kill9``: SIGKILL the server repeatedly while a client uploads with retries; every frame
  ends up stored exactly once and every row's blob is the bytes sent.
- ``edge_kill9``: SIGKILL the edge agent (``edge-agent run``) repeatedly while it streams a
  folder of frames to the server, restart it each time, then drain it with ``--once``; every
  frame of the folder stored exactly once and the spool empty.
- ``fuzz``: mutated containers (bit flips, truncations, splices, random bytes) posted to a live
  server; no answer may be a 5xx and the server must stay up.
- ``amplification``: tiny uploads declaring frames over and at the pixel budget, then concurrent
  picture requests; peak RSS of the server and how the requests were answered.
- ``slow``: connections that send nothing, half a request line, headers without the body, a
  1-byte/s trickle; how long each stayed open.
- ``load``: 32 vehicles uploading concurrently; frames/s, p50/p99 latency, errors.
"""
