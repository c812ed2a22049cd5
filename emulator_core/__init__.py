"""What the local AWS service emulators share: model-driven validation (botocore's own service models), the
HTTP server with its JSON admin API, the clock, the common faults (throttling, injected errors, latency, event
loss), best-effort EventBridge delivery and S3 access.

`voiceid_emulator/` and `bedrock_emulator/` build on it; each keeps its own protocol, jobs and pacing.
"""
