"""What the local AWS service emulators share rather than copy. `voiceid_emulator/`, `bedrock_emulator/` and
`s3batch_emulator/` build on it; each keeps its own protocol, operations, job steps, pacing values and faults.

- `model`: validation of every request and response against botocore's own service models;
- `restxml`: the REST-XML wire form read from a model (request bodies, response documents, the wrapped error),
  for S3 Control;
- `http`: the loopback HTTP server with its JSON admin API;
- `emulator`: the emulator's lifecycle (start/stop, endpoint), its constructor options (`EmulatorOptions`),
  job stepping and waiting, the events it sent, the per-role S3 stores, and the admin operations and read-only
  routes on the shared faults (`EmulatorAdmin`);
- `jobs`: the job engine's stepping under one lock and its background worker (`SteppingEngine`);
- `service`: dispatch of a validated request to its operation's handler (`EmulatorService`);
- `clock`, `faults` (throttling, injected errors, latency, event loss), `events` (best-effort EventBridge
  delivery), `s3io` (S3 access);
- `cli`: the options every `python -m <emulator>` takes, and serving until SIGINT/SIGTERM;
- `testing`: test helpers (fake-credential clients, a moto server, one test's buckets and KMS key, the JS SDK
  runner).
"""
