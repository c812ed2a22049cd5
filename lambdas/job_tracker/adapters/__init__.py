"""Thin wrappers around AWS clients. Each takes its boto3 client in the constructor so tests and the
local cloud can inject stubbed or locally pointed clients."""
